//! Coordination through Redis: browser permits (a lease-based counting
//! semaphore) and range locks. Every key starts with the configured prefix so
//! several deployments can share one Redis.

mod permits;
mod range_lock;
mod write_faults;

use std::time::Duration;

use anyhow::Result;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::Config;

pub use permits::{DamagedKey, Holder, Permit};
pub use range_lock::{LockRefused, RangeLock};
pub use write_faults::WriteFault;

/// A Redis connection with the deployment's key prefix and limits.
#[derive(Clone)]
pub struct Coordinator {
    conn: ConnectionManager,
    prefix: String,
    limit: u32,
    lease: Duration,
}

impl Coordinator {
    /// Connects, and checks the server answers.
    pub async fn connect(config: &Config) -> Result<Coordinator> {
        let shown = redacted(&config.redis_url);
        let client = redis::Client::open(config.redis_url.as_str())
            .map_err(|err| unreachable(&shown, &err))?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(3)))
            .set_response_timeout(Some(Duration::from_secs(3)))
            .set_number_of_retries(2);
        let connect = async {
            let mut conn = ConnectionManager::new_with_config(client, manager_config).await?;
            let _: String = redis::cmd("PING").query_async(&mut conn).await?;
            Ok::<_, redis::RedisError>(conn)
        };
        let conn = match tokio::time::timeout(Duration::from_secs(10), connect).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(err)) => return Err(unreachable(&shown, &err)),
            Err(_) => {
                return Err(anyhow::anyhow!(
                    "cannot reach Redis at {shown}: no answer within 10 s; {START}"
                ));
            }
        };
        Ok(Coordinator {
            conn,
            prefix: config.key_prefix.clone(),
            limit: config.max_active_browsers,
            lease: config.lease_ttl,
        })
    }

    /// Checks that Redis answers.
    pub async fn ping(&self) -> Result<()> {
        let _: String = redis::cmd("PING")
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    pub fn lease(&self) -> Duration {
        self.lease
    }

    fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }

    fn lease_ms(&self) -> u64 {
        self.lease.as_millis().max(1) as u64
    }
}

/// The next step when no Redis answers.
const START: &str =
    "start redis-server or fix `redis_url` in the config, --redis or REPORTER_REDIS_URL";

/// Why a connection failed, in one line with its cause once and the step
/// that fits it: a server that is down, a database number it lacks, refused
/// credentials, or something at that address that does not speak Redis.
fn unreachable(shown: &str, err: &redis::RedisError) -> anyhow::Error {
    // The error's own text already holds its cause: the chain would repeat it.
    let text = err.to_string();
    let cause = crate::text::escaped(text.lines().next().unwrap_or_default().trim());
    let message = if text.contains("DB index is out of range") {
        format!(
            "Redis at {shown} has no such database (DB index is out of range); use a database number the server has (0 to 15 unless its `databases` is set) in `redis_url` in the config, --redis or REPORTER_REDIS_URL"
        )
    } else if err.kind() == redis::ErrorKind::AuthenticationFailed
        || text.contains("NOAUTH")
        || text.contains("WRONGPASS")
    {
        format!(
            "Redis at {shown} refused the credentials ({cause}); fix the user and password in `redis_url` in the config, --redis or REPORTER_REDIS_URL"
        )
    } else if matches!(
        err.kind(),
        redis::ErrorKind::Parse | redis::ErrorKind::UnexpectedReturnType
    ) {
        format!(
            "{shown} answers, but not as Redis ({cause}); point `redis_url` in the config, --redis or REPORTER_REDIS_URL at a Redis server"
        )
    } else {
        format!("cannot reach Redis at {shown}: {cause}; {START}")
    };
    anyhow::anyhow!(message)
}

/// A Redis URL with its password hidden, for messages: the one in the user
/// part (`redis://user:PASSWORD@host`) and a socket's `pass=` parameter
/// (`redis+unix:///run/redis.sock?pass=PASSWORD`).
pub fn redacted(url: &str) -> String {
    let (url, query) = match url.split_once('?') {
        Some((url, query)) => (url, Some(query)),
        None => (url, None),
    };
    let mut shown = match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority = rest.split('/').next().unwrap_or_default();
            match authority.rfind('@') {
                Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    };
    if let Some(query) = query {
        let pairs: Vec<&str> = query
            .split('&')
            .map(|pair| {
                if pair.starts_with("pass=") {
                    "pass=***"
                } else {
                    pair
                }
            })
            .collect();
        shown.push('?');
        shown.push_str(&pairs.join("&"));
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn a_redis_password_never_reaches_a_message() {
        assert_eq!(
            redacted("redis://user:s3cret@host:6379/0"),
            "redis://***@host:6379/0"
        );
        assert_eq!(
            redacted("redis://127.0.0.1:6379/"),
            "redis://127.0.0.1:6379/"
        );
        assert_eq!(
            redacted("redis+unix:///run/redis.sock?db=1&pass=s3cret&user=me"),
            "redis+unix:///run/redis.sock?db=1&pass=***&user=me"
        );
        assert_eq!(
            redacted("unix:///run/user@1000/redis.sock"),
            "unix:///run/user@1000/redis.sock"
        );
        assert_eq!(
            redacted("redis://:p@ss@host:6379/0?protocol=3"),
            "redis://***@host:6379/0?protocol=3"
        );
    }
}
