//! Settings: built-in defaults, then the TOML file, then the environment, then
//! flags. Every value is checked as it is applied, so an error names the key and
//! where it came from.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use chrono_tz::Tz;

use crate::error::refuse;

mod browser;
mod file;
pub mod flow;
mod values;
mod web;

pub use browser::BrowserConfig;
pub use values::check_listen;
pub use web::{ExportFormat, ExportKind, WebPortal};

use file::{FilePortal, FileRetry, Given};
use values::{
    Origin, bad, check, check_factor, check_key_prefix, check_redis_url, check_time_zone, env_var,
    seconds, share, whole,
};

pub const DEFAULT_CONFIG_PATH: &str = "/etc/reporter/reporter.toml";
const DEFAULT_DATABASE: &str = "/var/lib/reporter/reporter.db";

/// What the command line sets above the environment and the file: the
/// global flags, filled in by the CLI.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--config FILE`
    pub config: Option<PathBuf>,
    /// `--db FILE`
    pub db: Option<PathBuf>,
    /// `--redis URL`
    pub redis: Option<String>,
}

/// The validated settings every command sees.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file the settings were read from, if any.
    pub source: Option<PathBuf>,
    pub database: PathBuf,
    pub redis_url: String,
    pub key_prefix: String,
    pub time_zone: Tz,
    pub max_active_browsers: u32,
    pub estimated_pending_factor: f64,
    pub range_size: u32,
    pub semaphore_ttl: Duration,
    pub lease_ttl: Duration,
    pub range_lock_ttl: Duration,
    pub retry: RetryPolicy,
    pub portal: PortalConfig,
    pub browser: BrowserConfig,
    /// Where the settings checked against each other were set, for
    /// messages; one not listed has its default.
    set_by: std::collections::BTreeMap<&'static str, String>,
    /// Where `reporter serve` listens when systemd hands it no socket.
    pub serve_listen: SocketAddr,
}

/// How often and how late failed jobs are tried again.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub download_retries: u32,
    pub download_delay: Duration,
    pub report_retries: u32,
    pub report_delay: Duration,
    /// Share of the delay added or taken at random, 0 to 1.
    pub jitter: f64,
    /// Tries of one order's report (a page that answers 500, a timeout, an
    /// expired session) before that order alone is recorded failed.
    pub order_attempts: u32,
    /// Wait before an order's next try; doubled at each try.
    pub order_backoff: Duration,
    /// Times a job's lease may expire under its worker (the worker died,
    /// wedged or starved) before the job ends failed.
    pub max_lease_expiries: u32,
}

impl RetryPolicy {
    /// The waits between the tries of one order (or one export): from
    /// `order_backoff`, doubling at each try, never more than an hour.
    pub fn order_backoff(&self) -> crate::backoff::Backoff {
        crate::backoff::Backoff::new(self.order_backoff, Duration::from_secs(3600))
    }
}

/// The portal the jobs talk to.
#[derive(Debug, Clone, PartialEq)]
pub enum PortalConfig {
    Simulated(SimulatedPortal),
    Web(Box<WebPortal>),
}

/// `[portal] kind = "simulated"`: no browser, deterministic orders, timed steps.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatedPortal {
    pub download: Duration,
    pub report: Duration,
    pub failure_rate: f64,
    pub report_log: Option<PathBuf>,
    /// Pending orders per user and run; without it, estimate × factor rounded up.
    pub pending_orders: Option<u32>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            source: None,
            database: default_database(),
            redis_url: "redis://127.0.0.1:6379/".into(),
            key_prefix: "reporter".into(),
            time_zone: host_time_zone(),
            max_active_browsers: 6,
            estimated_pending_factor: 0.08,
            range_size: 100,
            semaphore_ttl: Duration::from_secs(3300),
            lease_ttl: Duration::from_secs(30),
            range_lock_ttl: Duration::from_secs(3000),
            retry: RetryPolicy {
                download_retries: 5,
                download_delay: Duration::from_secs(120),
                report_retries: 2,
                report_delay: Duration::from_secs(60),
                jitter: 0.1,
                order_attempts: 3,
                order_backoff: Duration::from_secs(1),
                max_lease_expiries: 3,
            },
            portal: PortalConfig::Simulated(SimulatedPortal {
                download: Duration::from_millis(2000),
                report: Duration::from_millis(20),
                failure_rate: 0.0,
                report_log: None,
                pending_orders: None,
            }),
            browser: BrowserConfig::default(),
            set_by: Default::default(),
            serve_listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
        }
    }
}

