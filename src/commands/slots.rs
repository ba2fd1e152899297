//! `reporter slots` and `reporter slots set HOUR --max-users N`

use anyhow::Result;
use clap::{Args, Subcommand};

use crate::context::Context;
use crate::db::{self, slots};
use crate::output::{print_json, print_table, println_out};

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  reporter slots\n  reporter slots set 10 --max-users 8")]
pub struct SlotsArgs {
    #[command(subcommand)]
    pub action: Option<SlotsAction>,
}

#[derive(Debug, Subcommand)]
pub enum SlotsAction {
    /// Set one hour's capacity (refused below its current users)
    Set {
        /// Hour of the day, 0-23
        #[arg(allow_negative_numbers = true)]
        hour: i64,
        /// Most users the hour may hold
        #[arg(long, value_name = "N", allow_negative_numbers = true)]
        max_users: i64,
    },
}

impl SlotsArgs {
    pub fn run(&self, ctx: &Context) -> Result<()> {
        let mut conn = ctx.db()?;
        if let Some(SlotsAction::Set { hour, max_users }) = &self.action {
            db::immediate(&mut conn, |tx| slots::set_max_users(tx, *hour, *max_users))?;
            let (max, current) = slots::load(&conn, *hour)?;
            if ctx.json {
                return print_json(
                    &serde_json::json!({"hour": hour, "max_users": max, "current_users": current}),
                );
            }
            return println_out(&format!(
                "slot {hour} now holds up to {max} users ({current} reserved)"
            ));
        }
        let all = slots::list(&conn, ctx.config.estimated_pending_factor)?;
        if ctx.json {
            return print_json(&all);
        }
        let rows = all
            .into_iter()
            .map(|s| {
                vec![
                    format!("{:02}:00", s.hour),
                    s.max_users.to_string(),
                    s.current_users.to_string(),
                    s.available.to_string(),
                    s.estimated_pending_orders.to_string(),
                ]
            })
            .collect();
        print_table(
            &[
                "hour",
                "max users",
                "reserved",
                "available",
                "est. pending orders",
            ],
            rows,
        )
    }
}
