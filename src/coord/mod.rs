//! Coordination through Redis: browser permits (a lease-based counting
//! semaphore) and range locks. Every key starts with the configured prefix so
//! several deployments can share one Redis.

mod permits;
mod range_lock;

use std::time::Duration;

use anyhow::{Context as _, Result};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::Config;

pub use permits::{Holder, Permit};
pub use range_lock::{LockRefused, RangeLock};

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
        let hint = || {
            format!(
                "cannot reach Redis at {shown}; start redis-server or fix --redis / REPORTER_REDIS_URL"
            )
        };
        let client = redis::Client::open(config.redis_url.as_str()).with_context(hint)?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(3)))
            .set_response_timeout(Some(Duration::from_secs(3)))
            .set_number_of_retries(2);
        let connect = ConnectionManager::new_with_config(client, manager_config);
        let mut conn = tokio::time::timeout(Duration::from_secs(10), connect)
            .await
            .map_err(|_| anyhow::anyhow!("timed out"))
            .and_then(|r| r.map_err(anyhow::Error::from))
            .with_context(hint)?;
        let _: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .with_context(hint)?;
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

/// A Redis URL with its password hidden, for messages.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_string(),
    }
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
    }
}
