//! Range locks: `SET NX PX` with a random token and a lease, renewed while the
//! range is worked, released by compare-and-delete.

use std::sync::LazyLock;

use anyhow::Result;
use redis::Script;

use super::Coordinator;

/// KEYS: lock. ARGV: token, lease ms. Extends the lock only if the token holds it.
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('GET', KEYS[1]) == ARGV[1] then
            return redis.call('PEXPIRE', KEYS[1], ARGV[2])
        end
        return 0
        ",
    )
});

/// KEYS: lock. ARGV: token. Deletes the lock only if the token holds it.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('GET', KEYS[1]) == ARGV[1] then
            return redis.call('DEL', KEYS[1])
        end
        return 0
        ",
    )
});

/// A held range lock.
#[derive(Debug, Clone)]
pub struct RangeLock {
    pub key: String,
    pub token: String,
}

/// Why a lock could not be taken.
pub enum LockRefused {
    /// Someone else holds it for this much longer.
    HeldFor(std::time::Duration),
}

impl Coordinator {
    /// Takes the lock of a range, or says how long its holder keeps it.
    pub async fn lock_range(
        &self,
        range_id: i64,
        token: &str,
    ) -> Result<Result<RangeLock, LockRefused>> {
        let key = self.key(&format!("range:{range_id}"));
        let mut conn = self.conn.clone();
        let set: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(token)
            .arg("NX")
            .arg("PX")
            .arg(self.lease_ms())
            .query_async(&mut conn)
            .await?;
        if set.is_some() {
            return Ok(Ok(RangeLock {
                key,
                token: token.into(),
            }));
        }
        let left: i64 = redis::cmd("PTTL").arg(&key).query_async(&mut conn).await?;
        Ok(Err(LockRefused::HeldFor(std::time::Duration::from_millis(
            left.max(0) as u64,
        ))))
    }

    /// Extends the lock. `Ok(false)`: it is gone or someone else holds it.
    pub async fn renew_lock(&self, lock: &RangeLock) -> Result<bool> {
        let kept: i64 = RENEW
            .key(&lock.key)
            .arg(&lock.token)
            .arg(self.lease_ms())
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(kept == 1)
    }

    /// Releases the lock if this token still holds it.
    pub async fn release_lock(&self, lock: &RangeLock) -> Result<()> {
        let _: i64 = RELEASE
            .key(&lock.key)
            .arg(&lock.token)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }
}
