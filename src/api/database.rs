//! SQLite for the API, off the async threads: reads on a small pool of
//! connections, writes on one connection in `BEGIN IMMEDIATE` transactions
//! taken in turn (so racing requests queue here, not on SQLite's busy timeout),
//! and the slot list cached until the database changes.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, Result};
use bytes::Bytes;
use rusqlite::Connection;
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::db::{self, slots};

use super::reply::ApiError;

/// Reading connections open at once.
const READERS: usize = 8;

pub struct Database {
    path: PathBuf,
    readers: Arc<Mutex<Vec<Connection>>>,
    reading: Semaphore,
    writer: Arc<tokio::sync::Mutex<Connection>>,
    slots: Arc<SlotsCache>,
}

impl Database {
    pub fn open(path: &Path, factor: f64) -> Result<Database> {
        let writer = db::open(path)?;
        Ok(Database {
            path: path.to_owned(),
            readers: Arc::new(Mutex::new(Vec::new())),
            reading: Semaphore::new(READERS),
            writer: Arc::new(tokio::sync::Mutex::new(writer)),
            slots: Arc::new(SlotsCache {
                conn: Mutex::new(db::open(path)?),
                factor,
                cached: Mutex::new(None),
            }),
        })
    }

    /// Runs `f` on a reading connection, on a blocking thread.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let _permit = self.reading.acquire().await.expect("never closed");
        let readers = self.readers.clone();
        let path = self.path.clone();
        blocking(move || {
            let taken = readers.lock().expect("reader pool").pop();
            let conn = match taken {
                Some(conn) => conn,
                None => db::open(&path).map_err(|err| ApiError::internal(&err))?,
            };
            let result = f(&conn);
            readers.lock().expect("reader pool").push(conn);
            result
        })
        .await
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction on the writing
    /// connection; an error rolls everything back.
    pub async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let mut conn = self.writer.clone().lock_owned().await;
        blocking(move || {
            let written = (|| {
                let tx = conn
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .context("cannot start a database transaction")?;
                let value = f(&tx)?;
                tx.commit().context("cannot commit to the database")?;
                Ok(value)
            })();
            if written.is_err()
                && let Err(err) = crate::db::roll_back_if_open(&conn)
            {
                tracing::error!(error = %err, "cannot roll back a failed write; the next write may fail");
            }
            written
        })
        .await
    }

    /// The slot list, to be read from a database thread.
    pub fn slots(&self) -> Arc<SlotsCache> {
        self.slots.clone()
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|err| Err(ApiError::internal(&anyhow::anyhow!("database task: {err}"))))
}

/// One slot in the API: the CLI's fields plus the original API's `slot_id`.
#[derive(Serialize)]
struct SlotView {
    slot_id: i64,
    #[serde(flatten)]
    slot: slots::Slot,
}

/// The slot list, kept until `PRAGMA data_version` (which moves whenever
/// another connection, in this process or another, commits) says otherwise.
pub struct SlotsCache {
    conn: Mutex<Connection>,
    factor: f64,
    cached: Mutex<Option<(i64, Bytes)>>,
}

impl SlotsCache {
    /// The 24 slots as the JSON body of `GET slots/`. Blocks: call it on a
    /// database thread.
    pub fn json(&self) -> Result<Bytes, ApiError> {
        let conn = self.conn.lock().expect("slots connection");
        let version: i64 = conn
            .prepare_cached("PRAGMA data_version")
            .and_then(|mut stmt| stmt.query_row([], |r| r.get(0)))
            .context("cannot read the database's data_version")?;
        if let Some((seen, body)) = self.cached.lock().expect("slots cache").as_ref()
            && *seen == version
        {
            return Ok(body.clone());
        }
        let list: Vec<SlotView> = slots::list(&conn, self.factor)?
            .into_iter()
            .map(|slot| SlotView {
                slot_id: slot.hour,
                slot,
            })
            .collect();
        let body = Bytes::from(serde_json::to_vec(&list).context("cannot encode the slots")?);
        *self.cached.lock().expect("slots cache") = Some((version, body.clone()));
        Ok(body)
    }
}
