//! The reader side: a few read-only connections (WAL lets them read while the writer
//! commits), so a slow read never queues the pipeline's reads behind it, and one more
//! connection for the window's search box, where a newer search interrupts the one the
//! owner has typed past.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, InterruptHandle, OpenFlags};
use tokio::sync::Semaphore;

use super::StoreError;

/// Connections for ordinary reads: enough that a long read (an export) leaves the others
/// free, few enough for two cores.
pub const READERS: usize = 3;

/// How often (in SQLite virtual machine steps) a search checks whether it was typed past:
/// well under a millisecond apart, too rare to cost anything measurable.
const CHECK_EVERY_STEPS: std::ffi::c_int = 4000;

pub struct Readers {
    idle: Mutex<Vec<Connection>>,
    free: Semaphore,
    search: Mutex<Connection>,
    /// The search running now, to interrupt when a newer one starts.
    running: Mutex<Option<(u64, InterruptHandle)>>,
    /// The number of the newest search asked for.
    newest: AtomicU64,
}

fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // Reads straight from the OS's page cache instead of copying pages into each
    // connection's own: a lookup that lands on pages all over a large history (one
    // e-mail's orders over years) costs seeks, not system calls. Address space only.
    conn.pragma_update(None, "mmap_size", 1i64 << 30)?;
    Ok(conn)
}

/// Puts a connection back in the pool even if the read panicked.
struct Lease<'a> {
    conn: Option<Connection>,
    readers: &'a Readers,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.readers
                .idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(conn);
        }
    }
}

