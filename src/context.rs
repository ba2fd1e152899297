//! What a command gets: the validated config and output choices. Resources
//! (SQLite, Redis) are opened only by the commands that need them.

use anyhow::Result;
use rusqlite::Connection;

use crate::config::Config;
use crate::coord::Coordinator;
use crate::db;

pub struct Context {
    pub config: Config,
    pub json: bool,
    pub quiet: bool,
}

impl Context {
    pub fn new(config: Config, json: bool, quiet: bool) -> Self {
        Context {
            config,
            json,
            quiet,
        }
    }

    /// Opens (creating and migrating if needed) the configured database.
    pub fn db(&self) -> Result<Connection> {
        db::open(&self.config.database)
    }

    /// Connects to the configured Redis.
    pub async fn coordinator(&self) -> Result<Coordinator> {
        Coordinator::connect(&self.config).await
    }

    /// A line of progress for people, on stderr; silent with `-q`.
    pub fn say(&self, line: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{}", line.as_ref());
        }
    }
}
