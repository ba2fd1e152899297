//! reporter: browser automation for many customers on an hourly reservation
//! schedule. `app` parses the command line and runs a command (`commands/`);
//! the work itself is `worker` (permit, claim, run a job) over `queue` and
//! `run_state` (SQLite, `db`), `coord` (Redis) and `portal` (the browser).

pub mod app;

mod api;
mod backoff;
mod cli;
mod commands;
mod config;
mod context;
mod coord;
mod db;
mod error;
mod flow;
mod http_client;
mod logging;
mod metrics;
mod notify;
mod orders;
mod output;
mod portal;
mod queue;
mod run_state;
mod schedule;
mod text;
mod time;
mod worker;
