//! Why a call on the database failed, and the same failure in the core's words: the
//! server's text goes to the log, never across the trait.

use deadpool_postgres::{PoolError, TimeoutType};
use tokio_postgres::error::SqlState;

use tillwatch_core::domain::ShipRefusal;
use tillwatch_core::store::{StoreError, Unavailable};

use crate::error::describe;
use crate::PgError;

/// A failure inside the store, turned into a `StoreError` at the trait.
#[derive(Debug)]
pub(crate) enum Fail {
    Pg(tokio_postgres::Error),
    Pool(PoolError),
    /// The call ran past its handle's bound (`PgStore::timed_out`).
    TimedOut,
    Store(StoreError),
}

impl From<tokio_postgres::Error> for Fail {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Pg(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<ShipRefusal> for Fail {
    fn from(e: ShipRefusal) -> Self {
        Self::Store(StoreError::Ship(e))
    }
}

impl Fail {
    pub(super) fn corrupt(what: impl Into<String>) -> Self {
        Self::Store(StoreError::Corrupt(what.into()))
    }

    pub(super) fn not_found(what: impl Into<String>) -> Self {
        Self::Store(StoreError::NotFound(what.into()))
    }

    pub(super) fn into_store(self) -> StoreError {
        match self {
            Self::Pg(e) => pg_error(e),
            Self::Pool(e) => pool_error(e),
            Self::TimedOut => Unavailable::Unreachable.into(),
            Self::Store(e) => e,
        }
    }
}

pub(super) fn lost_race(e: &tokio_postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
    )
}

/// The driver's error as the core's, in our words; the server's text goes to the log.
fn pg_error(e: tokio_postgres::Error) -> StoreError {
    if let Some(code) = e.code() {
        let code = code.clone();
        let e = &e;
        return if code == SqlState::DISK_FULL {
            tracing::error!(error = %describe(e), "the database server's disk is full");
            Unavailable::Full.into()
        } else if code == SqlState::READ_ONLY_SQL_TRANSACTION {
            tracing::error!(error = %describe(e), "the database is read-only");
            Unavailable::ReadOnly.into()
        } else if code == SqlState::T_R_SERIALIZATION_FAILURE
            || code == SqlState::T_R_DEADLOCK_DETECTED
        {
            tracing::warn!(error = %describe(e), "a write lost a race every time it was tried");
            StoreError::Conflict
        } else if code == SqlState::ADMIN_SHUTDOWN
            || code == SqlState::CRASH_SHUTDOWN
            || code == SqlState::CANNOT_CONNECT_NOW
        {
            tracing::warn!(error = %describe(e), "database server unavailable");
            Unavailable::Unreachable.into()
        } else if code == SqlState::TOO_MANY_CONNECTIONS {
            tracing::warn!(error = %describe(e), "the database server has no connection free");
            Unavailable::Busy.into()
        } else if code == SqlState::INVALID_PASSWORD
            || code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
            || code == SqlState::INVALID_CATALOG_NAME
        {
            // Settings changed under a running process (a new password): the server cannot
            // be used until they are fixed, and the gateway should send again meanwhile.
            tracing::error!(error = %describe(e), "the database refused this connection");
            Unavailable::Unreachable.into()
        } else {
            tracing::error!(error = %describe(e), "database failure");
            StoreError::Failed
        };
    }
    // The same tests as `PgError` (io, closed, timeout): the server or the network.
    match PgError::from(e) {
        PgError::Unavailable => Unavailable::Unreachable.into(),
        PgError::Busy => Unavailable::Busy.into(),
        PgError::PasswordMissing
        | PgError::Authentication
        | PgError::DatabaseMissing
        | PgError::TlsUnsupported
        | PgError::Tls(_) => Unavailable::Unreachable.into(),
        // Logged by `PgError::failed`.
        _ => StoreError::Failed,
    }
}

fn pool_error(e: PoolError) -> StoreError {
    match e {
        PoolError::Timeout(TimeoutType::Wait) => {
            tracing::warn!("every database connection is in use");
            Unavailable::Overloaded.into()
        }
        PoolError::Timeout(TimeoutType::Create | TimeoutType::Recycle) => {
            tracing::warn!("database connection timed out");
            Unavailable::Unreachable.into()
        }
        PoolError::Backend(e) => pg_error(e),
        PoolError::Closed => Unavailable::Stopped.into(),
        other => {
            tracing::error!(error = %other, "database pool failure");
            StoreError::Failed
        }
    }
}
