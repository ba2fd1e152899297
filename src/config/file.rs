//! The settings as each source gives them: the TOML file, the environment,
//! the command-line flags. Nothing is checked here but that a number is a
//! number; `Config::apply` checks every key of every source the same way,
//! in order of precedence.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Deserialize;

use super::Overrides;
use super::browser::FileBrowser;
use super::flow::FileStep;
use super::values::{Origin, env_number, env_var, line_column};
use super::web::{FileExport, PortalPaths, PortalSelectors};
use crate::error::refuse;

/// The settings one source gives, before any is checked (`Config::apply`
/// checks each key, naming where it was set). The file deserializes into
/// it, refusing unknown keys; the environment and the flags fill it by hand.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Given {
    pub(super) database: Option<PathBuf>,
    pub(super) redis_url: Option<String>,
    pub(super) key_prefix: Option<String>,
    pub(super) time_zone: Option<String>,
    pub(super) max_active_browsers: Option<i64>,
    pub(super) estimated_pending_factor: Option<f64>,
    pub(super) range_size: Option<i64>,
    pub(super) semaphore_ttl: Option<f64>,
    pub(super) lease_ttl: Option<f64>,
    pub(super) range_lock_ttl: Option<f64>,
    pub(super) retry: Option<FileRetry>,
    pub(super) portal: Option<FilePortal>,
    pub(super) browser: Option<FileBrowser>,
    pub(super) serve: Option<FileServe>,
    /// The file it was read from, if any.
    #[serde(skip)]
    pub(super) path: Option<PathBuf>,
    /// The keys set by the environment or a flag, and by which.
    #[serde(skip)]
    pub(super) set_by: BTreeMap<&'static str, Origin<'static>>,
}

