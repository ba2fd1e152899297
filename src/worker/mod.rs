//! The `work` loop: N job slots, each taking a browser permit, claiming jobs
//! while it holds one, running them under a renewed lease, and giving the
//! permit back when there is no job.

mod download;
mod job;
mod lease;
mod renewal;
mod report;

use lease::{LeaseState, Stop};

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::Result;
use rusqlite::Connection;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::backoff::Backoff;
use crate::config::Config;
use crate::coord::{Coordinator, Permit};
use crate::db;
use crate::db::health::{self, Fault};
use crate::db::workers;
use crate::error::Malformed;
use crate::notify::Notifier;
use crate::portal::{Portal, PortalSession};
use crate::queue::{self, ClaimNext};
use crate::run_state::{self, Next};
use crate::time::now_ms;

/// How a worker was asked to run.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    pub id: String,
    pub concurrency: usize,
    pub until_idle: bool,
}

/// One `reporter work` process.
pub struct Worker<P: Portal> {
    pub id: String,
    config: Config,
    db: db::DbThread,
    coord: Coordinator,
    portal: P,
    notify: Notifier,
    stop: watch::Sender<bool>,
    /// Permits held and jobs running now, for `STATUS=` lines and logs.
    pub held: AtomicUsize,
    pub running: AtomicUsize,
    pub jobs_done: AtomicUsize,
    /// The database file, for what the worker says of it.
    db_path: PathBuf,
    /// Set once a database call found the file malformed: the worker stops
    /// claiming and exits with this line.
    malformed: OnceLock<String>,
    /// The last database call that failed in the file system (a full disk),
    /// until a heartbeat's write lands again; published for `status`.
    write_fault: Mutex<Option<(Fault, String)>>,
}

/// Why a slot stopped serving jobs under its permit.
enum Served {
    /// No job was claimable.
    Idle,
    /// The permit is gone (expired, reset, Redis restarted): take another.
    PermitLost,
    /// Shutdown was asked.
    Stopped,
    /// No browser session within `browser.session_timeout`: give the permit
    /// back and wait a while before taking one again.
    NoSession,
}

/// The first wait of a slot that got no browser session before it takes a
/// permit again; it doubles while sessions keep failing to come.
const NO_SESSION_PAUSE: Duration = Duration::from_secs(1);
const NO_SESSION_PAUSE_MAX: Duration = Duration::from_secs(30);

impl<P: Portal> Worker<P> {
    pub fn new(
        config: Config,
        db: Connection,
        coord: Coordinator,
        portal: P,
        id: String,
    ) -> Result<Arc<Self>> {
        let (stop, _) = watch::channel(false);
        let db_path = db.path().map(PathBuf::from).unwrap_or_default();
        Ok(Arc::new(Worker {
            id,
            config,
            db: db::DbThread::start(db)?,
            coord,
            portal,
            notify: Notifier::from_env(),
            stop,
            held: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            jobs_done: AtomicUsize::new(0),
            db_path,
            malformed: OnceLock::new(),
            write_fault: Mutex::new(None),
        }))
    }