impl Readers {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let idle = (0..READERS)
            .map(|_| open_reader(path))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            idle: Mutex::new(idle),
            free: Semaphore::new(READERS),
            search: Mutex::new(open_reader(path)?),
            running: Mutex::new(None),
            newest: AtomicU64::new(0),
        })
    }

    /// Runs a read on a free connection, waiting (without holding a thread) for one.
    pub async fn read<T, F>(self: &Arc<Self>, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let permit = self
            .free
            .acquire()
            .await
            .map_err(|_| StoreError::failed("the readers are closed"))?;
        let readers = Arc::clone(self);
        let result = tokio::task::spawn_blocking(move || {
            let conn = readers
                .idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop()
                .ok_or_else(|| StoreError::failed("no free reader under a permit"))?;
            let lease = Lease {
                conn: Some(conn),
                readers: &readers,
            };
            work(lease.conn.as_ref().expect("leased"))
        })
        .await
        .map_err(|_| StoreError::failed("a read was interrupted"))?;
        drop(permit);
        result
    }

    /// Runs the newest search: interrupts the one running, and fails with `Superseded`
    /// when an even newer one was asked for before this one started.
    pub async fn search<T, F>(self: &Arc<Self>, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let me = self.newest.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some((_, running)) = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            running.interrupt();
        }
        let readers = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let conn = readers.search.lock().unwrap_or_else(|p| p.into_inner());
            {
                let mut running = readers.running.lock().unwrap_or_else(|p| p.into_inner());
                if readers.newest.load(Ordering::SeqCst) != me {
                    return Err(StoreError::Superseded);
                }
                *running = Some((me, conn.get_interrupt_handle()));
            }
            // The interrupt above is a no-op when it lands between two statements (or
            // before the first), so each search also checks, every few thousand SQLite
            // steps, whether a newer one was asked for, and stops itself if so.
            let watcher = Arc::clone(&readers);
            conn.progress_handler(
                CHECK_EVERY_STEPS,
                Some(move || watcher.newest.load(Ordering::SeqCst) != me),
            )?;
            let result = work(&conn);
            conn.progress_handler(0, None::<fn() -> bool>)?;
            // Cleared before the connection is free, so no later read is interrupted.
            {
                let mut running = readers.running.lock().unwrap_or_else(|p| p.into_inner());
                if matches!(running.as_ref(), Some((id, _)) if *id == me) {
                    *running = None;
                }
            }
            result
        })
        .await
        .map_err(|_| StoreError::failed("a search was interrupted"))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query that never ends by itself.
    const ENDLESS: &str = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n)
                           SELECT count(*) FROM n";

    fn readers(name: &str) -> (std::path::PathBuf, Arc<Readers>) {
        let dir = std::env::temp_dir().join(format!("tw-pool-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.db");
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (7);")
            .unwrap();
        (dir, Arc::new(Readers::open(&path).unwrap()))
    }

    /// Starts a search that runs until interrupted; resolves once it is running.
    async fn endless_search(
        readers: &Arc<Readers>,
    ) -> tokio::task::JoinHandle<Result<i64, StoreError>> {
        let (started, running) = tokio::sync::oneshot::channel();
        let r = Arc::clone(readers);
        let search = tokio::spawn(async move {
            r.search(move |conn| {
                let _ = started.send(());
                Ok(conn.query_row(ENDLESS, [], |row| row.get(0))?)
            })
            .await
        });
        running.await.unwrap();
        search
    }

    #[tokio::test]
    async fn a_newer_search_interrupts_the_one_typed_past() {
        let (dir, readers) = readers("supersede");
        let old = endless_search(&readers).await;
        let new = readers
            .search(|conn| Ok(conn.query_row("SELECT x FROM t", [], |r| r.get::<_, i64>(0))?))
            .await;
        assert_eq!(new.unwrap(), 7);
        assert!(matches!(old.await.unwrap(), Err(StoreError::Superseded)));
        // The interrupt touched nothing after it: the search connection serves again.
        let again = readers
            .search(|conn| Ok(conn.query_row("SELECT x FROM t", [], |r| r.get::<_, i64>(0))?))
            .await;
        assert_eq!(again.unwrap(), 7);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// The interrupt is a no-op when no statement is running; a search typed past between
    /// two of its statements must still stop at the next one.
    #[tokio::test]
    async fn a_search_typed_past_between_statements_stops_at_its_next_one() {
        let (dir, readers) = readers("between");
        // To end the test's own query if the search fails to stop it (else the test hangs).
        let rescue = readers.search.lock().unwrap().get_interrupt_handle();
        let (started, running) = tokio::sync::oneshot::channel();
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let r = Arc::clone(&readers);
        let old = tokio::spawn(async move {
            r.search(move |conn| {
                let _ = started.send(());
                // Between statements when the newer search interrupts.
                wait.recv().unwrap();
                Ok(conn.query_row(ENDLESS, [], |row| row.get::<_, i64>(0))?)
            })
            .await
        });
        running.await.unwrap();
        let r = Arc::clone(&readers);
        let new = tokio::spawn(async move {
            r.search(|conn| Ok(conn.query_row("SELECT x FROM t", [], |r| r.get::<_, i64>(0))?))
                .await
        });
        // Let the newer search ask (and interrupt) before the old one starts its query.
        while readers.newest.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        go.send(()).unwrap();
        let old = match tokio::time::timeout(std::time::Duration::from_secs(10), old).await {
            Ok(old) => old,
            Err(_) => {
                rescue.interrupt();
                panic!("the search typed past ran on after the interrupt");
            }
        };
        assert!(matches!(old.unwrap(), Err(StoreError::Superseded)));
        assert_eq!(new.await.unwrap().unwrap(), 7);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_running_search_never_holds_up_other_reads() {
        let (dir, readers) = readers("apart");
        let search = endless_search(&readers).await;
        // Every ordinary reader, each while the search still runs.
        for _ in 0..READERS * 2 {
            let x = readers
                .read(|conn| Ok(conn.query_row("SELECT x FROM t", [], |r| r.get::<_, i64>(0))?))
                .await
                .unwrap();
            assert_eq!(x, 7);
        }
        assert!(!search.is_finished());
        let _ = readers.search(|_| Ok(())).await;
        assert!(matches!(search.await.unwrap(), Err(StoreError::Superseded)));
        let _ = std::fs::remove_dir_all(dir);
    }
}
