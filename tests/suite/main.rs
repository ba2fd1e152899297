//! Integration tests: the real `reporter` binary against a temporary database
//! file and, where needed, a real `redis-server`.

mod support;

mod browser;
mod cli_errors;
mod config_loading;
mod contrib;
mod disk;
mod disk_full;
mod doctor;
mod faults;
mod install;
mod journal;
mod metrics;
mod migrations;
mod monitoring;
mod package;
mod portal_import;
mod reservations;
mod run_slot;
mod serve;
mod serve_input;
mod serve_lifecycle;
mod systemd_container;
mod systemd_notify;
mod systemd_units;
mod tokens;
mod users_and_slots;
mod workers;
