//! `reporter metrics [--textfile DIR]`: the metrics page (`crate::metrics`)
//! on stdout, or as a file for the node exporter's textfile collector.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use clap::Args;

use crate::config::Config;
use crate::context::Context;
use crate::error::refuse;
use crate::metrics::{RedisState, redis_state, render};
use crate::output::println_out;
/// The file written in `--textfile DIR`.
const TEXTFILE: &str = "reporter.prom";

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  reporter metrics\n  \
    reporter metrics --textfile /var/lib/prometheus/node-exporter   # writes reporter.prom atomically\n  \
    reporter metrics --textfile /var/lib/prometheus/node-exporter --optional   # nothing where no node exporter is installed")]
pub struct MetricsArgs {
    /// Write DIR/reporter.prom (atomically, mode 0644) instead of printing
    #[arg(long, value_name = "DIR")]
    pub textfile: Option<PathBuf>,
    /// With --textfile: a DIR that does not exist (no node exporter on this
    /// host) is no error; nothing is written and the exit status is 0
    #[arg(long, requires = "textfile")]
    pub optional: bool,
}

impl MetricsArgs {
    pub fn run(&self, ctx: &Context) -> Result<()> {
        if ctx.json {
            return Err(refuse(
                "`metrics` prints the Prometheus text format only; drop --json, or use `reporter status --json` for JSON",
            ));
        }
        if let Some(dir) = &self.textfile
            && !dir.is_dir()
        {
            if self.optional {
                tracing::debug!(dir = %dir.display(), "no metrics directory (optional); nothing written");
                return Ok(());
            }
            return Err(refuse(format!(
                "metrics directory `{}` does not exist; create it or point --textfile at the node exporter's textfile directory",
                dir.display()
            )));
        }
        let conn = ctx.db()?;
        let redis = blocking_redis_state(&ctx.config);
        let page = render(&ctx.config, &conn, redis.as_ref())?;
        match &self.textfile {
            Some(dir) => write_atomically(&dir.join(TEXTFILE), &page),
            None => println_out(page.trim_end()),
        }
    }
}

/// [`redis_state`] from a command without a runtime of its own.
fn blocking_redis_state(config: &Config) -> Option<RedisState> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    runtime.block_on(redis_state(config))
}

/// Replaces `path` with `text` so a reader sees the old file or the new one,
/// never half of one: a temporary file in the same directory, synced, made
/// world-readable (the service's umask is 0077), renamed over the target.
fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let temp = dir.join(format!(".{TEXTFILE}.{}.tmp", std::process::id()));
    let written = (|| -> std::io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)?;
        file.write_all(text.as_bytes())?;
        file.set_permissions(fs::Permissions::from_mode(0o644))?;
        file.sync_all()?;
        fs::rename(&temp, path)?;
        File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written.with_context(|| {
        format!(
            "cannot write metrics to `{}`; check that the reporter user may write in `{}`",
            path.display(),
            dir.display()
        )
    })
}
