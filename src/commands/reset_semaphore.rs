//! `reporter reset-semaphore [--yes]`: drops every browser permit holder.
//! Never needed for a dead worker (its lease expires); for operators who know
//! better than the leases.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::Result;
use clap::Args;

use crate::commands::status::print_holders;
use crate::context::Context;
use crate::coord::DamagedKey;
use crate::error::refuse;
use crate::output::{print_json, println_out};

#[derive(Debug, Args)]
#[command(after_help = "Example: reporter reset-semaphore --yes\n\n\
    A worker that dies gives its permit back within one lease (lease_ttl) on its own; \
    live workers whose permits are dropped notice at their next renewal and hand their jobs back.")]
pub struct ResetSemaphoreArgs {
    /// Do not ask for confirmation
    #[arg(long, short)]
    pub yes: bool,
}

impl ResetSemaphoreArgs {
    pub fn run(&self, ctx: &Context) -> Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let coord = ctx.coordinator().await?;
            let (holders, damaged) = match coord.holders().await {
                Ok(holders) => (holders, None),
                Err(err) => match err.downcast::<DamagedKey>() {
                    Ok(DamagedKey(what)) => (Vec::new(), Some(what)),
                    Err(err) => return Err(err),
                },
            };
            if holders.is_empty() && damaged.is_none() {
                if ctx.json {
                    return print_json(&holders);
                }
                return println_out("no browser permit is held; nothing to reset");
            }
            if !ctx.json {
                match &damaged {
                    Some(what) => println_out(&format!("the browser permit keys are damaged: {what}"))?,
                    None => {
                        println_out(&format!(
                            "{} browser permits held (limit {}):",
                            holders.len(),
                            coord.limit()
                        ))?;
                        print_holders(&holders)?;
                    }
                }
            }
            if !self.yes && !confirm()? {
                return Err(refuse("nothing reset; pass --yes to reset without asking"));
            }
            let (dropped, damaged) = coord.reset_permits().await?;
            if let Some(what) = &damaged {
                ctx.say(format!("removed the damaged permit keys: {what}"));
            }
            if ctx.json {
                return print_json(&dropped);
            }
            let grants = format!(
                "no permit is granted for one lease ({} s) while any worker still running under a dropped one stops",
                coord.lease().as_secs_f64()
            );
            match damaged {
                Some(_) => println_out(&format!("removed the damaged permit keys; {grants}")),
                None => println_out(&format!("dropped {} permit holders; {grants}", dropped.len())),
            }
        })
    }
}

/// Asks on the terminal; without one, the answer is no.
fn confirm() -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Ok(false);
    }
    eprint!("drop them all? [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}
