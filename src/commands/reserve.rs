//! `reporter reserve USER --hour H [--monthly-orders N]`

use anyhow::Result;
use clap::Args;

use crate::context::Context;
use crate::db::{self, reservations};
use crate::output::{print_json, println_out};

#[derive(Debug, Args)]
#[command(
    after_help = "Example: reporter reserve alice --hour 10 --monthly-orders 1200\n\
    A user holds one reservation: reserving another hour moves it, only if that hour has room."
)]
pub struct ReserveArgs {
    /// The user (see `reporter users list`)
    pub user: String,
    /// Hour of the day, 0-23, in the configured time zone
    #[arg(long, allow_negative_numbers = true)]
    pub hour: i64,
    /// Also update the user's monthly orders estimate
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub monthly_orders: Option<i64>,
}

impl ReserveArgs {
    pub fn run(&self, ctx: &Context) -> Result<()> {
        let mut conn = ctx.db()?;
        let done = db::immediate(&mut conn, |tx| {
            reservations::reserve(tx, &self.user, self.hour, self.monthly_orders)
        })?;
        if ctx.json {
            return print_json(&done);
        }
        let load = format!("{} of {} taken", done.current_users, done.max_users);
        let line = match done.previous_hour {
            Some(from) if done.moved => {
                format!(
                    "moved `{}` from {from:02}:00 to {:02}:00 ({load})",
                    done.user, done.hour
                )
            }
            Some(_) => format!("`{}` already holds {:02}:00 ({load})", done.user, done.hour),
            None => format!("reserved {:02}:00 for `{}` ({load})", done.hour, done.user),
        };
        println_out(&line)
    }
}
