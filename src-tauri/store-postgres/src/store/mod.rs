//! `PgStore`: the core's `Store` on PostgreSQL. The SQLite store (crate
//! `tillwatch-store-sqlite`) is the reference: each method here keeps its rows, order,
//! errors and audit entries. What differs is what sharing one database between several
//! processes needs: deliveries are claimed with a lease (`claim_due`), writes that race on
//! one order are serialised by row locks and retried on a serialization failure or a
//! deadlock, and a change of an order is announced to the other processes (`listen`).

mod change_log;
mod confirm;
mod fail;
mod inbox;
mod links;
mod listen;
mod machines;
mod money;
mod orders;
mod pages;
mod refs;
mod summaries;

pub use listen::LISTENER_SUFFIX;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::sync::{broadcast, watch};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use tillwatch_core::domain::{Amount, Currency, JobRef, Timestamp};
use tillwatch_core::store::{LoggedChange, Process, RemoteChange, RemoteChanges, StoreError};

use crate::{DatabaseConfig, PgError, PgPool};
use fail::{lost_race, Fail};

pub use machines::{MachineSeen, Role, GONE_AFTER, HEARTBEAT};

/// How long a normal handle waits for a free connection (the pool's own setting).
const WAIT: Duration = Duration::from_secs(10);
/// How long the listener's handle waits (`refusing_when_full`): a 503 at once beats an
/// answer after the gateway stopped waiting. Ample for a burst once the intake connections
/// are open (`warm`): a notification's INSERT and COMMIT take milliseconds.
const WAIT_WHEN_REFUSING: Duration = Duration::from_secs(1);
/// The most one call may take, waiting for a connection included, before it is given up
/// as `Unreachable`: a connection whose path vanished without closing (Wi-Fi change, NAT
/// timeout) would otherwise hang the call for as long as the kernel retransmits. Above
/// the server's statement_timeout, so a merely slow statement ends on the server's side.
const WORK_LIMIT: Duration = Duration::from_secs(10);
/// The listener's bound: a 503 well within the listener's own 10 s request limit.
const INTAKE_LIMIT: Duration = Duration::from_secs(4);
/// Tries of a transaction that lost a race (serialization failure, deadlock).
const TRIES: u32 = 5;
/// Change notifications kept for a slow receiver before it is told it lagged.
const CHANGES_KEPT: usize = 1024;
/// The channel every process announces its order changes on.
pub(crate) const CHANNEL: &str = "tillwatch_orders";

/// The store. Cheap to clone: the pool and the shared state are reference counted. The
/// last clone dropped stops the task that listens for other processes' changes.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    wait: Duration,
    /// The bound on each call (`WORK_LIMIT`, `INTAKE_LIMIT`).
    limit: Duration,
    shared: Arc<Shared>,
}

struct Shared {
    /// This store's name in change notifications, so its own are not reported back.
    origin: String,
    changes: broadcast::Sender<RemoteChange>,
    /// The LISTEN task's place in the change log: every change up to it was handed out.
    told_to: Arc<AtomicI64>,
    /// The newest search: an older one finishing later answers `Superseded`.
    searches: AtomicU64,
    /// Dropped with the last clone: the LISTEN task sees it close and ends.
    _stop: watch::Sender<()>,
    /// The listener's own few connections (`refusing_when_full`): a burst of
    /// confirmations holding every work connection must not turn notifications away.
    intake: PgPool,
    /// When this process last confirmed a notification (its row in `machines`).
    confirmations: machines::Confirmations,
}

/// Opens `n` of the pool's connections at once and hands them back, so the first burst of
/// notifications does not wait while connections are made (TLS, authentication). A failure
/// is only logged: the pool makes connections on demand anyway.
async fn warm(pool: &PgPool, n: usize) {
    let mut opening = tokio::task::JoinSet::new();
    for _ in 0..n {
        let pool = pool.clone();
        // Each held until all are open, so `n` distinct connections are made.
        opening.spawn(async move { pool.get().await });
    }
    let mut opened = Vec::with_capacity(n);
    while let Some(joined) = opening.join_next().await {
        match joined {
            Ok(Ok(connection)) => opened.push(connection),
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot open the listener's connections yet"),
            Err(_) => {}
        }
    }
}

