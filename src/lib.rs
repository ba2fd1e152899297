//! reporter: browser automation for many customers on an hourly reservation
//! schedule. The binary is a thin shell around [`app::main`].

pub mod api;
pub mod app;
pub mod backoff;
pub mod cli;
pub mod commands;
pub mod config;
pub mod context;
pub mod coord;
pub mod db;
pub mod error;
pub mod flow;
pub mod http_client;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod orders;
pub mod output;
pub mod portal;
pub mod queue;
pub mod run_state;
pub mod schedule;
pub mod text;
pub mod time;
pub mod worker;
