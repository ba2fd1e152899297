//! One file per subcommand, each with its clap `Args` and a `run`.

pub mod cancel;
pub mod completions;
pub mod doctor;
pub mod manpage;
pub mod metrics;
pub mod portal;
pub mod portal_import;
pub mod progress;
pub mod reservations;
pub mod reserve;
pub mod reset_semaphore;
pub mod run_slot;
pub mod serve;
pub mod slots;
pub mod status;
pub mod tokens;
pub mod users;
pub mod work;