impl PgStore {
    /// Connects, brings the schema up to date, and starts listening for other processes'
    /// changes. Must be called within a Tokio runtime (the listener is a task).
    pub async fn connect(config: DatabaseConfig) -> Result<PgStore, PgError> {
        Self::connect_keeping(config, CHANGES_KEPT).await
    }

    /// `connect`, keeping `changes_kept` changes for a slow receiver before it lags (a
    /// test's small number shows what a receiver that fell behind does).
    pub async fn connect_keeping(
        config: DatabaseConfig,
        changes_kept: usize,
    ) -> Result<PgStore, PgError> {
        Self::open(config, changes_kept, crate::pool::INTAKE_CONNECTIONS).await
    }

    /// `connect` with `intake` connections kept for the listener instead of
    /// `INTAKE_CONNECTIONS` (the listener bench measures what the number costs).
    pub async fn connect_with_intake(
        config: DatabaseConfig,
        intake: usize,
    ) -> Result<PgStore, PgError> {
        Self::open(config, CHANGES_KEPT, intake).await
    }

    async fn open(
        config: DatabaseConfig,
        changes_kept: usize,
        intake: usize,
    ) -> Result<PgStore, PgError> {
        let pool = PgPool::connect(&config).await?;
        pool.migrate().await?;
        // Changes from here on are this process's to hear: the LISTEN task reads back any
        // that commit before it is listening.
        let start = {
            let client = pool.get().await?;
            match change_log::prune(&**client).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(changes = n, "forgot old changes"),
                Err(e) => tracing::warn!(error = %e, "cannot forget old changes"),
            }
            change_log::latest(&**client).await?
        };
        let intake_pool = PgPool::with_size(&config, intake)?;
        warm(&intake_pool, intake).await;
        let origin = format!("{:016x}", fastrand::u64(..));
        let (changes, _) = broadcast::channel(changes_kept);
        let told_to = Arc::new(AtomicI64::new(start));
        let (stop, stopped) = watch::channel(());
        tokio::spawn(listen::run(
            config,
            listen::Follower {
                origin: origin.clone(),
                changes: changes.clone(),
                told_to: Arc::clone(&told_to),
            },
            stopped,
        ));
        Ok(PgStore {
            pool,
            wait: WAIT,
            limit: WORK_LIMIT,
            shared: Arc::new(Shared {
                origin,
                changes,
                told_to,
                searches: AtomicU64::new(0),
                _stop: stop,
                intake: intake_pool,
                confirmations: machines::Confirmations::default(),
            }),
        })
    }

    /// The pool underneath (tests, status).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn checkout(&self) -> Result<deadpool_postgres::Object, Fail> {
        let mut timeouts = self.pool.inner().timeouts();
        timeouts.wait = Some(self.wait);
        self.pool
            .inner()
            .timeout_get(&timeouts)
            .await
            .map_err(Fail::Pool)
    }

    /// Runs `work` in a read-write transaction and commits, within this handle's bound on
    /// a call (see `timed_out`); a transaction that lost a race
    /// to another process (serialization failure, deadlock) is run again from the start, a
    /// few times, before the caller is told `Conflict`.
    async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send,
        F: for<'a> Fn(&'a Tx<'a>) -> Work<'a, T> + Send + Sync,
    {
        self.run(false, work).await
    }

    /// Runs `work` in a read-only transaction: every statement of it sees one snapshot (an
    /// order's detail is read from several tables).
    async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send,
        F: for<'a> Fn(&'a Tx<'a>) -> Work<'a, T> + Send + Sync,
    {
        self.run(true, work).await
    }

    async fn run<T, F>(&self, read_only: bool, work: F) -> Result<T, StoreError>
    where
        T: Send,
        F: for<'a> Fn(&'a Tx<'a>) -> Work<'a, T> + Send + Sync,
    {
        let mut tries = 0;
        loop {
            tries += 1;
            let result = async {
                let deadline = tokio::time::Instant::now() + self.limit;
                let mut client = self.checked_out(deadline).await?;
                let outcome = tokio::time::timeout_at(deadline, async {
                    let tx = if read_only {
                        client
                            .build_transaction()
                            .read_only(true)
                            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                            .start()
                            .await?
                    } else {
                        client.transaction().await?
                    };
                    let tx = Tx {
                        tx,
                        origin: &self.shared.origin,
                    };
                    let value = work(&tx).await?;
                    // synchronous_commit is on (set per connection): COMMIT returns once the
                    // commit is on disk. Concurrent commits on other connections share the
                    // WAL flush (PostgreSQL's group commit), so no batching of our own is
                    // needed.
                    tx.tx.commit().await?;
                    Ok(value)
                })
                .await;
                outcome.unwrap_or_else(|_| Err(self.timed_out(client)))
            }
            .await;
            match result {
                Err(Fail::Pg(e)) if lost_race(&e) && tries < TRIES => {
                    tracing::debug!(tries, "a transaction lost a race; trying again");
                    let pause = 5 * u64::from(tries) + fastrand::u64(..10);
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
                other => return other.map_err(Fail::into_store),
            }
        }
    }
}

