//! Outcomes the code branches on. Everything else is an `anyhow::Error`.

use std::fmt;

/// A request refused because of what was asked (bad argument, unknown user,
/// full slot, broken config). Exits with status 2; the database is unchanged.
#[derive(Debug)]
pub struct Refusal(pub String);

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refusal {}

/// Builds a refusal as an `anyhow::Error`.
pub fn refuse(message: impl Into<String>) -> anyhow::Error {
    Refusal(message.into()).into()
}

/// Whether an error, or any error in its chain, is a refusal.
pub fn is_refusal(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| cause.is::<Refusal>())
}

/// Whether the error is a closed stdout (`reporter progress | head`), which is
/// not a failure.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// A worker stopped because the database file is malformed. Exits with
/// status 3, which the worker unit does not restart: a restart would find
/// the same damage.
#[derive(Debug)]
pub struct Malformed(pub String);

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Malformed {}

/// The exit status of a worker that stopped on a malformed database.
pub const MALFORMED_EXIT: u8 = 3;

/// Whether an error, or any error in its chain, is a malformed database.
pub fn is_malformed(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| cause.is::<Malformed>())
}
