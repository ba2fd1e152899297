//! `reporter cancel USER`

use anyhow::Result;
use clap::Args;

use crate::context::Context;
use crate::db::{self, reservations};
use crate::output::{print_json, println_out};

#[derive(Debug, Args)]
#[command(after_help = "Example: reporter cancel alice")]
pub struct CancelArgs {
    /// The user whose reservation is cancelled
    pub user: String,
}

impl CancelArgs {
    pub fn run(&self, ctx: &Context) -> Result<()> {
        let mut conn = ctx.db()?;
        let hour = db::immediate(&mut conn, |tx| reservations::cancel(tx, &self.user))?;
        if ctx.json {
            return print_json(
                &serde_json::json!({"user": self.user, "hour": hour, "cancelled": true}),
            );
        }
        println_out(&format!(
            "cancelled `{}`'s reservation of {hour:02}:00",
            self.user
        ))
    }
}