impl Config {
    /// Loads defaults, the config file, the environment and the flags, in that
    /// order, each checked by `apply` as it is taken.
    pub fn load(flags: &Overrides) -> Result<Config> {
        let mut config = Config::default();
        let (path, given) = match (&flags.config, env_var("REPORTER_CONFIG")) {
            (Some(path), _) => (Some(path.clone()), "--config"),
            (None, Some(path)) => (Some(PathBuf::from(path)), "REPORTER_CONFIG"),
            (None, None) => (
                Some(PathBuf::from(DEFAULT_CONFIG_PATH)).filter(|p| p.exists()),
                "--config or REPORTER_CONFIG",
            ),
        };
        if let Some(path) = &path {
            not_a_special_file(path, given)?;
            let text = std::fs::read_to_string(path).map_err(|err| {
                refuse(format!(
                    "cannot read config file `{}`: {err}; check the path given to {given}",
                    path.display()
                ))
            })?;
            config.apply(Given::parse(&text, path)?)?;
        }
        config.apply(Given::from_env()?)?;
        config.apply(Given::from_flags(flags))?;
        config.source = path;
        config.check_consistency()?;
        Ok(config)
    }

    /// Parses and applies one TOML text; `path` is only for messages.
    pub fn apply_file(&mut self, text: &str, path: &Path) -> Result<()> {
        self.apply(Given::parse(text, path)?)
    }

    /// Checks each setting a source gives and takes it: the one place where
    /// a key's bounds are written, whichever source gives it.
    fn apply(&mut self, mut given: Given) -> Result<()> {
        let (retry, browser, portal) = (
            given.retry.take(),
            given.browser.take(),
            given.portal.take(),
        );
        let at = |key| given.origin(key);
        if let Some(v) = &given.database {
            self.database = v.clone();
        }
        if let Some(v) = &given.redis_url {
            self.redis_url = check(at("redis_url"), "redis_url", v, check_redis_url(v))?;
        }
        if let Some(v) = &given.key_prefix {
            self.key_prefix = check(at("key_prefix"), "key_prefix", v, check_key_prefix(v))?;
        }
        if let Some(v) = &given.time_zone {
            self.time_zone = check(at("time_zone"), "time_zone", v, check_time_zone(v))?;
        }
        if let Some(v) = given.max_active_browsers {
            let key = "max_active_browsers";
            self.max_active_browsers = check(at(key), key, v, whole(v, 1, 1000))?;
        }
        if let Some(v) = given.estimated_pending_factor {
            let key = "estimated_pending_factor";
            self.estimated_pending_factor = check(at(key), key, v, check_factor(v))?;
        }
        if let Some(v) = given.range_size {
            self.range_size = check(at("range_size"), "range_size", v, whole(v, 1, 100_000))?;
        }
        if let Some(v) = given.semaphore_ttl {
            let key = "semaphore_ttl";
            self.semaphore_ttl = check(at(key), key, v, seconds(v, 0.1))?;
        }
        if let Some(v) = given.lease_ttl {
            self.lease_ttl = check(at("lease_ttl"), "lease_ttl", v, seconds(v, 0.3))?;
            self.set_by.insert("lease_ttl", at("lease_ttl").describe());
        }
        if let Some(v) = given.range_lock_ttl {
            let key = "range_lock_ttl";
            self.range_lock_ttl = check(at(key), key, v, seconds(v, 0.3))?;
            self.set_by.insert(key, at(key).describe());
        }
        if let Some(listen) = given.serve.as_ref().and_then(|serve| serve.listen.as_ref()) {
            let key = "serve.listen";
            self.serve_listen = check(at(key), key, listen, check_listen(listen))?;
        }
        let file = at("(file)");
        if let Some(retry) = retry {
            self.retry.apply(retry, file)?;
        }
        if let Some(browser) = browser {
            self.browser
                .apply(browser, file, at("browser.webdriver_url"))?;
        }
        if let Some(portal) = portal {
            self.apply_portal(portal, file)?;
        }
        Ok(())
    }

