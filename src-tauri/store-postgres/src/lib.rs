//! Tillwatch's optional shared store on PostgreSQL, so several Tillwatch processes (a
//! `serve` on a small server, windows on other machines) share one database: the
//! configuration from a URL and the environment, TLS, a connection pool, and the schema's
//! embedded migrations, and `PgStore`, the core's `Store` on them.

mod check;
mod config;
mod error;
pub mod migrations;
mod pool;
mod store;
mod tls;

pub use check::{check_connection, ConnectionCheck, Stage, StageResult};
pub use config::{
    is_local_host, take_password, ChannelBinding, DatabaseConfig, Password, SslMode, PASSWORD_ENV,
    PGPASSWORD_ENV,
};
pub use error::PgError;
pub use migrations::Migrated;
pub use pool::{PgPool, INTAKE_CONNECTIONS, MAX_CONNECTIONS};
pub use store::{MachineSeen, PgStore, Role, GONE_AFTER, HEARTBEAT, LISTENER_SUFFIX};

/// The driver, so callers use the very version this crate was built with.
pub use deadpool_postgres;
pub use tokio_postgres;
