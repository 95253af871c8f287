//! The single writer. Every write is a job sent to one thread that owns the write
//! connection; the thread runs all jobs waiting at that moment in ONE transaction (each in
//! its own savepoint, so one failing job does not undo the others) and answers each job
//! only after the COMMIT that holds it. With synchronous=FULL this turns a burst of N
//! notifications into one fsync instead of N, while still answering 200 only once a row
//! is durable.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::StoreError;

/// Bounds one transaction so a flood cannot grow a batch (and its latency) without limit.
const MAX_BATCH: usize = 1024;

trait Job: Send {
    fn run(&mut self, conn: &Connection);
    fn finish(self: Box<Self>, commit: Result<(), StoreError>);
}

struct TypedJob<T, F> {
    work: Option<F>,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Job for TypedJob<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
{
    fn run(&mut self, conn: &Connection) {
        let Some(work) = self.work.take() else {
            return;
        };
        // Cached statements: parsing these per job was a third of the writer's time.
        let exec = |sql: &str| -> Result<(), StoreError> {
            conn.prepare_cached(sql)?.execute([])?;
            Ok(())
        };
        let result = match exec("SAVEPOINT job") {
            Err(e) => Err(e),
            Ok(()) => {
                let r = work(conn);
                let end = if r.is_ok() {
                    exec("RELEASE job")
                } else {
                    exec("ROLLBACK TO job").and_then(|()| exec("RELEASE job"))
                };
                end.and(r)
            }
        };
        self.result = Some(result);
    }

    fn finish(self: Box<Self>, commit: Result<(), StoreError>) {
        let outcome = match (commit, self.result) {
            (Err(e), _) => Err(e),
            (Ok(()), Some(r)) => r,
            (Ok(()), None) => Err(StoreError::WriterGone),
        };
        // The caller may have given up waiting; nothing to do then.
        let _ = self.reply.send(outcome);
    }
}

#[derive(Clone)]
pub struct Writer {
    tx: mpsc::UnboundedSender<Box<dyn Job>>,
    /// Transactions committed so far: tests and diagnostics compare it with rows written.
    commits: Arc<AtomicU64>,
}

impl Writer {
    /// `dir` is the database's folder, probed to name an I/O failure (see `classify`).
    pub fn spawn(conn: Connection, dir: PathBuf) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        let commits = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&commits);
        thread::Builder::new()
            .name("tillwatch-store-writer".into())
            .spawn(move || run(conn, rx, dir, &counter))?;
        Ok(Self { tx, commits })
    }

    pub fn commit_count(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    pub async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = TypedJob {
            work: Some(work),
            result: None,
            reply,
        };
        self.tx
            .send(Box::new(job))
            .map_err(|_| StoreError::WriterGone)?;
        answer.await.map_err(|_| StoreError::WriterGone)?
    }
}

fn run(
    conn: Connection,
    mut rx: mpsc::UnboundedReceiver<Box<dyn Job>>,
    dir: PathBuf,
    commits: &AtomicU64,
) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(64);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let commit = run_batch(&conn, &mut batch).map_err(|e| classify(e, &dir));
        if commit.is_ok() {
            commits.fetch_add(1, Ordering::Relaxed);
        }
        if let Err(e) = &commit {
            tracing::error!(error = %e, jobs = batch.len(), "store commit failed");
        }
        for job in batch.drain(..) {
            job.finish(commit.clone());
        }
    }
}

/// SQLite reports a write refused by a read-only or full filesystem as a plain I/O error;
/// a probe file in the database's folder tells the owner which it is.
fn classify(e: StoreError, dir: &Path) -> StoreError {
    if !matches!(e, StoreError::Sqlite(_)) {
        return e;
    }
    let probe = dir.join(".tillwatch-write-probe");
    let outcome = std::fs::write(&probe, b"probe");
    let _ = std::fs::remove_file(&probe);
    match outcome {
        Err(io) if io.kind() == std::io::ErrorKind::ReadOnlyFilesystem => StoreError::ReadOnly,
        Err(io) if io.kind() == std::io::ErrorKind::StorageFull => StoreError::Full,
        _ => e,
    }
}

fn run_batch(conn: &Connection, batch: &mut [Box<dyn Job>]) -> Result<(), StoreError> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    for job in batch.iter_mut() {
        job.run(conn);
    }
    if let Err(e) = conn.execute_batch("COMMIT") {
        // A failed COMMIT (disk full, read-only file) may leave the transaction open.
        let _ = conn.execute_batch("ROLLBACK");
        return Err(e.into());
    }
    Ok(())
}