    fn apply_portal(&mut self, portal: FilePortal, origin: Origin) -> Result<()> {
        let web_keys = portal.web_keys();
        match portal.kind.as_deref().unwrap_or("simulated") {
            "simulated" if web_keys.is_empty() => {
                if !matches!(self.portal, PortalConfig::Simulated(_)) {
                    self.portal = Config::default().portal;
                }
                let PortalConfig::Simulated(sim) = &mut self.portal else {
                    unreachable!("set to simulated above");
                };
                sim.apply(portal, origin)
            }
            "simulated" => Err(bad(
                origin,
                "portal.kind",
                &"\"simulated\"",
                &format!(
                    "keys such as {} belong to kind = \"web\"; set kind = \"web\" or remove them",
                    web_keys[0]
                ),
            )),
            "web" => {
                if !portal.simulated_keys().is_empty() {
                    return Err(bad(
                        origin,
                        "portal.kind",
                        &"\"web\"",
                        "download_ms, report_ms, failure_rate, report_log and pending_orders belong to kind = \"simulated\"; remove them",
                    ));
                }
                self.portal = PortalConfig::Web(Box::new(portal.into_web(origin)?));
                Ok(())
            }
            other => Err(bad(
                origin,
                "portal.kind",
                &format!("\"{other}\""),
                "the kinds are: \"simulated\", \"web\"",
            )),
        }
    }

    /// Checks the settings that depend on each other, once all are applied,
    /// naming each and where it was set.
    pub fn check_consistency(&self) -> Result<()> {
        if self.range_lock_ttl < self.lease_ttl {
            let from = |key| {
                self.set_by
                    .get(key)
                    .map_or_else(|| "the default".to_string(), Clone::clone)
            };
            return Err(refuse(format!(
                "`range_lock_ttl` = {} s (from {}) must be at least `lease_ttl` = {} s (from {}); lower one or raise the other",
                self.range_lock_ttl.as_secs_f64(),
                from("range_lock_ttl"),
                self.lease_ttl.as_secs_f64(),
                from("lease_ttl"),
            )));
        }
        Ok(())
    }
}

impl RetryPolicy {
    fn apply(&mut self, retry: FileRetry, origin: Origin) -> Result<()> {
        if let Some(v) = retry.download_retries {
            self.download_retries = check(origin, "retry.download_retries", v, whole(v, 0, 1000))?;
        }
        if let Some(v) = retry.download_delay {
            self.download_delay = check(origin, "retry.download_delay", v, seconds(v, 0.0))?;
        }
        if let Some(v) = retry.report_retries {
            self.report_retries = check(origin, "retry.report_retries", v, whole(v, 0, 1000))?;
        }
        if let Some(v) = retry.report_delay {
            self.report_delay = check(origin, "retry.report_delay", v, seconds(v, 0.0))?;
        }
        if let Some(v) = retry.jitter {
            self.jitter = check(origin, "retry.jitter", v, share(v))?;
        }
        if let Some(v) = retry.order_attempts {
            self.order_attempts = check(origin, "retry.order_attempts", v, whole(v, 1, 100))?;
        }
        if let Some(v) = retry.order_backoff {
            self.order_backoff = check(origin, "retry.order_backoff", v, seconds(v, 0.0))?;
        }
        if let Some(v) = retry.max_lease_expiries {
            self.max_lease_expiries =
                check(origin, "retry.max_lease_expiries", v, whole(v, 1, 1000))?;
        }
        Ok(())
    }
}

impl SimulatedPortal {
    fn apply(&mut self, portal: FilePortal, origin: Origin) -> Result<()> {
        let millis = |key: &str, v: i64| -> Result<Duration> {
            Ok(Duration::from_millis(check(
                origin,
                key,
                v,
                whole(v, 0, 86_400_000),
            )?))
        };
        if let Some(v) = portal.download_ms {
            self.download = millis("portal.download_ms", v)?;
        }
        if let Some(v) = portal.report_ms {
            self.report = millis("portal.report_ms", v)?;
        }
        if let Some(v) = portal.failure_rate {
            self.failure_rate = check(origin, "portal.failure_rate", v, share(v))?;
        }
        if let Some(v) = portal.report_log {
            self.report_log = Some(v);
        }
        if let Some(v) = portal.pending_orders {
            let key = "portal.pending_orders";
            self.pending_orders = Some(check(origin, key, v, whole(v, 0, 10_000_000))?);
        }
        Ok(())
    }
}

