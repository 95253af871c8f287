//! The SQLite store: orders, attempts, status history, the delivery inbox and the audit log
//! in one file, behind the core's `Store` trait. All SQL lives here; the rest of the app
//! speaks domain types. WAL with synchronous=FULL,
//! one writer thread that groups concurrent writes (see `writer`), a few read-only
//! connections (see `pool`).

mod confirm;
mod inbox;
mod links;
mod migrations;
mod money;
mod orders;
mod owner;
mod pages;
mod pool;
mod refs;
mod retention;
mod summaries;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::{Connection, ErrorCode};

pub use owner::{Holder, OwnerError, Ownership, Program};
pub use tillwatch_core::store::MAX_KEPT_MALFORMED;
pub use writer::{Paused as WriterPaused, WRITE_QUEUE};

use tillwatch_core::domain::{ShipRefusal, Timestamp};
use tillwatch_core::store::{LoggedChange, Process, RemoteChanges, StoreError, Unavailable};
use writer::{WhenFull, Writer};

/// A failure inside this store. SQLite's own text is logged where it happens and stops
/// here: it becomes a `StoreError` (a code and words for the owner) at the trait.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    /// The detail (SQLite's own text) is logged where it happens and never shown: it may
    /// quote SQL and stored values.
    #[error("the database could not do that; the log has the details")]
    Sqlite(String),
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
    #[error(transparent)]
    Money(tillwatch_core::store::MoneyRefusal),
}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => Unavailable::Full.into(),
            Some(ErrorCode::ReadOnly) => Unavailable::ReadOnly.into(),
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Unavailable::Busy.into(),
            Some(ErrorCode::OperationInterrupted) => Self::Superseded,
            _ => Self::failed(e),
        }
    }
}

impl DbError {
    /// A failure whose detail goes to the log only.
    pub fn failed(detail: impl std::fmt::Display) -> Self {
        let detail = detail.to_string();
        tracing::error!(error = %detail, "database failure");
        Self::Sqlite(detail)
    }
}

impl From<DbError> for StoreError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unavailable(why) => why.into(),
            // The detail was logged where it happened.
            DbError::Sqlite(_) | DbError::Internal => StoreError::Failed,
            DbError::TooNew { found, known } => StoreError::TooNew { found, known },
            DbError::Corrupt(why) => StoreError::Corrupt(why),
            DbError::Superseded => StoreError::Superseded,
            DbError::NotFound(what) => StoreError::NotFound(what),
            DbError::Ship(refusal) => StoreError::Ship(refusal),
            DbError::Money(refusal) => StoreError::Money(refusal),
        }
    }
}

/// The schema version this build writes (`PRAGMA user_version`).
pub fn schema_version() -> usize {
    migrations::latest()
}

#[derive(Clone)]
pub struct SqliteStore {
    writer: Writer,
    readers: Arc<pool::Readers>,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Ok(Self::open_db(path.as_ref())?)
    }

    fn open_db(path: &Path) -> Result<Self, DbError> {
        let path = path.to_path_buf();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| DbError::failed(format!("cannot create {}: {e}", dir.display())))?;
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
            return Err(DbError::TooNew {
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
            .map_err(|e| DbError::failed(format!("cannot start the writer: {e}")))?;
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
        let mut conn = Connection::open(path).map_err(DbError::from)?;
        Ok(migrations::run_to(&mut conn, version)?)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Write transactions committed since open (the writer groups concurrent writes).
    pub fn commit_count(&self) -> u64 {
        self.writer.commit_count()
    }

    /// Stalls the writer until the guard is dropped (tests of a full queue).
    #[doc(hidden)]
    pub async fn pause_writer(&self) -> Result<WriterPaused, StoreError> {
        Ok(self.writer.pause().await?)
    }

    async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, DbError> + Send + 'static,
    {
        Ok(self.writer.write(work).await?)
    }

    async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, DbError> + Send + 'static,
    {
        Ok(self.readers.read(work).await?)
    }

    /// A read for the window's search box: a newer one interrupts it (`Superseded`).
    async fn read_latest_search<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> Result<T, DbError> + Send + 'static,
    {
        Ok(self.readers.search(work).await?)
    }
}

impl Process for SqliteStore {
    /// One process owns the file: nothing else writes to it.
    fn remote_changes(&self) -> Option<RemoteChanges> {
        None
    }

    /// No other process writes to the file: there is nothing to miss.
    async fn changes_after(&self, _seq: i64, _limit: u32) -> Result<Vec<LoggedChange>, StoreError> {
        Ok(Vec::new())
    }

    /// The same store, whose writes fail at once with `Unavailable::Overloaded` when the
    /// writer's queue is full instead of waiting for room (the listener's handle).
    fn refusing_when_full(&self) -> SqliteStore {
        SqliteStore {
            writer: self.writer.when_full(WhenFull::Refuse),
            ..self.clone()
        }
    }

    async fn now(&self) -> Result<Timestamp, StoreError> {
        // One machine, one clock: no process on another machine shares this file.
        Ok(Timestamp::now())
    }
}

/// Runs a statement through the connection's statement cache (writes repeat the same few
/// statements; parsing them every time showed in profiles).
fn exec(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<usize, DbError> {
    Ok(conn.prepare_cached(sql)?.execute(params)?)
}

/// Reads a stored text column back into a domain value; bad data is an error, not a panic.
fn parse_col<T, E: std::fmt::Display>(
    value: Option<String>,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<Option<T>, DbError> {
    value
        .map(|s| parse(&s).map_err(|e| DbError::Corrupt(format!("'{s}': {e}"))))
        .transpose()
}
