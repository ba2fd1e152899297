//! Browser permits: a counting semaphore of leases. Each holder is a token in a
//! sorted set scored by its expiry in Redis server time; expired holders are
//! dropped on every acquire, so a dead worker's permit returns within one lease.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use anyhow::Result;
use redis::Script;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::Coordinator;
use crate::time::ms_to_rfc3339;

/// KEYS: holders zset, holder info hash. ARGV: token, limit, lease ms, info.
/// Returns 1 when the token holds a permit afterwards.
static ACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
        if #expired > 0 then
            redis.call('ZREM', KEYS[1], unpack(expired))
            redis.call('HDEL', KEYS[2], unpack(expired))
        end
        if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
            redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
            return 1
        end
        if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
            redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
            redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
            return 1
        end
        return 0
        ",
    )
});

/// KEYS: holders zset, holder info hash. ARGV: token, lease ms.
/// Extends a live lease; a lease already expired is dropped and reported lost.
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local expiry = redis.call('ZSCORE', KEYS[1], ARGV[1])
        if expiry and tonumber(expiry) > now then
            redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
            return 1
        end
        redis.call('ZREM', KEYS[1], ARGV[1])
        redis.call('HDEL', KEYS[2], ARGV[1])
        return 0
        ",
    )
});

/// KEYS: holders zset, holder info hash. ARGV: token, info.
static SET_INFO: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
            redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
            return 1
        end
        return 0
        ",
    )
});

/// What a holder says about itself, stored beside its token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HolderInfo {
    pub worker: String,
    pub job: Option<String>,
    pub since: String,
}

/// One permit holder as `status` and `reset-semaphore` show it.
#[derive(Debug, Clone, Serialize)]
pub struct Holder {
    pub token: String,
    pub worker: String,
    pub job: Option<String>,
    pub since: String,
    pub expires_at: String,
}

/// A held permit. Dropping it does not release it: call `release`.
#[derive(Debug, Clone)]
pub struct Permit {
    pub token: String,
    pub worker: String,
    pub since: String,
}

impl Coordinator {
    fn permit_keys(&self) -> (String, String) {
        (self.key("permits"), self.key("permit-holders"))
    }

    /// One atomic attempt to take a permit.
    pub async fn try_acquire(&self, token: &str, worker: &str) -> Result<Option<Permit>> {
        let since = ms_to_rfc3339(crate::time::now_ms());
        let info = serde_json::to_string(&HolderInfo {
            worker: worker.into(),
            job: None,
            since: since.clone(),
        })?;
        let (holders, infos) = self.permit_keys();
        let got: i64 = ACQUIRE
            .key(holders)
            .key(infos)
            .arg(token)
            .arg(self.limit)
            .arg(self.lease_ms())
            .arg(info)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok((got == 1).then(|| Permit {
            token: token.into(),
            worker: worker.into(),
            since,
        }))
    }

    /// Waits for a permit for at most `wait`, backing off from 20 ms to 500 ms
    /// between attempts. `None` when the wait ran out or `stop` turned true.
    pub async fn acquire(
        &self,
        token: &str,
        worker: &str,
        wait: Duration,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<Option<Permit>> {
        let deadline = Instant::now() + wait;
        let mut pause = Duration::from_millis(20);
        loop {
            if *stop.borrow() {
                return Ok(None);
            }
            match self.try_acquire(token, worker).await {
                Ok(Some(permit)) => return Ok(Some(permit)),
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(error = %format!("{err:#}"), "cannot reach Redis to take a browser permit; trying again")
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let jittered = pause.mul_f64(0.75 + rand::random::<f64>() * 0.5);
            tokio::select! {
                _ = tokio::time::sleep(jittered.min(deadline - now)) => {}
                _ = stop.changed() => {}
            }
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }

    /// Extends the permit's lease. `Ok(false)`: the permit is gone.
    pub async fn renew(&self, permit: &Permit) -> Result<bool> {
        let (holders, infos) = self.permit_keys();
        let kept: i64 = RENEW
            .key(holders)
            .key(infos)
            .arg(&permit.token)
            .arg(self.lease_ms())
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(kept == 1)
    }

    /// Records which job the permit serves, for `status`.
    pub async fn describe(&self, permit: &Permit, job: Option<String>) -> Result<()> {
        let info = serde_json::to_string(&HolderInfo {
            worker: permit.worker.clone(),
            job,
            since: permit.since.clone(),
        })?;
        let (holders, infos) = self.permit_keys();
        let _: i64 = SET_INFO
            .key(holders)
            .key(infos)
            .arg(&permit.token)
            .arg(info)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    /// Gives the permit back.
    pub async fn release(&self, permit: &Permit) -> Result<()> {
        let (holders, infos) = self.permit_keys();
        redis::pipe()
            .atomic()
            .zrem(&holders, &permit.token)
            .hdel(&infos, &permit.token)
            .query_async::<()>(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    /// Every current holder (expired ones included until the next acquire drops them).
    pub async fn holders(&self) -> Result<Vec<Holder>> {
        let (holders, infos) = self.permit_keys();
        let mut conn = self.conn.clone();
        let scored: Vec<(String, i64)> = redis::cmd("ZRANGE")
            .arg(&holders)
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query_async(&mut conn)
            .await?;
        let mut out = Vec::with_capacity(scored.len());
        for (token, expiry) in scored {
            let info: Option<String> = redis::cmd("HGET")
                .arg(&infos)
                .arg(&token)
                .query_async(&mut conn)
                .await?;
            let info: Option<HolderInfo> = info.and_then(|s| serde_json::from_str(&s).ok());
            out.push(Holder {
                worker: info
                    .as_ref()
                    .map_or_else(|| "?".into(), |i| i.worker.clone()),
                job: info.as_ref().and_then(|i| i.job.clone()),
                since: info.map_or_else(|| "?".into(), |i| i.since),
                expires_at: ms_to_rfc3339(expiry),
                token,
            });
        }
        Ok(out)
    }

    /// Drops every holder; returns those dropped.
    pub async fn reset_permits(&self) -> Result<Vec<Holder>> {
        let dropped = self.holders().await?;
        let (holders, infos) = self.permit_keys();
        redis::pipe()
            .atomic()
            .del(&holders)
            .del(&infos)
            .query_async::<()>(&mut self.conn.clone())
            .await?;
        Ok(dropped)
    }
}
