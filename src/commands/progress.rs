//! `reporter progress [RUN_ID] [--user USER] [--watch]`

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use rusqlite::Connection;

use crate::context::Context;
use crate::db::runs::{self, RunProgress, UserProgress};
use crate::error::refuse;
use crate::output::{cell, print_json, print_table, println_out};

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  reporter progress                 # recent runs\n  \
    reporter progress 7               # run 7, one row per user\n  reporter progress 7 --user alice\n  \
    reporter progress 7 --watch       # live bars until the run ends (plain lines when not a terminal)"
)]
pub struct ProgressArgs {
    /// The run to show [default: list recent runs]
    pub run_id: Option<i64>,
    /// Only this user
    #[arg(long)]
    pub user: Option<String>,
    /// Follow the run until it ends
    #[arg(long)]
    pub watch: bool,
    /// Recent runs listed without RUN_ID
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub limit: i64,
}

impl ProgressArgs {
    pub fn run(&self, ctx: &Context) -> Result<()> {
        let conn = ctx.db()?;
        let Some(run_id) = self.run_id else {
            if self.watch || self.user.is_some() {
                return Err(refuse(
                    "--watch and --user need a RUN_ID; list runs with `reporter progress`",
                ));
            }
            let recent = runs::recent(&conn, self.limit)?;
            if ctx.json {
                return print_json(&recent);
            }
            let rows = recent
                .into_iter()
                .map(|r| {
                    vec![
                        r.run_id.to_string(),
                        format!("{:02}:00", r.hour),
                        r.scheduled_for,
                        r.status,
                        r.users.to_string(),
                    ]
                })
                .collect();
            return print_table(&["run", "hour", "scheduled for", "status", "users"], rows);
        };
        if let Some(user) = &self.user {
            crate::db::users::get(&conn, user)?;
        }
        if self.watch {
            return self.watch(ctx, &conn, run_id);
        }
        let progress = self.load(&conn, run_id)?;
        if ctx.json {
            return print_json(&progress);
        }
        print_run(&progress)
    }

    fn load(&self, conn: &Connection, run_id: i64) -> Result<RunProgress> {
        runs::run_progress(conn, run_id, self.user.as_deref())?.ok_or_else(|| {
            refuse(format!(
                "run {run_id} does not exist; list runs with `reporter progress`"
            ))
        })
    }

    fn watch(&self, ctx: &Context, conn: &Connection, run_id: i64) -> Result<()> {
        let terminal = std::io::stdout().is_terminal() && !ctx.json;
        let bars = MultiProgress::new();
        let style =
            ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} orders {msg}")
                .expect("valid template")
                .progress_chars("=> ");
        // A user whose download+compare has not run has no count yet: an
        // empty frame, not a full bar at 0/0.
        let waiting = ProgressStyle::with_template(&format!(
            "{{prefix:>12}} [{}] waiting for the download+compare {{msg}}",
            " ".repeat(30)
        ))
        .expect("valid template");
        let mut user_bars: Vec<ProgressBar> = Vec::new();
        let overall = bars.add(
            ProgressBar::new(0)
                .with_style(style.clone())
                .with_prefix("all users"),
        );
        loop {
            let progress = self.load(conn, run_id)?;
            let ended = matches!(progress.status.as_str(), "done" | "failed");
            if terminal {
                while user_bars.len() < progress.users.len() {
                    let bar =
                        bars.insert_before(&overall, ProgressBar::new(0).with_style(style.clone()));
                    user_bars.push(bar);
                }
                let (mut done, mut total) = (0, 0);
                for (bar, user) in user_bars.iter().zip(&progress.users) {
                    let finished = (user.orders_reported + user.orders_failed) as u64;
                    let pending = user.pending_orders.unwrap_or(0) as u64;
                    bar.set_prefix(user.user.clone());
                    bar.set_style(match user.pending_orders {
                        None => waiting.clone(),
                        Some(_) => style.clone(),
                    });
                    bar.set_length(pending);
                    bar.set_position(finished);
                    bar.set_message(user_message(user));
                    done += finished;
                    total += pending;
                }
                let known = progress.users.iter().any(|u| u.pending_orders.is_some());
                overall.set_style(match known || progress.users.is_empty() {
                    false => waiting.clone(),
                    true => style.clone(),
                });
                overall.set_length(total);
                overall.set_position(done);
                overall.set_message(progress.status.clone());
            } else if ctx.json {
                println_out(&serde_json::to_string(&progress)?)?;
            } else {
                println_out(&plain_line(&progress))?;
            }
            if ended {
                for bar in &user_bars {
                    bar.finish();
                }
                overall.finish();
                if terminal {
                    return print_run(&progress);
                }
                return Ok(());
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

fn user_message(user: &UserProgress) -> String {
    let mut parts = vec![user.status.clone()];
    if user.ranges_total > 0 {
        parts.push(format!(
            "ranges {}/{}",
            user.ranges_completed, user.ranges_total
        ));
    }
    if user.orders_failed > 0 {
        parts.push(format!("{} failed", user.orders_failed));
    }
    if let Some(eta) = user.eta_seconds.filter(|&s| s > 0) {
        parts.push(format!("eta {eta} s"));
    }
    parts.join(", ")
}

fn plain_line(progress: &RunProgress) -> String {
    let reported: i64 = progress.users.iter().map(|u| u.orders_reported).sum();
    let failed: i64 = progress.users.iter().map(|u| u.orders_failed).sum();
    let pending: i64 = progress.users.iter().filter_map(|u| u.pending_orders).sum();
    let done = progress
        .users
        .iter()
        .filter(|u| matches!(u.status.as_str(), "done" | "failed"))
        .count();
    format!(
        "run {} {}: {}/{} users finished, {reported}/{pending} orders reported, {failed} failed",
        progress.run_id,
        progress.status,
        done,
        progress.users.len()
    )
}

fn print_run(progress: &RunProgress) -> Result<()> {
    println_out(&format!(
        "run {} for {} ({:02}:00): {}",
        progress.run_id, progress.scheduled_for, progress.hour, progress.status
    ))?;
    let rows = progress
        .users
        .iter()
        .map(|u| {
            vec![
                u.user.clone(),
                u.status.clone(),
                cell(u.pending_orders),
                format!("{}/{}", u.ranges_completed, u.ranges_total),
                u.orders_reported.to_string(),
                u.orders_found_reported.to_string(),
                u.orders_failed.to_string(),
                cell(u.eta_seconds.filter(|&s| s > 0).map(|s| format!("{s} s"))),
                cell(u.error.clone()),
            ]
        })
        .collect();
    print_table(
        &[
            "user",
            "status",
            "pending",
            "ranges",
            "reported",
            "of them found",
            "failed",
            "eta",
            "last error",
        ],
        rows,
    )
}
