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
use crate::backoff::Backoff;
use crate::time::ms_to_rfc3339;

/// KEYS: holders zset, holder info hash, epoch. ARGV: token, limit, lease ms, info.
/// Returns `{1, 0}` when the token holds a permit afterwards, `{0, 0}` when
/// every permit is taken, and `{-1, ms}` while grants are held back for `ms`
/// more (`{-2, ms}` from the call that found the epoch missing).
///
/// The epoch holds the Redis time from which permits may be granted. A Redis
/// without one is new or has lost its data (restarted without persistence,
/// failed over to an empty replica, flushed): holders it forgot may still have
/// a browser open until their own clocks stop them, within one lease of their
/// last renewal. So it writes an epoch one lease ahead and grants nothing
/// before it.
static ACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local lease = tonumber(ARGV[3])
        local from = tonumber(redis.call('GET', KEYS[3]))
        if not from then
            redis.call('SET', KEYS[3], now + lease)
            return {-2, lease}
        end
        if now < from then
            return {-1, from - now}
        end
        local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
        if #expired > 0 then
            redis.call('ZREM', KEYS[1], unpack(expired))
            redis.call('HDEL', KEYS[2], unpack(expired))
        end
        if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
            redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
            return {1, 0}
        end
        if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
            redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
            redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
            return {1, 0}
        end
        return {0, 0}
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
    #[serde(skip)]
    pub expiry_ms: i64,
}

/// A held permit. Dropping it does not release it: call `release`.
#[derive(Debug, Clone)]
pub struct Permit {
    pub token: String,
    pub worker: String,
    pub since: String,
    /// When the call that granted it was sent, on this host's monotonic
    /// clock: its lease runs from no later than this.
    pub asked_at: Instant,
}

/// What one attempt to take a permit found.
#[derive(Debug)]
enum Attempt {
    Granted(Permit),
    Full,
    /// Redis grants nothing for this long: it lost its holders (or is new)
    /// and waits one lease for any it forgot to stop. `first`: this attempt
    /// found the epoch missing.
    HeldBack {
        left: Duration,
        first: bool,
    },
}

impl Coordinator {
    fn permit_keys(&self) -> (String, String) {
        (self.key("permits"), self.key("permit-holders"))
    }

    /// One atomic attempt to take a permit.
    async fn try_acquire(&self, token: &str, worker: &str) -> Result<Attempt> {
        let since = ms_to_rfc3339(crate::time::now_ms());
        let info = serde_json::to_string(&HolderInfo {
            worker: worker.into(),
            job: None,
            since: since.clone(),
        })?;
        let (holders, infos) = self.permit_keys();
        let asked_at = Instant::now();
        let (got, left): (i64, i64) = ACQUIRE
            .key(holders)
            .key(infos)
            .key(self.key("permits-epoch"))
            .arg(token)
            .arg(self.limit)
            .arg(self.lease_ms())
            .arg(info)
            .invoke_async(&mut self.conn.clone())
            .await?;
        let left = Duration::from_millis(left.max(0) as u64);
        Ok(match got {
            1 => Attempt::Granted(Permit {
                token: token.into(),
                worker: worker.into(),
                since,
                asked_at,
            }),
            -2 => Attempt::HeldBack { left, first: true },
            -1 => Attempt::HeldBack { left, first: false },
            _ => Attempt::Full,
        })
    }

