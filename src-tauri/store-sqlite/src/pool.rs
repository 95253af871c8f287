//! The reader side: a few read-only connections (WAL lets them read while the writer
//! commits), so a slow read never queues the pipeline's reads behind it, and one more
//! connection for the window's search box, where a newer search interrupts the one the
//! owner has typed past. Searches run on a thread of their own at a lower CPU priority:
//! on two cores a burst of typing must not delay the listener's acknowledgements.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use rusqlite::{Connection, InterruptHandle, OpenFlags};
use tokio::sync::Semaphore;

use super::DbError;

/// Connections for ordinary reads: enough that a long read (an export) leaves the others
/// free, few enough for two cores.
pub const READERS: usize = 3;

/// How often (in SQLite virtual machine steps) a search checks whether it was typed past:
/// well under a millisecond apart, too rare to cost anything measurable.
const CHECK_EVERY_STEPS: std::ffi::c_int = 4000;

/// The search thread's niceness: below the pipeline's threads, which stay as started (0).
const SEARCH_NICENESS: i32 = 10;

type SearchJob = Box<dyn FnOnce(&Connection) + Send>;

pub struct Readers {
    idle: Mutex<Vec<Connection>>,
    free: Semaphore,
    /// Searches, in the order asked, to the search thread (which owns its connection).
    searches: Mutex<mpsc::Sender<SearchJob>>,
    /// Interrupts whatever statement the search connection is running.
    interrupt: InterruptHandle,
    /// The search whose statements may be running now (0: none).
    running: AtomicU64,
    /// The number of the newest search asked for.
    newest: Arc<AtomicU64>,
}

fn open_reader(path: &Path, map: Map) -> Result<Connection, DbError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "mmap_size", map.bytes())?;
    Ok(conn)
}

/// Whether a reader maps the database file into memory.
#[derive(Clone, Copy)]
enum Map {
    /// The pool's readers (pages, today's takings, health) walk large parts of the
    /// history; every page a mapped reader touches stays counted in the app's own memory
    /// (the desktop bench saw +57 MiB after 10,000 payments; a million-payment history is
    /// ~900 MB). They read through the OS's cache into SQLite's small page cache instead.
    No,
    /// Lookups land on a few pages all over the file (one e-mail's 80 orders over years):
    /// mapped, they cost memory reads, not system calls (e-mail lookup p99 1.2 ms mapped
    /// against 3.9 ms read at 1,000,000 payments), and touch only what the owner looks up.
    Yes,
}

