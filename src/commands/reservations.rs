//! `reporter reservations [USER]`

use anyhow::Result;
use clap::Args;

use crate::context::Context;
use crate::db::{reservations, users};
use crate::output::{print_json, print_table};

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  reporter reservations\n  reporter reservations alice --json")]
pub struct ReservationsArgs {
    /// Only this user's reservation
    pub user: Option<String>,
}

impl ReservationsArgs {
    pub fn run(&self, ctx: &Context) -> Result<()> {
        let conn = ctx.db()?;
        if let Some(name) = &self.user {
            users::get(&conn, name)?;
        }
        let all = reservations::list(&conn, self.user.as_deref())?;
        if ctx.json {
            return print_json(&all);
        }
        let rows = all
            .into_iter()
            .map(|r| {
                vec![
                    r.user,
                    format!("{:02}:00", r.hour),
                    r.monthly_orders_estimate.to_string(),
                ]
            })
            .collect();
        print_table(&["user", "hour", "monthly orders"], rows)
    }
}