    /// Waits for a permit for at most `wait`, backing off from 20 ms to 500 ms
    /// between attempts (or until grants resume, when Redis holds them back).
    /// `None` when the wait ran out or `stop` turned true.
    pub async fn acquire(
        &self,
        token: &str,
        worker: &str,
        wait: Duration,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<Option<Permit>> {
        let deadline = Instant::now() + wait;
        let mut pause = Backoff::new(Duration::from_millis(20), Duration::from_millis(500));
        loop {
            if *stop.borrow() {
                return Ok(None);
            }
            let mut sleep = pause.next_jittered(0.25);
            match self.try_acquire(token, worker).await {
                Ok(Attempt::Granted(permit)) => return Ok(Some(permit)),
                Ok(Attempt::Full) => {}
                Ok(Attempt::HeldBack { left, first }) => {
                    if first {
                        tracing::warn!(
                            "Redis holds no permit epoch (it is new, or lost its data); \
                             no browser permit is granted for one lease ({:.1} s) while any holder it forgot stops",
                            left.as_secs_f64()
                        );
                    }
                    sleep = left + Duration::from_millis(rand::random_range(1..=20));
                }
                Err(err) => {
                    tracing::warn!(error = %format!("{err:#}"), "cannot reach Redis to take a browser permit; trying again")
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            tokio::select! {
                _ = tokio::time::sleep(sleep.min(deadline - now)) => {}
                _ = stop.changed() => {}
            }
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

    /// Every holder whose lease is live now, in Redis time: a holder whose
    /// lease ran out holds nothing, though the next acquire has yet to drop it.
    /// Fails with [`DamagedKey`] when the keys hold what no worker wrote.
    pub async fn holders(&self) -> Result<Vec<Holder>> {
        let now = self.server_time_ms().await?;
        let mut holders = self.all_holders().await?;
        holders.retain(|h| h.expiry_ms > now);
        Ok(holders)
    }

    /// Every holder in the keys, live or not.
    async fn all_holders(&self) -> Result<Vec<Holder>> {
        let (holders, infos) = self.permit_keys();
        let mut conn = self.conn.clone();
        self.expect_type(&holders, "zset", "a sorted set").await?;
        self.expect_type(&infos, "hash", "a hash").await?;
        let scored: Vec<(String, String)> = redis::cmd("ZRANGE")
            .arg(&holders)
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query_async(&mut conn)
            .await?;
        let mut out = Vec::with_capacity(scored.len());
        for (token, score) in scored {
            let expiry = score
                .parse::<f64>()
                .ok()
                .filter(|ms| ms.is_finite() && ms.fract() == 0.0 && ms.abs() < 1e15)
                .ok_or_else(|| {
                    DamagedKey(format!(
                        "`{holders}` holds `{}` with score `{}`, not a lease expiry in milliseconds",
                        crate::text::escaped(&token),
                        crate::text::escaped(&score)
                    ))
                })? as i64;
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
                expiry_ms: expiry,
                token,
            });
        }
        Ok(out)
    }

    /// Fails with [`DamagedKey`] when `key` exists and is not of `kind`.
    async fn expect_type(&self, key: &str, kind: &str, shown: &str) -> Result<()> {
        let found: String = redis::cmd("TYPE")
            .arg(key)
            .query_async(&mut self.conn.clone())
            .await?;
        if found != "none" && found != kind {
            return Err(DamagedKey(format!("`{key}` is a {found}, not {shown}")).into());
        }
        Ok(())
    }

    /// Redis server time, in milliseconds since the epoch.
    async fn server_time_ms(&self) -> Result<i64> {
        let (secs, micros): (i64, i64) = redis::cmd("TIME")
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(secs * 1000 + micros / 1000)
    }

    /// How long grants are still held back after Redis lost its holders (see
    /// `ACQUIRE`); zero when they are not.
    pub async fn held_back(&self) -> Result<Duration> {
        let from: Option<String> = redis::cmd("GET")
            .arg(self.key("permits-epoch"))
            .query_async(&mut self.conn.clone())
            .await
            .unwrap_or(None);
        let Some(from) = from.and_then(|f| f.parse::<i64>().ok()) else {
            return Ok(Duration::ZERO);
        };
        let now = self.server_time_ms().await?;
        Ok(Duration::from_millis((from - now).max(0) as u64))
    }

    /// Lets grants start at once on a Redis that holds no epoch, instead of
    /// one lease later; an epoch already there is kept. For a worker that
    /// knows no other worker is alive, so no holder can have been forgotten.
    pub async fn open_epoch_if_missing(&self) -> Result<bool> {
        let opened: Option<String> = redis::cmd("SET")
            .arg(self.key("permits-epoch"))
            .arg(0)
            .arg("NX")
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(opened.is_some())
    }

    /// Drops every holder, and the epoch with them: as after a flush, the
    /// next acquire holds grants back for one lease, while any worker still
    /// running under a dropped permit stops. Returns the holders dropped and,
    /// if the keys held what no worker wrote, what that was.
    pub async fn reset_permits(&self) -> Result<(Vec<Holder>, Option<String>)> {
        let (dropped, damaged) = match self.all_holders().await {
            Ok(holders) => (holders, None),
            Err(err) => match err.downcast::<DamagedKey>() {
                Ok(DamagedKey(what)) => (Vec::new(), Some(what)),
                Err(err) => return Err(err),
            },
        };
        let (holders, infos) = self.permit_keys();
        redis::pipe()
            .atomic()
            .del(&holders)
            .del(&infos)
            .del(self.key("permits-epoch"))
            .query_async::<()>(&mut self.conn.clone())
            .await?;
        Ok((dropped, damaged))
    }
}

/// The permit keys hold something no worker wrote (another program under the
/// same prefix, a hand edit): `reset-semaphore` clears them.
#[derive(Debug)]
pub struct DamagedKey(pub String);

impl std::fmt::Display for DamagedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the browser permit keys are damaged: {}; clear them with `reporter reset-semaphore --yes`",
            self.0
        )
    }
}

impl std::error::Error for DamagedKey {}
