//! The single writer. Every write is a job sent to one thread that owns the write
//! connection; the thread runs all jobs waiting at that moment in ONE transaction (each in
//! its own savepoint, so one failing job does not undo the others) and answers each job
//! only after the COMMIT that holds it. With synchronous=FULL this turns a burst of N
//! notifications into one fsync instead of N, while still answering 200 only once a row
//! is durable.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::DbError;
use tillwatch_core::store::Unavailable;

/// Bounds one transaction so a flood cannot grow a batch (and its latency) without limit.
const MAX_BATCH: usize = 1024;

trait Job: Send {
    fn run(&mut self, conn: &Connection);
    fn finish(self: Box<Self>, commit: Result<(), DbError>);
}

struct TypedJob<T, F> {
    work: Option<F>,
    result: Option<Result<T, DbError>>,
    reply: oneshot::Sender<Result<T, DbError>>,
}

impl<T, F> Job for TypedJob<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, DbError> + Send + 'static,
{
    fn run(&mut self, conn: &Connection) {
        let Some(work) = self.work.take() else {
            return;
        };
        // Cached statements: parsing these per job was a third of the writer's time.
        let exec = |sql: &str| -> Result<(), DbError> {
            conn.prepare_cached(sql)?.execute([])?;
            Ok(())
        };
        let result = match exec("SAVEPOINT job") {
            Err(e) => Err(e),
            Ok(()) => {
                // A bug in one job must not stop the thread every later write needs: the
                // panic fails this job only and its savepoint is rolled back.
                let r = catch_unwind(AssertUnwindSafe(|| work(conn))).unwrap_or_else(|panic| {
                    tracing::error!(
                        panic = panic_message(panic.as_ref()),
                        "a store write panicked; rolled back and failed that write only"
                    );
                    Err(DbError::Internal)
                });
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

    fn finish(self: Box<Self>, commit: Result<(), DbError>) {
        let outcome = match (commit, self.result) {
            (Err(e), _) => Err(e),
            (Ok(()), Some(r)) => r,
            (Ok(()), None) => Err(DbError::Unavailable(Unavailable::Stopped)),
        };
        // The caller may have given up waiting; nothing to do then.
        let _ = self.reply.send(outcome);
    }
}

/// Writes waiting beyond the batch being committed. Bounded so a flood cannot grow memory
/// (and every caller's wait) without limit; a full queue is the signal to push back.
pub const WRITE_QUEUE: usize = 1024;

/// What a write does when the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenFull {
    /// Wait for room: the pipeline's writes settle work already acknowledged, and failing
    /// them would only mean retrying the same write later.
    Wait,
    /// Fail at once with `DbError::Unavailable(Unavailable::Overloaded)`: the listener then answers 503 and the
    /// gateway retries, instead of holding a connection while the queue drains.
    Refuse,
}

#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Box<dyn Job>>,
    when_full: WhenFull,
    /// Transactions committed so far: tests and diagnostics compare it with rows written.
    commits: Arc<AtomicU64>,
}

/// Holds the writer thread until dropped (see `Writer::pause`).
pub struct Paused {
    _release: std::sync::mpsc::Sender<()>,
}

impl Writer {
    /// `dir` is the database's folder, probed to name an I/O failure (see `classify`).
    pub fn spawn(conn: Connection, dir: PathBuf) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        let commits = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&commits);
        thread::Builder::new()
            .name("tillwatch-store-writer".into())
            .spawn(move || run(conn, rx, dir, &counter))?;
        Ok(Self {
            tx,
            when_full: WhenFull::Wait,
            commits,
        })
    }

    pub fn commit_count(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// The same writer, behaving as `when_full` says when its queue is full.
    pub fn when_full(&self, when_full: WhenFull) -> Self {
        Self {
            tx: self.tx.clone(),
            when_full,
            commits: Arc::clone(&self.commits),
        }
    }

    pub async fn write<T, F>(&self, work: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, DbError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = TypedJob {
            work: Some(work),
            result: None,
            reply,
        };
        self.send(Box::new(job)).await?;
        answer
            .await
            .map_err(|_| DbError::Unavailable(Unavailable::Stopped))?
    }

    async fn send(&self, job: Box<dyn Job>) -> Result<(), DbError> {
        match self.when_full {
            WhenFull::Wait => self
                .tx
                .send(job)
                .await
                .map_err(|_| DbError::Unavailable(Unavailable::Stopped)),
            WhenFull::Refuse => self.tx.try_send(job).map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => DbError::Unavailable(Unavailable::Overloaded),
                mpsc::error::TrySendError::Closed(_) => DbError::Unavailable(Unavailable::Stopped),
            }),
        }
    }

    /// Holds the writer thread inside a job until the returned guard is dropped; returns
    /// once it is held, so every write sent meanwhile waits in the queue. For tests that
    /// need a stalled writer (a full queue, writes grouped in one batch).
    pub async fn pause(&self) -> Result<Paused, DbError> {
        let (held_tx, held) = oneshot::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        // Nobody waits for this job's answer; dropping the guard ends it.
        let (reply, _) = oneshot::channel();
        let job = TypedJob {
            work: Some(move |_: &Connection| {
                let _ = held_tx.send(());
                let _ = released.recv();
                Ok(())
            }),
            result: None,
            reply,
        };
        self.send(Box::new(job)).await?;
        held.await
            .map_err(|_| DbError::Unavailable(Unavailable::Stopped))?;
        Ok(Paused { _release: release })
    }

    /// Jobs sent but not yet taken by the writer thread.
    #[cfg(test)]
    fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }
}

