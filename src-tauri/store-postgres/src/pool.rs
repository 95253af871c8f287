//! A small pool of connections to the shared database (deadpool).

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, RecyclingMethod, Runtime};

use crate::{migrations, DatabaseConfig, Migrated, PgError, SslMode};

/// Connections one process keeps at most for its work (confirmations, reads, the owner's
/// actions). PostgreSQL's default limit is 100 for all clients together, and several
/// Tillwatch processes share one server.
pub const MAX_CONNECTIONS: usize = 8;
/// Connections kept apart for the webhook listener's intake, so storing a notification
/// (which the gateway's acknowledgement waits for) never queues behind confirmations.
/// Five, not three: with each notification one round trip, the listener bench (runs taking
/// turns) gave 0.53-0.59x of its floor's throughput on 3, 0.78-0.81x on 5 and 0.86-0.87x on
/// 8. A process holds at most 8 + 5 + 1 (the change listener) = 14 connections, so six
/// processes stay within PostgreSQL's default limit of 100.
pub const INTAKE_CONNECTIONS: usize = 5;
/// How long a caller waits for a free connection before `PgError::Busy`.
const WAIT_TIMEOUT: Duration = Duration::from_secs(10);

/// The pool. Cheap to clone (shared). A connection that broke (server restarted, network
/// gone) is dropped at its next checkout and a new one made, so the pool recovers by itself
/// once the server is back.
#[derive(Clone)]
pub struct PgPool {
    pool: deadpool_postgres::Pool,
    shown: String,
}

impl PgPool {
    /// Builds the pool without connecting: nothing is reached until the first `get`.
    pub fn new(config: &DatabaseConfig) -> Result<Self, PgError> {
        Self::with_size(config, MAX_CONNECTIONS)
    }

    /// `new` with at most `size` connections.
    pub fn with_size(config: &DatabaseConfig, size: usize) -> Result<Self, PgError> {
        let pg = config.to_pg();
        let manager_config = ManagerConfig {
            // Fast: a checkout only asks whether the connection's task has seen it close.
            // A round trip per checkout (Verified) would double the latency of every query
            // to a server across the network; a connection that died unseen fails its query
            // with `Unavailable` and is dropped at the next checkout.
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = if config.sslmode == SslMode::Disable {
            Manager::from_config(pg, tokio_postgres::NoTls, manager_config)
        } else {
            Manager::from_config(pg, crate::tls::connector(config)?, manager_config)
        };
        // Making a connection is bounded by the driver's connect_timeout per attempt (TCP);
        // the create timeout also bounds the TLS handshake and authentication after it.
        let create_timeout = config.connect_timeout + Duration::from_secs(5);
        let pool = deadpool_postgres::Pool::builder(manager)
            .max_size(size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(WAIT_TIMEOUT))
            .create_timeout(Some(create_timeout))
            .recycle_timeout(Some(create_timeout))
            .build()
            .map_err(|e| PgError::failed(format!("database pool: {e}")))?;
        Ok(Self {
            pool,
            shown: config.to_string(),
        })
    }

    /// Builds the pool and makes one connection, so a wrong URL, password or TLS setting
    /// is reported at start-up rather than at the first payment.
    pub async fn connect(config: &DatabaseConfig) -> Result<Self, PgError> {
        let pool = Self::new(config)?;
        drop(pool.get().await?);
        tracing::info!(database = %pool.shown, "connected to the shared database");
        Ok(pool)
    }

    /// A connection from the pool (derefs to `tokio_postgres::Client`), returned on drop.
    pub async fn get(&self) -> Result<Object, PgError> {
        Ok(self.pool.get().await?)
    }

    /// Brings the schema up to date (see `migrations`).
    pub async fn migrate(&self) -> Result<Migrated, PgError> {
        let mut client = self.get().await?;
        migrations::migrate(&mut client).await
    }

    /// The database's URL without the password, for logs.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// The pool itself, for what this type does not wrap (status, resizing).
    pub fn inner(&self) -> &deadpool_postgres::Pool {
        &self.pool
    }
}

impl std::fmt::Debug for PgPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgPool")
            .field("database", &self.shown)
            .field("status", &self.pool.status())
            .finish()
    }
}
