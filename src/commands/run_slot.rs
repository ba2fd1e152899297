//! `reporter run-slot [--hour H] [--date YYYY-MM-DD]`

use anyhow::Result;
use chrono::{DateTime, Utc};
use clap::Args;

use crate::context::Context;
use crate::db::{self, runs};
use crate::output::{print_json, println_out};
use crate::schedule::{SlotTime, parse_date};

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  reporter run-slot                    # this hour, as the systemd timer does\n  \
    reporter run-slot --hour 10          # 10:00 today\n  reporter run-slot --hour 10 --date 2026-11-27\n\n\
    A second call for the same hour creates nothing and prints the existing run (\"created\": false)."
)]
pub struct RunSlotArgs {
    /// Hour of the day, 0-23 [default: the current hour, rounded down, in the configured time zone]
    #[arg(long, allow_negative_numbers = true)]
    pub hour: Option<i64>,
    /// Day of the run, YYYY-MM-DD [default: today in the configured time zone]
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub date: Option<String>,
    /// Accept a --date more than a day away from today (a replay or a backfill)
    #[arg(long)]
    pub force: bool,
    /// Act as if it were this instant (RFC 3339); for tests and replays
    #[arg(long, hide = true)]
    pub now: Option<String>,
}

impl RunSlotArgs {
    pub fn run(&self, ctx: &Context) -> Result<()> {
        let tz = ctx.config.time_zone;
        let now = match &self.now {
            Some(text) => DateTime::parse_from_rfc3339(text)
                .map_err(|_| {
                    crate::error::refuse(format!("--now `{text}` is not an RFC 3339 instant"))
                })?
                .with_timezone(&Utc),
            None => Utc::now(),
        };
        let current = SlotTime::containing(tz, now);
        let date = match self.date.as_deref() {
            Some(text) => {
                let date = parse_date(text)?;
                let away = (date - current.date).num_days().abs();
                if away > 1 && !self.force {
                    return Err(crate::error::refuse(format!(
                        "date {date} is {away} days away from today ({}); pass --force to create a run that far from today",
                        current.date
                    )));
                }
                date
            }
            None => current.date,
        };
        let (slot, skipped) = match self.hour {
            None if self.date.is_none() => {
                let skipped = current.skipped_before();
                (current, skipped)
            }
            hour => (
                SlotTime::at(tz, date, hour.unwrap_or(current.hour))?,
                Vec::new(),
            ),
        };
        let retries = ctx.config.retry.download_retries;
        let mut conn = ctx.db()?;
        let (run, extra) = db::immediate(&mut conn, |tx| {
            let extra = skipped
                .iter()
                .map(|s| runs::create(tx, s, retries))
                .collect::<Result<Vec<_>>>()?;
            Ok((runs::create(tx, &slot, retries)?, extra))
        })?;
        for run in &extra {
            ctx.say(format!(
                "hour {} did not exist today (daylight saving): its run {} starts now with {} users",
                run.hour, run.run_id, run.users
            ));
        }
        if ctx.json {
            return print_json(&run);
        }
        if run.created {
            println_out(&format!(
                "created run {} for {} with {} users; start workers with `reporter work` and watch with `reporter progress {} --watch`",
                run.run_id, run.scheduled_for, run.users, run.run_id
            ))
        } else {
            println_out(&format!(
                "run {} for {} already exists ({} users); nothing created",
                run.run_id, run.scheduled_for, run.users
            ))
        }
    }
}