fn run(conn: Connection, mut rx: mpsc::Receiver<Box<dyn Job>>, dir: PathBuf, commits: &AtomicU64) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(64);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // Outside a job (BEGIN, COMMIT) a panic fails this batch, never the thread.
        let commit = catch_unwind(AssertUnwindSafe(|| run_batch(&conn, &mut batch)))
            .unwrap_or_else(|panic| {
                tracing::error!(
                    panic = panic_message(panic.as_ref()),
                    "the store writer panicked; the batch is rolled back"
                );
                let _ = conn.execute_batch("ROLLBACK");
                Err(DbError::Internal)
            })
            .map_err(|e| classify(e, &dir));
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
    // Every handle is gone: the store is closing. Let SQLite refresh the statistics its
    // planner uses where they drifted (bounded, so closing a large file stays quick).
    if let Err(e) = conn.execute_batch("PRAGMA analysis_limit = 400; PRAGMA optimize;") {
        tracing::warn!(error = %e, "PRAGMA optimize at close failed");
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// SQLite reports a write refused by a read-only or full filesystem as a plain I/O error;
/// a probe file in the database's folder tells the owner which it is.
fn classify(e: DbError, dir: &Path) -> DbError {
    if !matches!(e, DbError::Sqlite(_)) {
        return e;
    }
    let probe = dir.join(".tillwatch-write-probe");
    let outcome = std::fs::write(&probe, b"probe");
    let _ = std::fs::remove_file(&probe);
    match outcome {
        Err(io) if io.kind() == std::io::ErrorKind::ReadOnlyFilesystem => {
            DbError::Unavailable(Unavailable::ReadOnly)
        }
        Err(io) if io.kind() == std::io::ErrorKind::StorageFull => {
            DbError::Unavailable(Unavailable::Full)
        }
        _ => e,
    }
}

fn run_batch(conn: &Connection, batch: &mut [Box<dyn Job>]) -> Result<(), DbError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh folder, removed when dropped.
    struct TestDir(std::path::PathBuf);

    impl TestDir {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "tillwatch-unit-{name}-{}-{}",
                std::process::id(),
                fastrand::u64(..)
            ));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TestDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn writer(dir: &TestDir) -> Writer {
        let conn = Connection::open(dir.path().join("w.db")).unwrap();
        conn.execute_batch("CREATE TABLE t (n INTEGER NOT NULL)")
            .unwrap();
        Writer::spawn(conn, dir.path().to_path_buf()).unwrap()
    }

    fn insert(n: i64) -> impl FnOnce(&Connection) -> Result<(), DbError> + Send + 'static {
        move |conn| {
            conn.execute("INSERT INTO t (n) VALUES (?1)", [n])?;
            Ok(())
        }
    }

    fn rows(dir: &TestDir) -> Vec<i64> {
        let conn = Connection::open(dir.path().join("w.db")).unwrap();
        let mut stmt = conn.prepare("SELECT n FROM t ORDER BY n").unwrap();
        let rows = stmt.query_map([], |r| r.get(0)).unwrap();
        rows.map(Result::unwrap).collect()
    }

    #[tokio::test]
    async fn a_panicking_write_fails_alone_and_the_writer_keeps_serving() {
        let dir = TestDir::new("writer-panic");
        let w = writer(&dir);
        // Held so the three writes below queue up and run as one batch.
        let pause = w.pause().await.unwrap();
        let (a, b, c) = (w.clone(), w.clone(), w.clone());
        let a = tokio::spawn(async move { a.write(insert(1)).await });
        let b = tokio::spawn(async move {
            b.write(|conn| {
                conn.execute("INSERT INTO t (n) VALUES (2)", [])?;
                panic!("a bug inside a write job");
                #[allow(unreachable_code)]
                Ok(())
            })
            .await
        });
        let c = tokio::spawn(async move { c.write(insert(3)).await });
        while w.queued() < 3 {
            tokio::task::yield_now().await;
        }
        drop(pause);
        assert!(a.await.unwrap().is_ok());
        let failed = b.await.unwrap().unwrap_err();
        assert!(matches!(failed, DbError::Internal), "{failed:?}");
        assert!(c.await.unwrap().is_ok());
        // Its savepoint was rolled back: the row it inserted before panicking is gone.
        assert_eq!(rows(&dir), vec![1, 3]);
        w.write(insert(4)).await.unwrap();
        assert_eq!(rows(&dir), vec![1, 3, 4]);
    }
}