impl PgStore {
    /// A connection from the pool by `deadline` (this handle's bound on the whole call).
    async fn checked_out(
        &self,
        deadline: tokio::time::Instant,
    ) -> Result<deadpool_postgres::Object, Fail> {
        tokio::time::timeout_at(deadline, self.checkout())
            .await
            .map_err(|_| Fail::TimedOut)?
    }

    /// A call on `client` ran past its bound: it may be hung mid-statement on a path that
    /// vanished without closing. It is thrown away, never handed back to the pool, and so
    /// are the pool's idle connections, which went quiet on the same path; the next calls
    /// make fresh ones.
    fn timed_out(&self, client: deadpool_postgres::Object) -> Fail {
        drop(deadpool_postgres::Object::take(client));
        let idle = self.pool.inner().retain(|_, _| false).removed.len();
        tracing::warn!(
            limit = ?self.limit,
            idle_dropped = idle,
            "a database call timed out; its connection is dropped"
        );
        Fail::TimedOut
    }

    /// Runs one statement on its own (autocommit: the statement is its transaction), within
    /// this handle's bound on a call. One round trip where `write` takes three (BEGIN, the
    /// statement, COMMIT): for the listener's insert, which the gateway's acknowledgement
    /// waits for. With synchronous_commit on, it returns once the row is committed. A call
    /// given up on its bound may still commit on the server afterwards (as a COMMIT in
    /// flight could before): the caller answered 503, the gateway sends it again, and a
    /// second row for one notification is what the inbox already takes from the gateway.
    async fn autocommit_one(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, StoreError> {
        let call = async {
            let deadline = tokio::time::Instant::now() + self.limit;
            let client = self.checked_out(deadline).await?;
            let outcome = tokio::time::timeout_at(deadline, async {
                let stmt = client.prepare_cached(sql).await?;
                Ok(client.query_one(&stmt, params).await?)
            })
            .await;
            outcome.unwrap_or_else(|_| Err(self.timed_out(client)))
        };
        call.await.map_err(Fail::into_store)
    }
}

impl Process for PgStore {
    /// Other processes' changes from now on, and the place in the log they start after.
    fn remote_changes(&self) -> Option<RemoteChanges> {
        // Subscribed first: a change told between the two is received (and is at or below
        // `after`, so a catch-up does not read it again).
        let receiver = self.shared.changes.subscribe();
        Some(RemoteChanges {
            receiver,
            after: self.shared.told_to.load(Ordering::Acquire),
        })
    }

    /// The log after place `seq`, in order, at most `limit` rows.
    async fn changes_after(&self, seq: i64, limit: u32) -> Result<Vec<LoggedChange>, StoreError> {
        self.read(|tx| {
            Box::pin(
                async move { Ok(change_log::read_after(&*tx.tx, tx.origin, seq, limit).await?) },
            )
        })
        .await
    }

    /// The listener's handle: its own connections, and a short wait for one.
    fn refusing_when_full(&self) -> PgStore {
        PgStore {
            pool: self.shared.intake.clone(),
            wait: WAIT_WHEN_REFUSING,
            limit: INTAKE_LIMIT,
            shared: Arc::clone(&self.shared),
        }
    }

