//! SQLite storage: orders, attempts, status history, the delivery inbox and the audit log.
//! All SQL lives here; the rest of the app speaks domain types. WAL with synchronous=FULL,
//! one writer thread that groups concurrent writes (see `writer`), a few read-only
//! connections (see `pool`).

mod confirm;
mod inbox;
mod links;
mod migrations;
mod orders;
mod pages;
mod pool;
mod refs;
mod retention;
mod summaries;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::{Connection, ErrorCode};

pub use confirm::{Applied, Settles, StatusChange};
pub use inbox::{NewDelivery, PendingDelivery, RejectedDelivery, MAX_KEPT_MALFORMED};
pub use links::CreatedJobRecord;
pub use orders::{Found, ShipRequest};
pub use pages::{OrderCursor, OrderFilter, OrderSort, OrdersSlice, PageAt, COUNT_CAP};
pub use refs::{MatchHow, RefKind, MIN_PARTIAL};

use crate::domain::ShipRefusal;
pub use writer::{Paused as WriterPaused, WRITE_QUEUE};
use writer::{WhenFull, Writer};

/// A store failure, in words safe for an owner; SQL details go to the log only.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("the disk holding the database is full")]
    Full,
    #[error("the database cannot be written (read-only file or disk)")]
    ReadOnly,
    #[error("the database is busy")]
    Busy,
    /// The detail (SQLite's own text) is logged where it happens and never shown: it may
    /// quote SQL and stored values.
    #[error("the database could not do that; the log has the details")]
    Sqlite(String),
    #[error("the database writer has stopped")]
    WriterGone,
    #[error("too many writes are waiting; try again shortly")]
    Overloaded,
    #[error("a database write failed unexpectedly")]
    Internal,
    #[error(
        "this database was written by a newer Tillwatch (schema {found}; this build knows {known})"
    )]
    TooNew { found: usize, known: usize },
    #[error("stored data could not be read: {0}")]
    Corrupt(String),
    /// A newer search started: this one was interrupted and its answer is not wanted.
    #[error("a newer search replaced this one")]
    Superseded,
    #[error("no order matches {0}")]
    NotFound(String),
    #[error(transparent)]
    Ship(#[from] ShipRefusal),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => Self::Full,
            Some(ErrorCode::ReadOnly) => Self::ReadOnly,
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Self::Busy,
            Some(ErrorCode::OperationInterrupted) => Self::Superseded,
            _ => Self::failed(e),
        }
    }
}

impl StoreError {
    /// A failure whose detail goes to the log only.
    pub fn failed(detail: impl std::fmt::Display) -> Self {
        let detail = detail.to_string();
        tracing::error!(error = %detail, "database failure");
        Self::Sqlite(detail)
    }

    /// Stable code for logs and IPC.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Full => "store_full",
            Self::ReadOnly => "store_read_only",
            Self::Busy => "store_busy",
            Self::Sqlite(_) => "store_failed",
            Self::WriterGone => "store_stopped",
            Self::Overloaded => "store_overloaded",
            Self::Internal => "store_internal",
            Self::TooNew { .. } => "store_too_new",
            Self::Corrupt(_) => "store_corrupt",
            Self::Superseded => "superseded",
            Self::NotFound(_) => "not_found",
            Self::Ship(refusal) => refusal.code(),
        }
    }
}

/// The schema version this build writes (`PRAGMA user_version`).
pub fn schema_version() -> usize {
    migrations::latest()
}

#[derive(Clone)]
pub struct Store {
    writer: Writer,
    readers: Arc<pool::Readers>,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::failed(format!("cannot create {}: {e}", dir.display())))?;
        }
        let mut write_conn = Connection::open(&path)?;
        write_conn.pragma_update(None, "journal_mode", "WAL")?;
        // FULL: a committed row survives power loss, which is what a 200 promises.
        write_conn.pragma_update(None, "synchronous", "FULL")?;
        write_conn.pragma_update(None, "foreign_keys", "ON")?;
        write_conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let found: i64 = write_conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let found = usize::try_from(found).unwrap_or(0);
        if found > migrations::latest() {
            return Err(StoreError::TooNew {
                found,
                known: migrations::latest(),
            });
        }
        migrations::run(&mut write_conn)?;
        let readers = pool::Readers::open(&path)?;

        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let writer = Writer::spawn(write_conn, dir)
            .map_err(|e| StoreError::failed(format!("cannot start the writer: {e}")))?;
        Ok(Self {
            writer,
            readers: Arc::new(readers),
            path,
        })
    }

    /// Creates a database at an older schema version (tests of the upgrade path).
    #[doc(hidden)]
    pub fn create_at_schema_version(
        path: impl AsRef<Path>,
        version: usize,
    ) -> Result<(), StoreError> {
        let mut conn = Connection::open(path)?;
        migrations::run_to(&mut conn, version)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Write transactions committed since open (the writer groups concurrent writes).
    pub fn commit_count(&self) -> u64 {
        self.writer.commit_count()
    }

    /// The same store, whose writes fail at once with `StoreError::Overloaded` when the
    /// writer's queue is full instead of waiting for room (the listener's handle).
    pub fn refusing_when_full(&self) -> Store {
        Store {
            writer: self.writer.when_full(WhenFull::Refuse),
            ..self.clone()
        }
    }

    /// Stalls the writer until the guard is dropped (tests of a full queue).
    #[doc(hidden)]
    pub async fn pause_writer(&self) -> Result<WriterPaused, StoreError> {
        self.writer.pause().await
    }

    async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.writer.write(work).await
    }

    async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.readers.read(work).await
    }

    /// A read for the window's search box: a newer one interrupts it (`Superseded`).
    async fn read_latest_search<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.readers.search(work).await
    }
}

/// Runs a statement through the connection's statement cache (writes repeat the same few
/// statements; parsing them every time showed in profiles).
fn exec(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<usize, StoreError> {
    Ok(conn.prepare_cached(sql)?.execute(params)?)
}

/// Reads a stored text column back into a domain value; bad data is an error, not a panic.
fn parse_col<T, E: std::fmt::Display>(
    value: Option<String>,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<Option<T>, StoreError> {
    value
        .map(|s| parse(&s).map_err(|e| StoreError::Corrupt(format!("'{s}': {e}"))))
        .transpose()
}
