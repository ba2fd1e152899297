//! `reporter manpage [--dir DIR]`: the man page, in roff, generated from the
//! clap definitions.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::Args;

use crate::error::refuse;

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  reporter manpage | man -l -\n  \
    reporter manpage --dir /usr/share/man/man1   # reporter.1 and reporter-<command>.1")]
pub struct ManpageArgs {
    /// Write reporter.1 and a page per command into DIR instead of printing reporter.1
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

impl ManpageArgs {
    /// Needs no config, database or Redis.
    pub fn run(&self, command: clap::Command) -> Result<()> {
        let Some(dir) = &self.dir else {
            let mut page = Vec::new();
            clap_mangen::Man::new(command.clone()).render(&mut page)?;
            let mut out = std::io::stdout().lock();
            out.write_all(&page)?;
            out.flush()?;
            return Ok(());
        };
        if !dir.is_dir() {
            return Err(refuse(format!(
                "man page directory `{}` does not exist; create it or pass another --dir",
                dir.display()
            )));
        }
        clap_mangen::generate_to(command, dir)
            .with_context(|| format!("cannot write man pages into `{}`", dir.display()))
    }
}
