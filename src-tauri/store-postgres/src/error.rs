//! One error type in words safe for an owner: a message never holds the password nor the
//! server's own text (which may quote SQL and stored values); that goes to the log only.

use std::error::Error as _;

use deadpool_postgres::{PoolError, TimeoutType};
use tokio_postgres::error::SqlState;

#[derive(Debug, Clone, thiserror::Error)]
pub enum PgError {
    /// A wrong URL or setting; the text is ours and names no secret.
    #[error("database settings: {0}")]
    Config(String),
    /// Refused, timed out, shut down, or the connection dropped: worth trying again later.
    #[error("the database server is unavailable")]
    Unavailable,
    #[error("every database connection is in use; try again shortly")]
    Busy,
    #[error("the database refused the user name or password")]
    Authentication,
    #[error("the database asks for a password: set TILLWATCH_DATABASE_PASSWORD (or PGPASSWORD)")]
    PasswordMissing,
    #[error("the database named in the URL does not exist on the server")]
    DatabaseMissing,
    #[error("sslmode=require, but the database server does not offer TLS (encryption)")]
    TlsUnsupported,
    /// A failed handshake: most often a certificate not signed by a trusted root (give the
    /// server's CA with `sslrootcert=`) or not for the host name in the URL.
    #[error("the database connection could not be secured (TLS): the log has the details")]
    Tls(String),
    #[error(
        "this database was written by a newer Tillwatch (schema {found}; this build knows {known})"
    )]
    TooNew { found: i32, known: i32 },
    #[error("database migration {version} failed; the log has the details")]
    Migration { version: i32, detail: String },
    /// The detail (the server's text) is logged where it happens and never shown.
    #[error("the database could not do that; the log has the details")]
    Failed(String),
}

impl PgError {
    /// A failure whose detail goes to the log only.
    pub fn failed(detail: impl std::fmt::Display) -> Self {
        let detail = detail.to_string();
        tracing::error!(error = %detail, "database failure");
        Self::Failed(detail)
    }

    /// Stable code for logs and IPC.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Config(_) => "pg_config",
            Self::Unavailable => "pg_unavailable",
            Self::Busy => "pg_busy",
            Self::Authentication => "pg_authentication",
            Self::PasswordMissing => "pg_password_missing",
            Self::DatabaseMissing => "pg_database_missing",
            Self::TlsUnsupported => "pg_tls_unsupported",
            Self::Tls(_) => "pg_tls",
            Self::TooNew { .. } => "store_too_new",
            Self::Migration { .. } => "pg_migration",
            Self::Failed(_) => "pg_failed",
        }
    }

    /// Whether trying again later may succeed with nothing changed by the owner.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable | Self::Busy)
    }
}

impl From<tokio_postgres::Error> for PgError {
    fn from(e: tokio_postgres::Error) -> Self {
        if let Some(db) = e.as_db_error() {
            let code = db.code();
            return if *code == SqlState::INVALID_PASSWORD
                || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
            {
                tracing::warn!(error = %describe(&e), "database authentication failed");
                Self::Authentication
            } else if *code == SqlState::INVALID_CATALOG_NAME {
                Self::DatabaseMissing
            } else if *code == SqlState::ADMIN_SHUTDOWN
                || *code == SqlState::CRASH_SHUTDOWN
                || *code == SqlState::CANNOT_CONNECT_NOW
            {
                tracing::warn!(error = %describe(&e), "database server unavailable");
                Self::Unavailable
            } else if *code == SqlState::TOO_MANY_CONNECTIONS {
                Self::Busy
            } else {
                Self::failed(describe(&e))
            };
        }
        // tokio-postgres keeps its error kinds private; its texts and sources are what tell
        // a TLS failure from a network one.
        let text = describe(&e);
        if text.starts_with("error performing TLS handshake") {
            if text.contains("does not support TLS") {
                return Self::TlsUnsupported;
            }
            tracing::error!(error = %text, "database TLS handshake failed");
            return Self::Tls(text);
        }
        if text.contains("password missing") {
            return Self::PasswordMissing;
        }
        if e.is_closed() || has_io_source(&e) || text.starts_with("timeout") {
            tracing::warn!(error = %text, "database server unavailable");
            return Self::Unavailable;
        }
        Self::failed(text)
    }
}

/// The error and its causes, for the log: tokio-postgres's own `Display` is only the kind
/// ("db error"), the server's message is in the source.
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

impl From<PoolError> for PgError {
    fn from(e: PoolError) -> Self {
        match e {
            PoolError::Backend(e) => e.into(),
            PoolError::Timeout(TimeoutType::Wait) => Self::Busy,
            // Connecting or checking a connection took too long: the server or the network.
            PoolError::Timeout(TimeoutType::Create | TimeoutType::Recycle) => {
                tracing::warn!("database connection timed out");
                Self::Unavailable
            }
            other => Self::failed(other),
        }
    }
}

fn has_io_source(e: &tokio_postgres::Error) -> bool {
    let mut source = e.source();
    while let Some(s) = source {
        if s.is::<std::io::Error>() {
            return true;
        }
        source = s.source();
    }
    false
}
