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