/// Refuses a config path that names a FIFO, a socket, a device or a
/// directory: reading a FIFO would wait forever for a writer.
fn not_a_special_file(path: &Path, given: &str) -> Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(()); // reading it says why
    };
    let kind = meta.file_type();
    let what = if kind.is_file() {
        return Ok(());
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "a device"
    };
    Err(refuse(format!(
        "config file `{}` is {what}, not a file; give {given} the path of a TOML file",
        path.display()
    )))
}

/// Pending orders estimated for a monthly estimate, as the slots table and the
/// simulated portal count them: estimate × factor, rounded up.
pub fn estimated_pending(monthly_orders: i64, factor: f64) -> i64 {
    // The small nudge keeps 1400 × 0.08 (112.00000000000001 in floating point) at 112.
    (monthly_orders as f64 * factor - 1e-9).ceil().max(0.0) as i64
}

/// The default database: systemd's state directory when set, else
/// `/var/lib/reporter/reporter.db`.
fn default_database() -> PathBuf {
    match std::env::var_os("STATE_DIRECTORY") {
        Some(dir) if !dir.is_empty() => {
            let first = dir
                .to_string_lossy()
                .split(':')
                .next()
                .unwrap_or_default()
                .to_string();
            Path::new(&first).join("reporter.db")
        }
        _ => PathBuf::from(DEFAULT_DATABASE),
    }
}

