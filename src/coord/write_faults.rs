//! Database writes that fail, as each worker saw them: a full disk stops
//! every write, `status` and the metrics must say so, and they cannot learn
//! it from the database itself. A worker publishes its last failed write
//! with each heartbeat while writes fail and removes it once one lands; an
//! entry not refreshed for two leases belongs to a worker that is gone.

use anyhow::Result;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};

use super::Coordinator;
use crate::time::now_ms;

/// One worker's failing database writes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WriteFault {
    pub worker: String,
    /// The database file.
    pub path: String,
    /// `disk full` or `write failed`.
    pub fault: String,
    /// SQLite's words.
    pub error: String,
    /// Unix milliseconds of the worker's last report.
    pub seen_ms: i64,
}

impl Coordinator {
    fn write_faults_key(&self) -> String {
        self.key("database-write-faults")
    }

    /// Publishes that this worker's database writes fail.
    pub async fn report_write_fault(
        &self,
        worker: &str,
        path: &str,
        fault: &str,
        error: &str,
    ) -> Result<()> {
        let entry = WriteFault {
            worker: worker.to_string(),
            path: path.to_string(),
            fault: fault.to_string(),
            error: error.to_string(),
            seen_ms: now_ms(),
        };
        let _: () = self
            .conn
            .clone()
            .hset(
                self.write_faults_key(),
                worker,
                serde_json::to_string(&entry)?,
            )
            .await?;
        Ok(())
    }

    /// Withdraws this worker's entry: its writes land again.
    pub async fn clear_write_fault(&self, worker: &str) -> Result<()> {
        let _: () = self
            .conn
            .clone()
            .hdel(self.write_faults_key(), worker)
            .await?;
        Ok(())
    }

    /// The live workers' failing writes, by worker.
    pub async fn write_faults(&self) -> Result<Vec<WriteFault>> {
        let entries: Vec<(String, String)> =
            self.conn.clone().hgetall(self.write_faults_key()).await?;
        let fresh_after = now_ms() - 2 * self.lease_ms() as i64;
        let mut faults: Vec<WriteFault> = entries
            .iter()
            .filter_map(|(_, json)| serde_json::from_str::<WriteFault>(json).ok())
            .filter(|fault| fault.seen_ms >= fresh_after)
            .collect();
        faults.sort_by(|a, b| a.worker.cmp(&b.worker));
        Ok(faults)
    }
}