    /// Asks every slot to stop claiming, hand back what it holds and exit.
    pub fn shut_down(&self) {
        self.stop.send_replace(true);
    }

    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Runs a database call on this worker's connection, on its database
    /// thread: a call held up by another process's write lock holds up the
    /// tasks that wait for its answer, not the runtime, so permit renewals
    /// and browser steps go on. A malformed file stops the worker; a write
    /// that failed in the file system is remembered for `status`.
    async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let result = self.db.call(f).await;
        if let Err(err) = &result {
            self.database_failed(err);
        }
        result
    }

    fn database_failed(&self, err: &anyhow::Error) {
        match health::fault(err) {
            Some(Fault::Malformed) => {
                let mut first = false;
                self.malformed.get_or_init(|| {
                    first = true;
                    health::malformed_line(&self.db_path, err)
                });
                // The worker exits with the line once its slots have stopped.
                if first {
                    self.shut_down();
                }
            }
            Some(fault) => {
                let error = err.root_cause().to_string();
                *self.write_fault.lock().expect("write fault") = Some((fault, error));
            }
            None => {}
        }
    }

    /// Tells `status` and the metrics, through Redis, whether this worker's
    /// database writes are failing (the entry expires if the worker dies).
    async fn publish_write_fault(&self) {
        let fault = self.write_fault.lock().expect("write fault").clone();
        let published = match &fault {
            Some((fault, error)) => {
                let path = self.db_path.display().to_string();
                self.coord
                    .report_write_fault(&self.id, &path, fault.name(), error)
                    .await
            }
            None => self.coord.clear_write_fault(&self.id).await,
        };
        if let Err(err) = published {
            tracing::debug!(error = %format!("{err:#}"), "cannot publish the database's write health");
        }
    }

    /// Whether the database was found malformed: nothing more is claimed.
    fn is_malformed(&self) -> bool {
        self.malformed.get().is_some()
    }

    /// Runs the slots until shutdown (or, with `until_idle`, until no job is
    /// left anywhere), then waits up to `drain` for them to hand back their work.
    pub async fn run(self: &Arc<Self>, options: &WorkerOptions, drain: Duration) -> Result<()> {
        self.register(options.concurrency).await?;
        self.open_permits_if_alone().await;
        let checkpointer = self.start_checkpointer().await;
        self.notify.ready();
        let mut slots = JoinSet::new();
        for n in 0..options.concurrency {
            let worker = self.clone();
            let until_idle = options.until_idle;
            slots.spawn(async move { worker.slot(n, until_idle).await });
        }
        let heartbeat = tokio::spawn(self.clone().heartbeat());
        let mut stop = self.stopping();
        let mut failure = None;
        loop {
            tokio::select! {
                joined = slots.join_next() => match joined {
                    None => break,
                    Some(Ok(Ok(()))) => {}
                    Some(Ok(Err(err))) => { failure.get_or_insert(err); self.shut_down(); }
                    Some(Err(err)) => { failure.get_or_insert(err.into()); self.shut_down(); }
                },
                _ = stop.changed() => {
                    self.notify.stopping();
                    self.notify.status("stopping: handing back work and releasing permits");
                    tracing::info!(worker = %self.id, "stopping: handing back work and releasing permits");
                    if tokio::time::timeout(drain, async { while slots.join_next().await.is_some() {} }).await.is_err() {
                        tracing::warn!(worker = %self.id, "slots did not stop within {drain:?}; their leases will expire");
                        slots.abort_all();
                    }
                    break;
                }
            }
        }
        heartbeat.abort();
        self.stop_checkpointer(checkpointer).await;
        if let Some(line) = self.malformed.get() {
            return Err(Malformed(line.clone()).into());
        }
        self.unregister().await;
        self.write_fault.lock().expect("write fault").take();
        self.publish_write_fault().await;
        failure.map_or(Ok(()), Err)
    }

    async fn slot(self: Arc<Self>, n: usize, until_idle: bool) -> Result<()> {
        let mut stop = self.stopping();
        let mut idle_pause = Backoff::new(Duration::from_millis(25), Duration::from_secs(1));
        let mut no_session_pause = Backoff::new(NO_SESSION_PAUSE, NO_SESSION_PAUSE_MAX);
        while !*stop.borrow() {
            let token = format!("{}:{n}:{:016x}", self.id, rand::random::<u64>());
            let permit = self
                .coord
                .acquire(&token, &self.id, self.config.semaphore_ttl, &mut stop)
                .await?;
            let Some(permit) = permit else {
                if !*stop.borrow() {
                    tracing::warn!(worker = %self.id, "no browser permit within semaphore_ttl; still waiting");
                }
                continue;
            };
            self.held.fetch_add(1, Ordering::Relaxed);
            let permit_lease = Arc::new(LeaseState::since(self.config.lease_ttl, permit.asked_at));
            let keeper = tokio::spawn(
                self.clone()
                    .keep_permit(permit.clone(), permit_lease.clone()),
            );
            let served = self.serve(&permit, &permit_lease, &mut stop).await;
            keeper.abort();
            self.held.fetch_sub(1, Ordering::Relaxed);
            if let Err(err) = self.coord.release(&permit).await {
                tracing::warn!(error = %format!("{err:#}"), "cannot release a browser permit; it expires with its lease");
            }
            if !matches!(served, Served::NoSession) {
                no_session_pause.reset();
            }
            match served {
                Served::Stopped => break,
                Served::NoSession => {
                    // Other slots and workers may get sessions meanwhile.
                    let pause = no_session_pause.next_jittered(0.25);
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = stop.changed() => {}
                    }
                }
                Served::PermitLost => idle_pause.reset(),
                Served::Idle => {
                    if until_idle && self.db(|c| queue::is_idle(c)).await? {
                        return Ok(());
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(idle_pause.next_delay()) => {}
                        _ = stop.changed() => {}
                    }
                }
            }
        }
        Ok(())
    }

    /// Claims and runs jobs for as long as the permit holds and jobs come.
    /// A browser session left logged in by a job is kept for the next job
    /// of the same user (which the claim prefers) and closed on the way out.
    async fn serve(
        self: &Arc<Self>,
        permit: &Permit,
        permit_lease: &Arc<LeaseState>,
        stop: &mut watch::Receiver<bool>,
    ) -> Served {
        let mut kept = None;
        // A job claimed together with the completion of the one before it,
        // under the same permit check a claim here makes.
        let mut next = Next::Untried;
        let served = loop {
            let job = match std::mem::replace(&mut next, Next::Untried) {
                Next::Claimed(job) => job,
                Next::Idle => break Served::Idle,
                Next::Untried => {
                    if self.is_malformed() {
                        break Served::Stopped;
                    }
                    match permit_lease.check(stop) {
                        Ok(()) => {}
                        Err(Stop::Shutdown) => break Served::Stopped,
                        Err(_) => break Served::PermitLost,
                    }
                    let prefer = kept.as_ref().map(|k: &job::KeptSession<P>| k.run_user_id);
                    let claim = ClaimNext {
                        worker: self.id.clone(),
                        lease: self.config.lease_ttl,
                        prefer_run_user: prefer,
                        max_lease_expiries: self.config.retry.max_lease_expiries,
                    };
                    let claimed = self.db(move |c| run_state::claim(c, &claim)).await;
                    match claimed {
                        Ok(Some(job)) => job,
                        Ok(None) => break Served::Idle,
                        Err(_) if self.is_malformed() => break Served::Stopped,
                        Err(err) => {
                            tracing::warn!(error = %format!("{err:#}"), "cannot claim a job; trying again");
                            break Served::Idle;
                        }
                    }
                }
            };
            self.running.fetch_add(1, Ordering::Relaxed);
            // Every event of the job, the portal's included, carries these fields.
            let span = tracing::info_span!(
                "job",
                worker = %self.id,
                run = job.run_id,
                user = %job.user,
                range = %job.range.map_or("download".to_string(), |r| format!("{}-{}", r.start, r.end)),
            );
            let end = self
                .run_job(permit, permit_lease, job, stop, &mut kept)
                .instrument(span)
                .await;
            self.running.fetch_sub(1, Ordering::Relaxed);
            match end {
                job::JobEnd::Finished(claimed) => next = claimed,
                job::JobEnd::PermitLost => break Served::PermitLost,
                job::JobEnd::Stopped => break Served::Stopped,
                job::JobEnd::NoSession => break Served::NoSession,
            }
        };
        if let Some(kept) = kept {
            kept.session.close().await;
        }
        served
    }

    /// Renews the permit every third of a lease for as long as the slot holds
    /// it, across all the jobs it serves; marks it lost when it is gone.
    async fn keep_permit(self: Arc<Self>, permit: Permit, lease: Arc<LeaseState>) {
        let mut tick = tokio::time::interval(self.config.lease_ttl / 3);
        tick.tick().await;
        loop {
            tick.tick().await;
            let sent = std::time::Instant::now();
            match self.coord.renew(&permit).await {
                Ok(true) => lease.renewed_at(sent),
                Ok(false) => {
                    lease.lose(Stop::PermitLost);
                    return;
                }
                Err(err) => {
                    tracing::warn!(error = %format!("{err:#}"), "cannot renew the browser permit; trying again")
                }
            }
        }
    }

    /// Moves the checkpoints of the worker's writes to a thread of their own
    /// (see `db::Checkpointer`). Without one (a database without a file, or
    /// no thread), the connection checkpoints as it commits, as usual.
    async fn start_checkpointer(&self) -> Option<db::Checkpointer> {
        let path = self
            .db(|c| Ok(c.path().map(std::path::PathBuf::from)))
            .await
            .ok()??;
        if path.as_os_str().is_empty() {
            return None;
        }
        // The checkpointer's thread waits for its answers itself.
        let caller = self.db.caller();
        let finish = move || caller.call_blocking(|c| db::checkpoint(c));
        let started = match db::Checkpointer::start(&path, finish) {
            Ok(checkpointer) => self
                .db(|c| Ok(c.pragma_update(None, "wal_autocheckpoint", 0)?))
                .await
                .map(|()| checkpointer),
            Err(err) => Err(err),
        };
        match started {
            Ok(checkpointer) => Some(checkpointer),
            Err(err) => {
                tracing::warn!(error = %format!("{err:#}"), "no checkpointer thread; the worker checkpoints as it commits");
                None
            }
        }
    }

    async fn stop_checkpointer(&self, checkpointer: Option<db::Checkpointer>) {
        if let Some(checkpointer) = checkpointer {
            // Its thread joins on drop, after the call it may be waiting for.
            tokio::task::block_in_place(|| drop(checkpointer));
            let restored = self
                .db(|c| {
                    c.pragma_update(None, "wal_autocheckpoint", db::WAL_AUTOCHECKPOINT)?;
                    Ok(())
                })
                .await;
            if let Err(err) = restored {
                tracing::warn!(error = %format!("{err:#}"), "cannot turn the connection's own checkpoints back on");
            }
        }
    }

    /// Registers the worker for `status`.
    async fn register(&self, concurrency: usize) -> Result<()> {
        let host = hostname();
        let id = self.id.clone();
        self.db(move |c| workers::register(c, &id, &host, concurrency, now_ms()))
            .await
    }

    /// A Redis with no permit epoch (new, or restarted empty) grants nothing
    /// for one lease, for holders it may have forgotten. Those can only be
    /// workers still alive: when the database shows no other worker
    /// heartbeating within a lease, there is no one to wait for.
    async fn open_permits_if_alone(&self) {
        let id = self.id.clone();
        let after = now_ms() - self.config.lease_ttl.as_millis() as i64;
        let others = self
            .db(move |c| {
                let seen = workers::seen_since(c, after)?;
                Ok(seen.into_iter().filter(|w| w.id != id).count())
            })
            .await;
        if !matches!(others, Ok(0)) {
            return;
        }
        match self.coord.open_epoch_if_missing().await {
            Ok(true) => {
                tracing::debug!(worker = %self.id, "no other worker is alive: browser permits are granted at once")
            }
            Ok(false) => {}
            Err(err) => {
                tracing::debug!(error = %format!("{err:#}"), "cannot open the permit epoch; the first grant may wait one lease")
            }
        }
    }

    async fn unregister(&self) {
        let id = self.id.clone();
        let result = self.db(move |c| workers::stopped(c, &id, now_ms())).await;
        if let Err(err) = result {
            tracing::warn!(error = %format!("{err:#}"), "cannot record that the worker stopped");
        }
    }

    /// Every third of a lease (or half the systemd watchdog timeout, if
    /// shorter): records the worker as alive, checks Redis answers, and only
    /// then pings the watchdog and updates `STATUS=`. The database and Redis
    /// are asked at once: a locked database holds up neither the ping nor
    /// anything else of the worker's, but the watchdog waits for both.
    async fn heartbeat(self: Arc<Self>) {
        let every = match self.notify.watchdog_interval() {
            Some(watchdog) => watchdog.min(self.config.lease_ttl / 3),
            None => self.config.lease_ttl / 3,
        };
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let id = self.id.clone();
            let seen = self.db(move |c| workers::seen(c, &id, now_ms()));
            let (seen, pinged) = tokio::join!(seen, self.coord.ping());
            if seen.is_ok() {
                // A write landed: the database takes writes again.
                self.write_fault.lock().expect("write fault").take();
            }
            self.publish_write_fault().await;
            // A write refused by a full disk still means the worker and its
            // database answer: the watchdog is pinged (a restart would help
            // nothing and lose the outcomes kept for retrying), and STATUS=
            // says what fails.
            let writes_failing = match &seen {
                Err(err) => health::fault(err).filter(|f| *f != Fault::Malformed),
                Ok(()) => None,
            };
            let healthy = match (seen, pinged) {
                (Ok(()), Ok(())) => true,
                (Err(_), Ok(())) if writes_failing.is_some() => true,
                (Err(err), _) | (_, Err(err)) => {
                    tracing::warn!(error = %format!("{err:#}"), "worker heartbeat failed");
                    false
                }
            };
            if healthy {
                self.notify.watchdog();
                let mut status = format!(
                    "{} of {} browser permits held, {} jobs running, {} done",
                    self.held.load(Ordering::Relaxed),
                    self.coord.limit(),
                    self.running.load(Ordering::Relaxed),
                    self.jobs_done.load(Ordering::Relaxed)
                );
                if let Some(fault) = writes_failing {
                    status = format!(
                        "database writes failing ({}: {}); {status}",
                        fault.name(),
                        self.db_path.display()
                    );
                }
                self.notify.status(&status);
            }
        }
    }
}

/// This host's name, for worker ids and `status`.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