impl Map {
    fn bytes(self) -> i64 {
        match self {
            Map::No => 0,
            Map::Yes => 1 << 30,
        }
    }
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
    pub fn open(path: &Path) -> Result<Self, DbError> {
        let idle = (0..READERS)
            .map(|_| open_reader(path, Map::No))
            .collect::<Result<Vec<_>, _>>()?;
        let search = open_reader(path, Map::Yes)?;
        let interrupt = search.get_interrupt_handle();
        let (searches, jobs) = mpsc::channel::<SearchJob>();
        std::thread::Builder::new()
            .name("tillwatch-search".into())
            .spawn(move || search_thread(search, jobs))
            .map_err(|e| DbError::failed(format!("cannot start the search thread: {e}")))?;
        Ok(Self {
            idle: Mutex::new(idle),
            free: Semaphore::new(READERS),
            searches: Mutex::new(searches),
            interrupt,
            running: AtomicU64::new(0),
            newest: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Runs a read on a free connection, waiting (without holding a thread) for one.
    pub async fn read<T, F>(self: &Arc<Self>, work: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, DbError> + Send + 'static,
    {
        let permit = self
            .free
            .acquire()
            .await
            .map_err(|_| DbError::failed("the readers are closed"))?;
        let readers = Arc::clone(self);
        let result = tokio::task::spawn_blocking(move || {
            let conn = readers
                .idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop()
                .ok_or_else(|| DbError::failed("no free reader under a permit"))?;
            let lease = Lease {
                conn: Some(conn),
                readers: &readers,
            };
            work(lease.conn.as_ref().expect("leased"))
        })
        .await
        .map_err(|_| DbError::failed("a read was interrupted"))?;
        drop(permit);
        result
    }

    /// Runs the newest search: interrupts the one running, and fails with `Superseded`
    /// when an even newer one was asked for before this one ended.
    pub async fn search<T, F>(self: &Arc<Self>, work: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> Result<T, DbError> + Send + 'static,
    {
        let me = self.newest.fetch_add(1, Ordering::SeqCst) + 1;
        if self.running.load(Ordering::SeqCst) != 0 {
            self.interrupt.interrupt();
        }
        let (answer, answered) = tokio::sync::oneshot::channel();
        let readers = Arc::clone(self);
        let job: SearchJob = Box::new(move |conn| {
            let _ = answer.send(readers.run_search(conn, me, &work));
        });
        self.searches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(job)
            .map_err(|_| DbError::failed("the search thread has stopped"))?;
        answered
            .await
            .map_err(|_| DbError::failed("a search failed"))?
    }

    /// On the search thread. The interrupt is a no-op when it lands between two statements
    /// (or before the first), so a search also checks every few thousand SQLite steps
    /// whether a newer one was asked for. An interrupt meant for an older search can land
    /// on this one if it is still the newest; then it runs again.
    fn run_search<T>(
        &self,
        conn: &Connection,
        me: u64,
        work: &impl Fn(&Connection) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let mut tries = 0;
        loop {
            if self.newest.load(Ordering::SeqCst) != me {
                return Err(DbError::Superseded);
            }
            self.running.store(me, Ordering::SeqCst);
            let newest = Arc::clone(&self.newest);
            conn.progress_handler(
                CHECK_EVERY_STEPS,
                Some(move || newest.load(Ordering::SeqCst) != me),
            )?;
            let result = work(conn);
            conn.progress_handler(0, None::<fn() -> bool>)?;
            self.running.store(0, Ordering::SeqCst);
            tries += 1;
            match result {
                Err(DbError::Superseded)
                    if tries < 3 && self.newest.load(Ordering::SeqCst) == me => {}
                other => return other,
            }
        }
    }
}

/// Runs searches one after another on their own connection, at a lower CPU priority. A
/// search that panics fails alone (its caller is told); the thread goes on.
fn search_thread(conn: Connection, jobs: mpsc::Receiver<SearchJob>) {
    lower_priority();
    for job in jobs {
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&conn))).is_err() {
            tracing::error!("a search panicked; the search thread goes on");
        }
    }
}

/// This thread only: Linux gives each thread its own niceness. The crate's one `unsafe`:
/// two plain system calls, no pointers.
#[allow(unsafe_code)]
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid has no preconditions; setpriority on our own thread id changes
        // nothing but this thread's scheduling weight.
        let failed = unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            // Never above what the process was started with (`nice tillwatch`).
            let now = libc::getpriority(libc::PRIO_PROCESS, tid);
            libc::setpriority(libc::PRIO_PROCESS, tid, now.max(SEARCH_NICENESS)) != 0
        };
        if failed {
            tracing::warn!("could not lower the search thread's priority");
        }
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
    ) -> tokio::task::JoinHandle<Result<i64, DbError>> {
        let (started, running) = tokio::sync::oneshot::channel();
        let started = Mutex::new(Some(started));
        let r = Arc::clone(readers);
        let search = tokio::spawn(async move {
            r.search(move |conn| {
                if let Some(started) = started.lock().unwrap().take() {
                    let _ = started.send(());
                }
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
        assert!(matches!(old.await.unwrap(), Err(DbError::Superseded)));
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
        let (started, running) = tokio::sync::oneshot::channel();
        let started = Mutex::new(Some(started));
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let r = Arc::clone(&readers);
        let old = tokio::spawn(async move {
            r.search(move |conn| {
                if let Some(started) = started.lock().unwrap().take() {
                    let _ = started.send(());
                }
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
                readers.interrupt.interrupt();
                panic!("the search typed past ran on after the interrupt");
            }
        };
        assert!(matches!(old.unwrap(), Err(DbError::Superseded)));
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
        assert!(matches!(search.await.unwrap(), Err(DbError::Superseded)));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_search_that_panics_fails_alone_and_the_next_one_runs() {
        let (dir, readers) = readers("panic");
        let failed = readers
            .search(|_| -> Result<(), DbError> { panic!("a bug in one search") })
            .await;
        assert!(failed.is_err());
        let next = readers
            .search(|conn| Ok(conn.query_row("SELECT x FROM t", [], |r| r.get::<_, i64>(0))?))
            .await;
        assert_eq!(next.unwrap(), 7);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// The search thread runs below the pipeline's priority (field 19 of a thread's stat
    /// is its niceness).
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn searches_run_at_a_lower_priority_than_the_pipeline() {
        let (dir, readers) = readers("nice");
        let niceness = |stat: &str| -> i32 {
            let after_name = stat.rsplit_once(')').expect("a stat line").1;
            after_name
                .split_whitespace()
                .nth(16)
                .unwrap()
                .parse()
                .unwrap()
        };
        let own = niceness(&std::fs::read_to_string("/proc/thread-self/stat").unwrap());
        let search = readers
            .search(|_| Ok(std::fs::read_to_string("/proc/thread-self/stat").unwrap()))
            .await
            .unwrap();
        assert_eq!(niceness(&search), own.max(SEARCH_NICENESS), "{search}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
