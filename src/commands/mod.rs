//! One file per subcommand, each with its clap `Args` and a `run`.

pub mod cancel;
pub mod reservations;
pub mod reserve;
pub mod slots;
pub mod users;