/// `[serve]`: the HTTP API.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileServe {
    pub(super) listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileRetry {
    pub(super) download_retries: Option<i64>,
    pub(super) download_delay: Option<f64>,
    pub(super) report_retries: Option<i64>,
    pub(super) report_delay: Option<f64>,
    pub(super) jitter: Option<f64>,
    pub(super) order_attempts: Option<i64>,
    pub(super) order_backoff: Option<f64>,
    pub(super) max_lease_expiries: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FilePortal {
    pub(super) kind: Option<String>,
    pub(super) download_ms: Option<i64>,
    pub(super) report_ms: Option<i64>,
    pub(super) failure_rate: Option<f64>,
    pub(super) report_log: Option<PathBuf>,
    pub(super) pending_orders: Option<i64>,
    pub(super) base_url: Option<String>,
    pub(super) credentials_dir: Option<PathBuf>,
    pub(super) report_statuses: Option<Vec<String>>,
    pub(super) report_reason: Option<String>,
    pub(super) report_comment: Option<String>,
    pub(super) page_timeout: Option<f64>,
    pub(super) verify_after_submit: Option<bool>,
    pub(super) artifacts_dir: Option<PathBuf>,
    pub(super) paths: Option<PortalPaths>,
    pub(super) selectors: Option<PortalSelectors>,
    pub(super) login: Option<Vec<FileStep>>,
    pub(super) export: Option<FileExport>,
    pub(super) report: Option<Vec<FileStep>>,
}

impl Given {
    /// Parses one TOML text; `path` is where it came from, for messages.
    pub(super) fn parse(text: &str, path: &Path) -> Result<Given> {
        let mut given: Given = toml::from_str(text).map_err(|err| {
            let place = err
                .span()
                .map(|span| {
                    let (line, column) = line_column(text, span.start);
                    format!(" at line {line}, column {column}")
                })
                .unwrap_or_default();
            refuse(format!(
                "config file `{}`{place}: {}; see examples/reporter.toml for every key",
                path.display(),
                err.message().trim()
            ))
        })?;
        given.path = Some(path.to_path_buf());
        Ok(given)
    }

    /// Where `key` was set: the environment or a flag if they set it, else
    /// the file.
    pub(super) fn origin(&self, key: &str) -> Origin<'_> {
        match self.set_by.get(key) {
            Some(origin) => *origin,
            None => Origin::File(self.path.as_deref().unwrap_or(Path::new("(no file)"))),
        }
    }

    /// The settings the environment gives. An empty variable counts as unset.
    pub(super) fn from_env() -> Result<Given> {
        let mut given = Given::default();
        given.read_env()?;
        Ok(given)
    }

    /// The settings the flags give.
    pub(super) fn from_flags(flags: &Overrides) -> Given {
        let mut given = Given::default();
        given.read_flags(flags);
        given
    }

    fn read_env(&mut self) -> Result<()> {
        let mut set: Vec<(&'static str, &'static str)> = Vec::new();
        if let Some(v) = env_var("REPORTER_DB") {
            self.database = Some(PathBuf::from(v));
            set.push(("database", "REPORTER_DB"));
        }
        if let Some(v) = env_var("REPORTER_REDIS_URL") {
            self.redis_url = Some(v);
            set.push(("redis_url", "REPORTER_REDIS_URL"));
        }
        if let Some(v) = env_var("REPORTER_KEY_PREFIX") {
            self.key_prefix = Some(v);
            set.push(("key_prefix", "REPORTER_KEY_PREFIX"));
        }
        if let Some(v) = env_var("REPORTER_TIME_ZONE") {
            self.time_zone = Some(v);
            set.push(("time_zone", "REPORTER_TIME_ZONE"));
        }
        // The original's name first; the reporter name wins when both are set.
        for name in ["MAX_ACTIVE_SELENIUM", "REPORTER_MAX_ACTIVE_BROWSERS"] {
            if let Some(v) = env_number(name)? {
                self.max_active_browsers = Some(v);
                set.push(("max_active_browsers", name));
            }
        }
        let name = "REPORTER_ESTIMATED_PENDING_FACTOR";
        if let Some(v) = env_number(name)? {
            self.estimated_pending_factor = Some(v);
            set.push(("estimated_pending_factor", name));
        }
        let name = "REPORTER_RANGE_SIZE";
        if let Some(v) = env_number(name)? {
            self.range_size = Some(v);
            set.push(("range_size", name));
        }
        let name = "REPORTER_SELENIUM_SEMAPHORE_TTL";
        if let Some(v) = env_number(name)? {
            self.semaphore_ttl = Some(v);
            set.push(("semaphore_ttl", name));
        }
        let name = "REPORTER_LEASE_TTL";
        if let Some(v) = env_number(name)? {
            self.lease_ttl = Some(v);
            set.push(("lease_ttl", name));
        }
        let name = "REPORTER_RANGE_LOCK_TTL";
        if let Some(v) = env_number(name)? {
            self.range_lock_ttl = Some(v);
            set.push(("range_lock_ttl", name));
        }
        if let Some(v) = env_var("REPORTER_WEBDRIVER_URL") {
            self.browser.get_or_insert_default().webdriver_url = Some(v);
            set.push(("browser.webdriver_url", "REPORTER_WEBDRIVER_URL"));
        }
        for (key, name) in set {
            self.set_by.insert(key, Origin::Env(name));
        }
        Ok(())
    }

    fn read_flags(&mut self, flags: &Overrides) {
        if let Some(db) = &flags.db {
            self.database = Some(db.clone());
            self.set_by.insert("database", Origin::Flag("--db"));
        }
        if let Some(url) = &flags.redis {
            self.redis_url = Some(url.clone());
            self.set_by.insert("redis_url", Origin::Flag("--redis"));
        }
    }
}

impl FilePortal {
    /// The keys of `kind = "web"` that are set.
    pub(super) fn web_keys(&self) -> Vec<&'static str> {
        [
            ("base_url", self.base_url.is_some()),
            ("credentials_dir", self.credentials_dir.is_some()),
            ("report_statuses", self.report_statuses.is_some()),
            ("report_reason", self.report_reason.is_some()),
            ("report_comment", self.report_comment.is_some()),
            ("page_timeout", self.page_timeout.is_some()),
            ("verify_after_submit", self.verify_after_submit.is_some()),
            ("artifacts_dir", self.artifacts_dir.is_some()),
            ("paths", self.paths.is_some()),
            ("selectors", self.selectors.is_some()),
            ("login", self.login.is_some()),
            ("export", self.export.is_some()),
            ("report", self.report.is_some()),
        ]
        .into_iter()
        .filter_map(|(key, set)| set.then_some(key))
        .collect()
    }

    /// The keys of `kind = "simulated"` that are set.
    pub(super) fn simulated_keys(&self) -> Vec<&'static str> {
        [
            ("download_ms", self.download_ms.is_some()),
            ("report_ms", self.report_ms.is_some()),
            ("failure_rate", self.failure_rate.is_some()),
            ("report_log", self.report_log.is_some()),
            ("pending_orders", self.pending_orders.is_some()),
        ]
        .into_iter()
        .filter_map(|(key, set)| set.then_some(key))
        .collect()
    }
}
