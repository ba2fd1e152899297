//! Settings: built-in defaults, then the TOML file, then the environment, then
//! flags. Every value is checked as it is applied, so an error names the key and
//! where it came from.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::Result;
use chrono_tz::Tz;
use serde::Deserialize;

use crate::error::refuse;

pub mod flow;
mod web;

pub use web::{BrowserConfig, ExportFormat, PortalPaths, PortalSelectors, WebPortal};

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

/// The TOML file as written; every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database: Option<PathBuf>,
    redis_url: Option<String>,
    key_prefix: Option<String>,
    time_zone: Option<String>,
    max_active_browsers: Option<i64>,
    estimated_pending_factor: Option<f64>,
    range_size: Option<i64>,
    semaphore_ttl: Option<f64>,
    lease_ttl: Option<f64>,
    range_lock_ttl: Option<f64>,
    retry: Option<FileRetry>,
    portal: Option<FilePortal>,
    browser: Option<web::FileBrowser>,
    serve: Option<FileServe>,
}

/// `[serve]`: the HTTP API.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileServe {
    listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRetry {
    download_retries: Option<i64>,
    download_delay: Option<f64>,
    report_retries: Option<i64>,
    report_delay: Option<f64>,
    jitter: Option<f64>,
    order_attempts: Option<i64>,
    order_backoff: Option<f64>,
    max_lease_expiries: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePortal {
    kind: Option<String>,
    download_ms: Option<i64>,
    report_ms: Option<i64>,
    failure_rate: Option<f64>,
    report_log: Option<PathBuf>,
    pending_orders: Option<i64>,
    base_url: Option<String>,
    credentials_dir: Option<PathBuf>,
    report_statuses: Option<Vec<String>>,
    report_reason: Option<String>,
    report_comment: Option<String>,
    page_timeout: Option<f64>,
    artifacts_dir: Option<PathBuf>,
    paths: Option<PortalPaths>,
    selectors: Option<PortalSelectors>,
    login: Option<Vec<flow::FileStep>>,
    export: Option<web::FileExport>,
    report: Option<Vec<flow::FileStep>>,
}

/// Where a value came from, for error messages.
#[derive(Clone, Copy)]
enum Origin<'a> {
    File(&'a Path),
    Env,
}

impl Config {
    /// Loads defaults, the config file, the environment and the flags, in that
    /// order, checking each value as it is applied.
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
        if let Some(path) = path {
            let text = std::fs::read_to_string(&path).map_err(|err| {
                refuse(format!(
                    "cannot read config file `{}`: {err}; check the path given to {given}",
                    path.display()
                ))
            })?;
            config.apply_file(&text, &path)?;
            config.source = Some(path);
        }
        config.apply_env()?;
        if let Some(db) = &flags.db {
            config.database = db.clone();
        }
        if let Some(url) = &flags.redis {
            config.redis_url =
                check_redis_url(url).map_err(|why| refuse(format!("--redis `{url}`: {why}")))?;
        }
        config.check_consistency()?;
        Ok(config)
    }

    /// Parses and applies one TOML text; `path` is only for messages.
    pub fn apply_file(&mut self, text: &str, path: &Path) -> Result<()> {
        let file: FileConfig = toml::from_str(text).map_err(|err| {
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
        let origin = Origin::File(path);
        if let Some(v) = file.database {
            self.database = v;
        }
        if let Some(v) = file.redis_url {
            self.redis_url = check(origin, "redis_url", &v, check_redis_url(&v))?;
        }
        if let Some(v) = file.key_prefix {
            self.key_prefix = check(origin, "key_prefix", &v, check_key_prefix(&v))?;
        }
        if let Some(v) = file.time_zone {
            self.time_zone = check(origin, "time_zone", &v, check_time_zone(&v))?;
        }
        if let Some(v) = file.max_active_browsers {
            self.max_active_browsers = check(origin, "max_active_browsers", v, whole(v, 1, 1000))?;
        }
        if let Some(v) = file.estimated_pending_factor {
            self.estimated_pending_factor =
                check(origin, "estimated_pending_factor", v, check_factor(v))?;
        }
        if let Some(v) = file.range_size {
            self.range_size = check(origin, "range_size", v, whole(v, 1, 100_000))?;
        }
        if let Some(v) = file.semaphore_ttl {
            self.semaphore_ttl = check(origin, "semaphore_ttl", v, seconds(v, 0.1))?;
        }
        if let Some(v) = file.lease_ttl {
            self.lease_ttl = check(origin, "lease_ttl", v, seconds(v, 0.3))?;
            self.set_by
                .insert("lease_ttl", format!("config file `{}`", path.display()));
        }
        if let Some(v) = file.range_lock_ttl {
            self.range_lock_ttl = check(origin, "range_lock_ttl", v, seconds(v, 0.3))?;
            self.set_by.insert(
                "range_lock_ttl",
                format!("config file `{}`", path.display()),
            );
        }
        if let Some(retry) = file.retry {
            self.apply_retry(retry, origin)?;
        }
        if let Some(portal) = file.portal {
            self.apply_portal(portal, origin)?;
        }
        if let Some(listen) = file.serve.and_then(|serve| serve.listen) {
            self.serve_listen = check(origin, "serve.listen", &listen, check_listen(&listen))?;
        }
        if let Some(browser) = file.browser {
            self.browser.apply(browser, origin)?;
        }
        Ok(())
    }

    fn apply_retry(&mut self, retry: FileRetry, origin: Origin) -> Result<()> {
        let r = &mut self.retry;
        if let Some(v) = retry.download_retries {
            r.download_retries = check(origin, "retry.download_retries", v, whole(v, 0, 1000))?;
        }
        if let Some(v) = retry.download_delay {
            r.download_delay = check(origin, "retry.download_delay", v, seconds(v, 0.0))?;
        }
        if let Some(v) = retry.report_retries {
            r.report_retries = check(origin, "retry.report_retries", v, whole(v, 0, 1000))?;
        }
        if let Some(v) = retry.report_delay {
            r.report_delay = check(origin, "retry.report_delay", v, seconds(v, 0.0))?;
        }
        if let Some(v) = retry.jitter {
            r.jitter = check(origin, "retry.jitter", v, share(v))?;
        }
        if let Some(v) = retry.order_attempts {
            r.order_attempts = check(origin, "retry.order_attempts", v, whole(v, 1, 100))?;
        }
        if let Some(v) = retry.order_backoff {
            r.order_backoff = check(origin, "retry.order_backoff", v, seconds(v, 0.0))?;
        }
        if let Some(v) = retry.max_lease_expiries {
            r.max_lease_expiries = check(origin, "retry.max_lease_expiries", v, whole(v, 1, 1000))?;
        }
        Ok(())
    }

    fn apply_portal(&mut self, mut portal: FilePortal, origin: Origin) -> Result<()> {
        let web = web::FileWeb {
            base_url: portal.base_url.take(),
            credentials_dir: portal.credentials_dir.take(),
            report_statuses: portal.report_statuses.take(),
            report_reason: portal.report_reason.take(),
            report_comment: portal.report_comment.take(),
            page_timeout: portal.page_timeout.take(),
            artifacts_dir: portal.artifacts_dir.take(),
            paths: portal.paths.take(),
            selectors: portal.selectors.take(),
            login: portal.login.take(),
            export: portal.export.take(),
            report: portal.report.take(),
        };
        match portal.kind.as_deref().unwrap_or("simulated") {
            "simulated" if web.is_empty() => self.apply_simulated(portal, origin),
            "simulated" => Err(bad(
                origin,
                "portal.kind",
                &"\"simulated\"",
                "keys such as base_url belong to kind = \"web\"; set kind = \"web\" or remove them",
            )),
            "web" => {
                let simulated_keys = [
                    portal.download_ms.is_some(),
                    portal.report_ms.is_some(),
                    portal.failure_rate.is_some(),
                    portal.report_log.is_some(),
                    portal.pending_orders.is_some(),
                ];
                if simulated_keys.contains(&true) {
                    return Err(bad(
                        origin,
                        "portal.kind",
                        &"\"web\"",
                        "download_ms, report_ms, failure_rate, report_log and pending_orders belong to kind = \"simulated\"; remove them",
                    ));
                }
                self.portal = PortalConfig::Web(Box::new(web.into_portal(origin)?));
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

    fn apply_simulated(&mut self, portal: FilePortal, origin: Origin) -> Result<()> {
        if !matches!(self.portal, PortalConfig::Simulated(_)) {
            self.portal = Config::default().portal;
        }
        let PortalConfig::Simulated(sim) = &mut self.portal else {
            unreachable!("set to simulated above");
        };
        if let Some(v) = portal.download_ms {
            sim.download = Duration::from_millis(check(
                origin,
                "portal.download_ms",
                v,
                whole(v, 0, 86_400_000),
            )?);
        }
        if let Some(v) = portal.report_ms {
            sim.report = Duration::from_millis(check(
                origin,
                "portal.report_ms",
                v,
                whole(v, 0, 86_400_000),
            )?);
        }
        if let Some(v) = portal.failure_rate {
            sim.failure_rate = check(origin, "portal.failure_rate", v, share(v))?;
        }
        if let Some(v) = portal.report_log {
            sim.report_log = Some(v);
        }
        if let Some(v) = portal.pending_orders {
            sim.pending_orders = Some(check(
                origin,
                "portal.pending_orders",
                v,
                whole(v, 0, 10_000_000),
            )?);
        }
        Ok(())
    }

    fn apply_env(&mut self) -> Result<()> {
        let origin = Origin::Env;
        if let Some(v) = env_var("REPORTER_DB") {
            self.database = PathBuf::from(v);
        }
        if let Some(v) = env_var("REPORTER_REDIS_URL") {
            self.redis_url = check(origin, "REPORTER_REDIS_URL", &v, check_redis_url(&v))?;
        }
        if let Some(v) = env_var("REPORTER_KEY_PREFIX") {
            self.key_prefix = check(origin, "REPORTER_KEY_PREFIX", &v, check_key_prefix(&v))?;
        }
        if let Some(v) = env_var("REPORTER_TIME_ZONE") {
            self.time_zone = check(origin, "REPORTER_TIME_ZONE", &v, check_time_zone(&v))?;
        }
        // The original's name first; the reporter name wins when both are set.
        for name in ["MAX_ACTIVE_SELENIUM", "REPORTER_MAX_ACTIVE_BROWSERS"] {
            if let Some(v) = env_number::<i64>(name)? {
                self.max_active_browsers = check(origin, name, v, whole(v, 1, 1000))?;
            }
        }
        let name = "REPORTER_ESTIMATED_PENDING_FACTOR";
        if let Some(v) = env_number::<f64>(name)? {
            self.estimated_pending_factor = check(origin, name, v, check_factor(v))?;
        }
        let name = "REPORTER_RANGE_SIZE";
        if let Some(v) = env_number::<i64>(name)? {
            self.range_size = check(origin, name, v, whole(v, 1, 100_000))?;
        }
        let name = "REPORTER_SELENIUM_SEMAPHORE_TTL";
        if let Some(v) = env_number::<f64>(name)? {
            self.semaphore_ttl = check(origin, name, v, seconds(v, 0.1))?;
        }
        let name = "REPORTER_LEASE_TTL";
        if let Some(v) = env_number::<f64>(name)? {
            self.lease_ttl = check(origin, name, v, seconds(v, 0.3))?;
            self.set_by
                .insert("lease_ttl", format!("environment variable `{name}`"));
        }
        if let Some(v) = env_var("REPORTER_WEBDRIVER_URL") {
            let url = check(
                origin,
                "REPORTER_WEBDRIVER_URL",
                &v,
                web::check_http_url(&v),
            )?;
            self.browser.webdriver_url = Some(url);
        }
        let name = "REPORTER_RANGE_LOCK_TTL";
        if let Some(v) = env_number::<f64>(name)? {
            self.range_lock_ttl = check(origin, name, v, seconds(v, 0.3))?;
            self.set_by
                .insert("range_lock_ttl", format!("environment variable `{name}`"));
        }
        Ok(())
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

/// Pending orders estimated for a monthly estimate, as the slots table and the
/// simulated portal count them: estimate × factor, rounded up.
pub fn estimated_pending(monthly_orders: i64, factor: f64) -> i64 {
    // The small nudge keeps 1400 × 0.08 (112.00000000000001 in floating point) at 112.
    (monthly_orders as f64 * factor - 1e-9).ceil().max(0.0) as i64
}

fn check<T, V: std::fmt::Display>(
    origin: Origin,
    key: &str,
    value: V,
    result: std::result::Result<T, String>,
) -> Result<T> {
    result.map_err(|why| bad(origin, key, &value, &why))
}

fn bad<V: std::fmt::Display + ?Sized>(
    origin: Origin,
    key: &str,
    value: &V,
    why: &str,
) -> anyhow::Error {
    match origin {
        Origin::File(path) => refuse(format!(
            "config file `{}`: `{key}` = {value} is not valid: {why}",
            path.display()
        )),
        Origin::Env => refuse(format!(
            "environment variable `{key}`={value} is not valid: {why}"
        )),
    }
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn env_number<T: FromStr>(name: &str) -> Result<Option<T>> {
    match env_var(name) {
        None => Ok(None),
        Some(v) => v.trim().parse().map(Some).map_err(|_| {
            refuse(format!(
                "environment variable `{name}`={v} is not a number; unset it or give a number"
            ))
        }),
    }
}

fn whole<T: TryFrom<i64>>(v: i64, min: i64, max: i64) -> std::result::Result<T, String> {
    if v < min || v > max {
        return Err(format!("give a whole number from {min} to {max}"));
    }
    T::try_from(v).map_err(|_| format!("give a whole number from {min} to {max}"))
}

fn seconds(v: f64, min: f64) -> std::result::Result<Duration, String> {
    if !v.is_finite() || v < min || v > 31_536_000.0 {
        return Err(format!("give a number of seconds from {min} to 31536000"));
    }
    Ok(Duration::from_secs_f64(v))
}

fn share(v: f64) -> std::result::Result<f64, String> {
    if !(0.0..=1.0).contains(&v) {
        return Err("give a share from 0 to 1".into());
    }
    Ok(v)
}

fn check_factor(v: f64) -> std::result::Result<f64, String> {
    if !v.is_finite() || !(0.0..=10.0).contains(&v) {
        return Err("give a factor from 0 to 10".into());
    }
    Ok(v)
}

/// An address to listen on: `IP:PORT`.
pub fn check_listen(v: &str) -> std::result::Result<SocketAddr, String> {
    v.parse()
        .map_err(|_| "give an IP address and port, like 127.0.0.1:8080 or [::1]:8080".into())
}

fn check_redis_url(v: &str) -> std::result::Result<String, String> {
    let unix = v.starts_with("redis+unix://") || v.starts_with("unix://");
    if !(v.starts_with("redis://") || v.starts_with("rediss://") || unix) {
        return Err(REDIS_URL_FORMS.into());
    }
    let url = redis::parse_redis_url(v).ok_or("not a valid Redis URL")?;
    // A socket's URL names an absolute path and nothing else: `unix://run/redis.sock`
    // would be the host `run`, only found out when connecting.
    if unix && (url.has_host() || url.path().len() < 2) {
        return Err(format!(
            "a socket needs an absolute path after `//`, like redis+unix:///run/redis/redis-server.sock; {REDIS_URL_FORMS}"
        ));
    }
    Ok(v.to_string())
}

const REDIS_URL_FORMS: &str = "use redis://HOST:PORT/DB, rediss://USER:PASSWORD@HOST:PORT/DB or redis+unix:///PATH/TO/SOCKET?db=DB";

fn check_key_prefix(v: &str) -> std::result::Result<String, String> {
    if v.is_empty() || v.len() > 64 || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("use 1 to 64 characters without spaces".into());
    }
    Ok(v.to_string())
}

fn check_time_zone(v: &str) -> std::result::Result<Tz, String> {
    v.parse::<Tz>()
        .map_err(|_| "use an IANA time zone name such as \"Europe/Madrid\" or \"UTC\"".into())
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

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
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
        let text = include_str!("../examples/reporter.toml");
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
        let text = include_str!("../examples/reporter.toml");
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