/// The host's IANA time zone: `TZ`, then `/etc/timezone`, then the target of
/// `/etc/localtime`; UTC when none names a known zone.
pub fn host_time_zone() -> Tz {
    let from_env = std::env::var("TZ")
        .ok()
        .map(|v| v.trim_start_matches(':').to_string());
    let from_file = || {
        std::fs::read_to_string("/etc/timezone")
            .ok()
            .map(|s| s.trim().to_string())
    };
    let from_link = || {
        std::fs::read_link("/etc/localtime")
            .ok()
            .and_then(|target| {
                let target = target.to_string_lossy().into_owned();
                target
                    .split_once("zoneinfo/")
                    .map(|(_, name)| name.to_string())
            })
    };
    [from_env, from_file(), from_link()]
        .into_iter()
        .flatten()
        .find_map(|name| name.parse::<Tz>().ok())
        .unwrap_or(Tz::UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config> {
        let mut config = Config::default();
        config.apply_file(text, Path::new("test.toml"))?;
        config.check_consistency()?;
        Ok(config)
    }

    #[test]
    fn the_commented_example_config_parses_and_matches_the_defaults() {
        let text = include_str!("../../examples/reporter.toml");
        let config = parse(text).expect("examples/reporter.toml parses");
        let defaults = Config::default();
        assert_eq!(config.max_active_browsers, defaults.max_active_browsers);
        assert_eq!(config.range_size, defaults.range_size);
        assert_eq!(config.semaphore_ttl, defaults.semaphore_ttl);
        assert_eq!(config.lease_ttl, defaults.lease_ttl);
        assert_eq!(config.range_lock_ttl, defaults.range_lock_ttl);
        assert_eq!(config.retry, defaults.retry);
        assert_eq!(
            config.estimated_pending_factor,
            defaults.estimated_pending_factor
        );
    }

    /// The example's web portal, uncommented, and its flows, uncommented
    /// once more: both forms load.
    #[test]
    fn the_commented_web_portal_of_the_example_parses_in_both_forms() {
        let text = include_str!("../../examples/reporter.toml");
        let web = text
            .split("\n# [portal]\n")
            .nth(1)
            .map(|rest| format!("# [portal]\n{rest}"))
            .unwrap()
            .lines()
            .filter(|l| l.starts_with('#'))
            .map(|l| l.trim_start_matches('#').strip_prefix(' ').unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        let flat = parse(&web).expect("the flat form parses");
        let PortalConfig::Web(flat) = flat.portal else {
            panic!("a web portal")
        };
        assert_eq!(flat.report.steps.len(), 7);
        // The flows are commented once more, from `# [[portal.login]]` on.
        let mut flows = Vec::new();
        let mut nested = false;
        for line in web.lines() {
            nested = (nested || line == "# [[portal.login]]") && line.starts_with('#');
            flows.push(match nested {
                true => line.trim_start_matches('#').trim_start(),
                false => line,
            });
        }
        let flows = flows.join("\n");
        let config = parse(&flows).expect("the flows parse");
        let PortalConfig::Web(web) = config.portal else {
            panic!("a web portal")
        };
        assert_eq!(web.login.steps.len(), 6);
        assert_eq!(web.csv.delimiter, b';');
        assert_eq!(web.csv.url_id.as_deref(), Some("Internal id"));
        assert_eq!(web.csv.extra, vec!["Total".to_string()]);
        assert_eq!(web.report.steps.len(), 7);
    }

    #[test]
    fn a_malformed_step_is_refused_with_its_key_path() {
        let err = parse(
            "[portal]\nkind = \"web\"\nbase_url = \"http://p\"\n\
             [[portal.report]]\ngoto = \"/o/{order}\"\n[[portal.report]]\nfill = { selector = \"#a\" }\n",
        )
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("missing field `value`"),
            "{err:#}"
        );
        let err = parse(
            "[portal]\nkind = \"web\"\nbase_url = \"http://p\"\n\
             [[portal.report]]\ngoto = \"/o/{order}\"\nclick = \"#b\"\n",
        )
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("`portal.report[1]`")
                && format!("{err:#}").contains("exactly one action"),
            "{err:#}"
        );
    }

    #[test]
    fn a_wrong_key_in_the_export_table_is_refused_by_its_name() {
        let err = parse(
            "[portal]\nkind = \"web\"\nbase_url = \"http://p\"\n[portal.export]\nformats = \"xlsx\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("in `portal.export`: unknown field `formats`, expected one of `format`, `sheet`, `delimiter`, `columns`, `steps`"),
            "{err}"
        );
        assert!(!err.contains("untagged"), "{err}");
    }

    #[test]
    fn a_syntax_error_names_the_file_line_and_column() {
        let err = parse("range_size = 100\nlease_ttl = = 3\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`test.toml` at line 2, column"), "{err}");
    }

    #[test]
    fn an_unknown_key_is_named() {
        let err = parse("rnage_size = 100\n").unwrap_err().to_string();
        assert!(err.contains("rnage_size"), "{err}");
    }

    #[test]
    fn an_out_of_range_value_names_the_key_and_the_file() {
        let err = parse("range_size = 0\n").unwrap_err().to_string();
        assert_eq!(
            err,
            "config file `test.toml`: `range_size` = 0 is not valid: give a whole number from 1 to 100000"
        );
    }

    #[test]
    fn a_range_lock_shorter_than_the_lease_is_refused_naming_both_and_their_sources() {
        let err = parse("lease_ttl = 3600\n").unwrap_err().to_string();
        assert_eq!(
            err,
            "`range_lock_ttl` = 3000 s (from the default) must be at least `lease_ttl` = 3600 s (from config file `test.toml`); lower one or raise the other"
        );
    }

    #[test]
    fn estimated_pending_rounds_up() {
        assert_eq!(estimated_pending(1400, 0.08), 112);
        assert_eq!(estimated_pending(816, 0.08), 66);
        assert_eq!(estimated_pending(0, 0.08), 0);
    }

    #[test]
    fn a_redis_url_may_name_a_unix_socket() {
        for url in [
            "redis+unix:///run/redis/redis-server.sock",
            "unix:///run/redis/redis-server.sock?db=2&pass=secret",
            "redis://127.0.0.1:6379/1",
            "rediss://user:secret@redis.example.org:6380/0",
        ] {
            assert_eq!(check_redis_url(url).as_deref(), Ok(url));
        }
        for url in [
            "unix://run/redis.sock",
            "redis+unix://",
            "redis+unix://localhost/run/redis.sock",
            "http://127.0.0.1:6379/",
        ] {
            let why = check_redis_url(url).expect_err(url);
            assert!(why.contains("redis+unix:///PATH/TO/SOCKET"), "{url}: {why}");
        }
    }
}
