//! `reporter`: parse the arguments, run the command, print an error once.

use std::process::ExitCode;

fn main() -> ExitCode {
    reporter::app::main()
}
