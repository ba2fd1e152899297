//! A connection on a thread of its own, fed by a channel: async code sends a
//! call and awaits its answer, so a statement that waits on another process's
//! lock (up to `BUSY_TIMEOUT`) holds up only the callers that need the
//! database, never the async runtime's threads and what else runs on them
//! (permit renewals, browser steps).

use std::sync::mpsc;
use std::thread::JoinHandle;

use anyhow::{Context as _, Result, anyhow};
use rusqlite::Connection;
use tokio::sync::oneshot;

use super::busy;

type Call = Box<dyn FnOnce(&mut Connection) + Send>;

enum Message {
    Call(Call),
    /// Close the connection and end the thread, after the calls sent before.
    Stop,
}

/// The owner of the thread: dropping it runs the calls already sent, closes
/// the connection and joins the thread.
pub struct DbThread {
    caller: DbCaller,
    thread: Option<JoinHandle<()>>,
}

/// Sends calls to a `DbThread`; cheap to clone.
#[derive(Clone)]
pub struct DbCaller {
    calls: mpsc::Sender<Message>,
}

impl DbThread {
    pub fn start(mut conn: Connection) -> Result<DbThread> {
        let (calls, received) = mpsc::channel::<Message>();
        let thread = std::thread::Builder::new()
            .name("database".into())
            .spawn(move || {
                while let Ok(Message::Call(call)) = received.recv() {
                    call(&mut conn);
                }
            })
            .context("cannot start the database thread")?;
        Ok(DbThread {
            caller: DbCaller { calls },
            thread: Some(thread),
        })
    }

    /// Runs `f` on the database thread and waits for its answer without
    /// holding up the runtime.
    pub async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.caller.call(f).await
    }

    pub fn caller(&self) -> DbCaller {
        self.caller.clone()
    }
}

impl DbCaller {
    /// Runs `f` on the database thread; its answer comes on a oneshot. An
    /// error that is SQLite's busy timeout says who likely holds the lock.
    pub async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.send(f)?
            .await
            .map_err(|_| anyhow!("the database thread stopped"))?
    }

    /// As `call`, from a thread outside the async runtime (the checkpointer).
    pub fn call_blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.send(f)?
            .blocking_recv()
            .map_err(|_| anyhow!("the database thread stopped"))?
    }

    fn send<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<oneshot::Receiver<Result<T>>> {
        let (answer, answered) = oneshot::channel();
        let call: Call = Box::new(move |conn| {
            let result = f(conn).map_err(|err| busy::explain(conn, err));
            // The caller may have stopped waiting (a task aborted): the call
            // ran all the same.
            let _ = answer.send(result);
        });
        self.calls
            .send(Message::Call(call))
            .map_err(|_| anyhow!("the database thread stopped"))?;
        Ok(answered)
    }
}

impl Drop for DbThread {
    fn drop(&mut self) {
        let _ = self.caller.calls.send(Message::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn calls_run_in_order_on_the_thread_and_their_answers_come_back() {
        let dir = tempfile::tempdir().unwrap();
        let db = DbThread::start(super::super::open(&dir.path().join("t.db")).unwrap()).unwrap();
        db.call(|c| Ok(c.execute_batch("CREATE TABLE t (n INTEGER)")?))
            .await
            .unwrap();
        for n in 0..3 {
            db.call(move |c| Ok(c.execute("INSERT INTO t VALUES (?1)", [n])?))
                .await
                .unwrap();
        }
        let caller = db.caller();
        let sum = std::thread::spawn(move || {
            caller.call_blocking(|c| {
                Ok(c.query_row("SELECT SUM(n) FROM t", [], |r| r.get::<_, i64>(0))?)
            })
        })
        .join()
        .unwrap()
        .unwrap();
        assert_eq!(sum, 3);
        let thread = db
            .call(|_| Ok(std::thread::current().name().map(String::from)))
            .await;
        assert_eq!(thread.unwrap().as_deref(), Some("database"));
    }
}
