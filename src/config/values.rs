//! The values of settings: what each kind accepts (whole numbers and
//! seconds within bounds, shares, addresses, URLs, names), and the one-line
//! refusal that names the key, the value and where it was set.

use std::net::SocketAddr;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Result;
use chrono_tz::Tz;

use crate::error::refuse;

/// Where a value was set, as that place spells its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin<'a> {
    /// A key of this config file.
    File(&'a Path),
    /// This environment variable.
    Env(&'static str),
    /// This command-line flag.
    Flag(&'static str),
}

impl Origin<'_> {
    /// "config file `reporter.toml`", "environment variable `REPORTER_LEASE_TTL`", "--redis".
    pub fn describe(self) -> String {
        match self {
            Origin::File(path) => format!("config file `{}`", path.display()),
            Origin::Env(name) => format!("environment variable `{name}`"),
            Origin::Flag(flag) => flag.to_string(),
        }
    }
}

pub(super) fn check<T, V: std::fmt::Display>(
    origin: Origin,
    key: &str,
    value: V,
    result: std::result::Result<T, String>,
) -> Result<T> {
    result.map_err(|why| bad(origin, key, &value, &why))
}

pub(super) fn bad<V: std::fmt::Display + ?Sized>(
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
        Origin::Env(name) => refuse(format!(
            "environment variable `{name}`={value} is not valid: {why}"
        )),
        Origin::Flag(flag) => refuse(format!("{flag} `{value}`: {why}")),
    }
}

pub(super) fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

pub(super) fn env_number<T: FromStr>(name: &str) -> Result<Option<T>> {
    match env_var(name) {
        None => Ok(None),
        Some(v) => v.trim().parse().map(Some).map_err(|_| {
            refuse(format!(
                "environment variable `{name}`={v} is not a number; unset it or give a number"
            ))
        }),
    }
}

pub(super) fn whole<T: TryFrom<i64>>(v: i64, min: i64, max: i64) -> std::result::Result<T, String> {
    if v < min || v > max {
        return Err(format!("give a whole number from {min} to {max}"));
    }
    T::try_from(v).map_err(|_| format!("give a whole number from {min} to {max}"))
}

pub(super) fn seconds(v: f64, min: f64) -> std::result::Result<Duration, String> {
    if !v.is_finite() || v < min || v > 31_536_000.0 {
        return Err(format!("give a number of seconds from {min} to 31536000"));
    }
    Ok(Duration::from_secs_f64(v))
}

pub(super) fn share(v: f64) -> std::result::Result<f64, String> {
    if !(0.0..=1.0).contains(&v) {
        return Err("give a share from 0 to 1".into());
    }
    Ok(v)
}

pub(super) fn check_factor(v: f64) -> std::result::Result<f64, String> {
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

pub(super) fn check_redis_url(v: &str) -> std::result::Result<String, String> {
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

pub(super) fn check_key_prefix(v: &str) -> std::result::Result<String, String> {
    if v.is_empty() || v.len() > 64 || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("use 1 to 64 characters without spaces".into());
    }
    Ok(v.to_string())
}

pub(super) fn check_time_zone(v: &str) -> std::result::Result<Tz, String> {
    v.parse::<Tz>()
        .map_err(|_| "use an IANA time zone name such as \"Europe/Madrid\" or \"UTC\"".into())
}

/// An `http://` or `https://` URL with a host, without its trailing slash.
pub(super) fn check_http_url(url: &str) -> std::result::Result<String, String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or("give an http:// or https:// URL")?;
    if rest.trim_end_matches('/').is_empty() || rest.contains(char::is_whitespace) {
        return Err("give an http:// or https:// URL with a host".into());
    }
    Ok(url.trim_end_matches('/').to_string())
}

pub(super) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}
