//! `reporter completions SHELL`: the shell's completion script, generated from
//! the clap definitions so it never falls behind the commands.

use std::io::Write;

use anyhow::Result;
use clap::Args;
use clap_complete::Shell;

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    reporter completions bash > /usr/share/bash-completion/completions/reporter\n  \
    reporter completions zsh > /usr/share/zsh/vendor-completions/_reporter\n  \
    reporter completions fish > /usr/share/fish/vendor_completions.d/reporter.fish")]
pub struct CompletionsArgs {
    /// The shell to complete in
    #[arg(value_enum)]
    pub shell: Shell,
}

impl CompletionsArgs {
    /// Needs no config, database or Redis.
    pub fn run(&self, mut command: clap::Command) -> Result<()> {
        let mut script = Vec::new();
        clap_complete::generate(self.shell, &mut command, "reporter", &mut script);
        let mut out = std::io::stdout().lock();
        out.write_all(&script)?;
        out.flush()?;
        Ok(())
    }
}
