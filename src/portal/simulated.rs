//! `[portal] kind = "simulated"`: no browser. Pending orders are deterministic
//! per user and run, each step sleeps its configured time, and a share
//! `failure_rate` of steps (a download, or a session's run of reports) fails
//! at a random point, as a portal error would. Every submitted report is appended to
//! `report_log` as a JSON line, which is also the portal's memory of what it
//! has received.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, Result};

use super::{OrderToReport, Pending, Portal, PortalSession, PortalUser, StepError};
use crate::config::{SimulatedPortal, estimated_pending};

pub struct Simulated {
    settings: SimulatedPortal,
    factor: f64,
    memory: Arc<Mutex<Memory>>,
}

/// What the portal has received: the report log, read incrementally, or
/// (without a log) this process's own submits.
struct Memory {
    log: Option<(PathBuf, File)>,
    read_to: u64,
    partial: String,
    /// Orders received, by user.
    seen: HashMap<String, HashSet<String>>,
}

impl Simulated {
    pub fn new(settings: SimulatedPortal, factor: f64) -> Result<Simulated> {
        let log = match &settings.report_log {
            Some(path) => {
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .read(true)
                    .open(path)
                    .with_context(|| {
                        format!(
                            "cannot open the simulated portal's report_log `{}`",
                            path.display()
                        )
                    })?;
                Some((path.clone(), file))
            }
            None => None,
        };
        let memory = Memory {
            log,
            read_to: 0,
            partial: String::new(),
            seen: HashMap::new(),
        };
        Ok(Simulated {
            settings,
            factor,
            memory: Arc::new(Mutex::new(memory)),
        })
    }
}

impl Memory {
    /// Reads what other processes appended since the last look.
    fn catch_up(&mut self) -> std::io::Result<()> {
        let Some((_, file)) = &mut self.log else {
            return Ok(());
        };
        file.seek(SeekFrom::Start(self.read_to))?;
        let mut fresh = String::new();
        let read = file.read_to_string(&mut fresh)?;
        self.read_to += read as u64;
        self.partial.push_str(&fresh);
        while let Some(end) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=end).collect();
            if let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line)
                && let (Some(user), Some(order)) = (entry["user"].as_str(), entry["order"].as_str())
            {
                self.remember(user, order);
            }
        }
        Ok(())
    }

    fn holds(&mut self, user: &str, order: &str) -> std::io::Result<bool> {
        self.catch_up()?;
        Ok(self
            .seen
            .get(user)
            .is_some_and(|orders| orders.contains(order)))
    }

    fn remember(&mut self, user: &str, order: &str) {
        if let Some(orders) = self.seen.get_mut(user) {
            orders.insert(order.to_string());
        } else {
            self.seen
                .insert(user.to_string(), HashSet::from([order.to_string()]));
        }
    }

    /// Appends one report in a single write, so lines from several processes never interleave.
    fn record(&mut self, user: &str, order: &str, run_id: i64) -> std::io::Result<()> {
        if let Some((_, file)) = &mut self.log {
            let mut line =
                serde_json::json!({"user": user, "order": order, "run_id": run_id}).to_string();
            line.push('\n');
            file.write_all(line.as_bytes())?;
        } else {
            self.remember(user, order);
        }
        Ok(())
    }
}

pub struct SimulatedSession {
    user: PortalUser,
    /// Reports this session submits before its injected failure, if doomed.
    fails_after: Option<u32>,
    reported: u32,
    /// When the last report step was due to end: consecutive steps sleep to
    /// deadlines, so the timer's rounding (up to a millisecond a sleep) does
    /// not add up over a range and each order takes `report_ms` on average.
    report_due: Option<tokio::time::Instant>,
    settings: SimulatedPortal,
    factor: f64,
    memory: Arc<Mutex<Memory>>,
}

impl Portal for Simulated {
    type Session = SimulatedSession;

    async fn login(&self, user: &PortalUser) -> Result<SimulatedSession, StepError> {
        let doomed =
            self.settings.failure_rate > 0.0 && rand::random::<f64>() < self.settings.failure_rate;
        Ok(SimulatedSession {
            user: user.clone(),
            fails_after: doomed.then(|| rand::random_range(0..100)),
            reported: 0,
            report_due: None,
            settings: self.settings.clone(),
            factor: self.factor,
            memory: self.memory.clone(),
        })
    }
}

impl SimulatedSession {
    /// Fails a doomed session once it has done its share of the step.
    fn maybe_fail(&self, step: impl FnOnce() -> String) -> Result<(), StepError> {
        // A doomed session fails every step from then on, as a browser that
        // died does: the job stops and is tried again.
        if self.fails_after.is_some_and(|n| self.reported >= n) {
            return Err(StepError::Browser(format!(
                "simulated portal failure while {}",
                step()
            )));
        }
        Ok(())
    }

    fn io_error(err: std::io::Error) -> StepError {
        StepError::Retryable(format!("simulated portal cannot use its report_log: {err}"))
    }
}

impl PortalSession for SimulatedSession {
    async fn download_pending(&mut self) -> Result<Pending, StepError> {
        sleep(self.settings.download).await;
        if self.fails_after.is_some() {
            return Err(StepError::Browser(
                "simulated portal failure while downloading the orders export".into(),
            ));
        }
        let count = match self.settings.pending_orders {
            Some(n) => i64::from(n),
            None => estimated_pending(self.user.monthly_orders_estimate, self.factor),
        };
        Ok(Pending::Decided(
            (1..=count)
                .map(|seq| {
                    OrderToReport::new(format!("{}-r{}-{seq:05}", self.user.name, self.user.run_id))
                })
                .collect(),
        ))
    }

    async fn already_reported(&mut self, order: &OrderToReport) -> Result<bool, StepError> {
        let mut memory = self.memory.lock().expect("portal memory");
        memory
            .holds(&self.user.name, &order.id)
            .map_err(Self::io_error)
    }

    async fn prepare_report(&mut self, order: &OrderToReport) -> Result<(), StepError> {
        let step = self.settings.report;
        if !step.is_zero() {
            let now = tokio::time::Instant::now();
            // Carry on from the previous deadline unless the session was idle longer than a step.
            let due = match self.report_due {
                Some(previous) if previous + step >= now => previous + step,
                _ => now + step,
            };
            self.report_due = Some(due);
            tokio::time::sleep_until(due).await;
        }
        self.maybe_fail(|| format!("reporting order {}", order.id))
    }

    async fn submit_report(&mut self, order: &OrderToReport) -> Result<bool, StepError> {
        self.reported += 1;
        let mut memory = self.memory.lock().expect("portal memory");
        memory
            .record(&self.user.name, &order.id, self.user.run_id)
            .map_err(Self::io_error)?;
        Ok(true)
    }

    async fn close(self) {}
}

async fn sleep(duration: std::time::Duration) {
    if !duration.is_zero() {
        tokio::time::sleep(duration).await;
    }
}