    /// The database server's clock, which every process sharing it reads alike.
    async fn now(&self) -> Result<Timestamp, StoreError> {
        let read = async {
            let deadline = tokio::time::Instant::now() + self.limit;
            let client = self.checked_out(deadline).await?;
            let outcome = tokio::time::timeout_at(deadline, async {
                let stmt = client.prepare_cached("SELECT clock_timestamp()").await?;
                ts(&client.query_one(&stmt, &[]).await?, 0)
            })
            .await;
            outcome.unwrap_or_else(|_| Err(self.timed_out(client)))
        };
        read.await.map_err(Fail::into_store)
    }
}

/// A transaction's work, boxed so one function can run it again.
type Work<'a, T> = Pin<Box<dyn Future<Output = Result<T, Fail>> + Send + 'a>>;

/// A parameter of a statement built at run time.
type Param = Box<dyn ToSql + Sync + Send>;

/// An open transaction, with the statements cached per connection.
pub(crate) struct Tx<'a> {
    tx: deadpool_postgres::Transaction<'a>,
    origin: &'a str,
}

impl Tx<'_> {
    async fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, Fail> {
        let stmt = self.tx.prepare_cached(sql).await?;
        Ok(self.tx.query(&stmt, params).await?)
    }

    async fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, Fail> {
        let stmt = self.tx.prepare_cached(sql).await?;
        Ok(self.tx.query_opt(&stmt, params).await?)
    }

    async fn query_one(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row, Fail> {
        let stmt = self.tx.prepare_cached(sql).await?;
        Ok(self.tx.query_one(&stmt, params).await?)
    }

    async fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, Fail> {
        let stmt = self.tx.prepare_cached(sql).await?;
        Ok(self.tx.execute(&stmt, params).await?)
    }

    /// A query whose parameters were built at run time (the orders pages).
    async fn query_dyn(&self, sql: &str, params: &[Param]) -> Result<Vec<Row>, Fail> {
        let refs: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        self.query(sql, &refs).await
    }

    /// Serialises the writers of one order, a new one included (no row to lock yet).
    async fn lock_order(&self, job: &JobRef) -> Result<(), Fail> {
        self.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))::text",
            &[&ORDER_LOCK_CLASS, &job.as_str()],
        )
        .await?;
        Ok(())
    }
}

/// The first key of the advisory locks on orders (the two-key space, apart from the
/// migrations' single-key lock).
const ORDER_LOCK_CLASS: i32 = 0x7477;

// Stored values to domain values; a bad one is `Corrupt` in our words, never a panic.

fn timestamp(t: OffsetDateTime) -> Result<Timestamp, Fail> {
    // The domain type is built from text only; RFC 3339 keeps every digit PostgreSQL has
    // (microseconds), as the SQLite store's text does.
    let text = t
        .format(&Rfc3339)
        .map_err(|e| Fail::corrupt(format!("a time that cannot be written: {e}")))?;
    Timestamp::parse(&text).map_err(|e| Fail::corrupt(format!("'{text}': {e}")))
}

fn ts(row: &Row, i: usize) -> Result<Timestamp, Fail> {
    timestamp(row.try_get::<_, OffsetDateTime>(i)?)
}

fn ts_opt(row: &Row, i: usize) -> Result<Option<Timestamp>, Fail> {
    row.try_get::<_, Option<OffsetDateTime>>(i)?
        .map(timestamp)
        .transpose()
}

fn amount_opt(row: &Row, i: usize) -> Result<Option<Amount>, Fail> {
    Ok(row
        .try_get::<_, Option<rust_decimal::Decimal>>(i)?
        .map(Amount::new))
}

fn currency_opt(row: &Row, i: usize) -> Result<Option<Currency>, Fail> {
    row.try_get::<_, Option<String>>(i)?
        .map(|c| Currency::parse(&c).map_err(|e| Fail::corrupt(format!("'{c}': {e}"))))
        .transpose()
}

fn job_ref(text: &str) -> Result<JobRef, Fail> {
    JobRef::parse(text).map_err(|e| Fail::corrupt(format!("'{text}': {e}")))
}

/// A domain time as a parameter (tokio-postgres keeps microseconds, as the SQLite text).
fn at(t: Timestamp) -> OffsetDateTime {
    t.inner()
}

fn now() -> OffsetDateTime {
    Timestamp::now().inner()
}
