//! The whole command surface, as clap sees it. Nothing here is validated
//! beyond its type: `config` and the commands turn it into checked values.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::commands;

#[derive(Debug, Parser)]
#[command(
    name = "reporter",
    version,
    about = "Reports customers' orders on an hourly reservation schedule",
    long_about = "Reports customers' orders on an hourly reservation schedule.\n\n\
        Each hour of the day is a slot with a capacity; users reserve one slot. \
        `reporter run-slot` (run hourly by a systemd timer) queues a download+compare \
        job per reserved user; `reporter work` processes drain the jobs, never opening \
        more than `max_active_browsers` browsers across every worker that shares a Redis.",
    after_help = "Exit status: 0 success, 2 request refused (nothing changed), 1 other failure.\n\
        Start with: reporter users add alice --monthly-orders 1200 && reporter reserve alice --hour 10"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    // The environment variables of these three are read with the others in
    // `config`, where an empty one counts as unset and errors can name it.
    /// TOML config file [env: REPORTER_CONFIG] [default: /etc/reporter/reporter.toml if present, else built-in defaults]
    #[arg(short, long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// SQLite database file, created and migrated on first use [env: REPORTER_DB]
    #[arg(long, global = true, value_name = "FILE")]
    pub db: Option<PathBuf>,

    /// Redis URL: redis:// or rediss://, with optional user and password, or a socket's redis+unix:///PATH [env: REPORTER_REDIS_URL]
    #[arg(long, global = true, value_name = "URL")]
    pub redis: Option<String>,

    /// Print the command's data as JSON on stdout instead of a table
    #[arg(long, global = true)]
    pub json: bool,

    /// More logging on stderr (repeat for more)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Less logging on stderr
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

impl GlobalArgs {
    /// The flags that override the config's settings.
    pub fn overrides(&self) -> crate::config::Overrides {
        crate::config::Overrides {
            config: self.config.clone(),
            db: self.db.clone(),
            redis: self.redis.clone(),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Add, list or remove users
    #[command(subcommand)]
    Users(commands::users::UsersCommand),
    /// Show the 24 hour slots and their load, or set one slot's capacity
    Slots(commands::slots::SlotsArgs),
    /// Reserve an hour for a user (moves an existing reservation if the hour has room)
    Reserve(commands::reserve::ReserveArgs),
    /// List reservations, of everyone or of one user
    Reservations(commands::reservations::ReservationsArgs),
    /// Cancel a user's reservation
    Cancel(commands::cancel::CancelArgs),
    /// Create the run of an hour and queue a download+compare job per reserved user
    RunSlot(commands::run_slot::RunSlotArgs),
    /// Drain jobs: take a browser permit, claim a job, run it, release
    Work(commands::work::WorkArgs),
    /// Show recent runs, or one run per user
    Progress(commands::progress::ProgressArgs),
    /// Show browser permits and their holders, the queue and live workers
    Status(commands::status::StatusArgs),
    /// Drop every browser permit holder (after showing them)
    ResetSemaphore(commands::reset_semaphore::ResetSemaphoreArgs),
    /// Print permits, jobs, runs and worker heartbeats in the Prometheus text format
    Metrics(commands::metrics::MetricsArgs),
    /// Serve the HTTP API: slots, reservations and runs per user, with bearer tokens
    Serve(commands::serve::ServeArgs),
    /// Make, list or revoke the HTTP API's bearer tokens
    #[command(subcommand)]
    Tokens(commands::tokens::TokensCommand),
    /// Check the config, database, Redis and browser setup, one line per check
    Doctor(commands::doctor::DoctorArgs),
    /// Try the portal's flows safely: log in, read the export, fill one form, never submit
    #[command(subcommand)]
    Portal(commands::portal::PortalCommand),
    /// Print the completion script of a shell (bash, zsh, fish, ...)
    #[command(hide = true)]
    Completions(commands::completions::CompletionsArgs),
    /// Print the man page (roff), or write every page into a directory
    #[command(hide = true)]
    Manpage(commands::manpage::ManpageArgs),
}
