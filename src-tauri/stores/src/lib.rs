//! The store a process runs on, chosen when it starts: its own SQLite file (the default,
//! no server needed) or a PostgreSQL database that several machines share. One enum, so
//! the core stays generic and the program still chooses at run time.

use std::path::Path;

use tillwatch_core::store::StoreError;
use tillwatch_store_postgres::{DatabaseConfig, PgError, PgStore, Role};
use tillwatch_store_sqlite::SqliteStore;

/// A database URL as it may be shown: no password.
pub fn describe_url(url: &str) -> String {
    DatabaseConfig::parse(url)
        .map(|c| c.to_string())
        .unwrap_or_else(|_| "the shared database (its URL does not parse)".into())
}

/// Where a process keeps its orders.
#[derive(Clone)]
pub enum AnyStore {
    /// A file of its own.
    Sqlite(SqliteStore),
    /// A database server shared with other processes and machines.
    Postgres(PgStore),
}

/// Why the store could not be opened, in words for the owner (no password, no server
/// text).
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    File(#[from] StoreError),
    #[error(transparent)]
    Server(#[from] PgError),
}

impl AnyStore {
    /// The SQLite file at `path`, created if needed.
    pub fn open_file(path: impl AsRef<Path>) -> Result<Self, OpenError> {
        Ok(Self::Sqlite(SqliteStore::open(path)?))
    }

    /// The PostgreSQL database at `url` (`postgres://user@host/db`); the password comes
    /// from the environment (`TILLWATCH_DATABASE_PASSWORD`) or the URL, never a log.
    pub async fn connect(url: &str) -> Result<Self, OpenError> {
        Self::connect_with(DatabaseConfig::from_url_and_env(url)?).await
    }

    /// The PostgreSQL database `config` names, its password already chosen (the window's
    /// comes from the environment or the OS keyring).
    pub async fn connect_with(config: DatabaseConfig) -> Result<Self, OpenError> {
        Ok(Self::Postgres(PgStore::connect(config).await?))
    }

    /// Keeps this process's row in the shared database's record of machines until `stop`
    /// (`PgStore::keep_presence`); a file of its own has no other machine to tell.
    pub async fn keep_presence(&self, role: Role, stop: impl std::future::Future<Output = ()>) {
        if let Self::Postgres(s) = self {
            s.keep_presence(role, stop).await;
        }
    }

    /// Whether other processes may write to this store too.
    pub fn is_shared(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }
}

// Every store call, forwarded to the variant's store (generated from the trait's areas).
tillwatch_core::forward_store!(AnyStore { Sqlite, Postgres });

impl From<SqliteStore> for AnyStore {
    fn from(store: SqliteStore) -> Self {
        Self::Sqlite(store)
    }
}

impl From<PgStore> for AnyStore {
    fn from(store: PgStore) -> Self {
        Self::Postgres(store)
    }
}
