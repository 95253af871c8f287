//! Which machines use the shared database (table `machines`, migration 0004): each process
//! keeps a row of its own alive with a heartbeat, and a serve notes when it last confirmed
//! a notification, so a window can say which machine takes the notifications and when it
//! last confirmed one. Every time is the database's clock, so "seen 20 s ago" means the
//! same on every machine whatever their own clocks say.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio::time::Instant;

use tillwatch_core::store::{machine_name, StoreError};

use super::PgStore;

/// How often a process says it is still there.
pub const HEARTBEAT: Duration = Duration::from_secs(30);
/// A process not seen for this long is taken to be gone (three missed heartbeats).
pub const GONE_AFTER: Duration = Duration::from_secs(90);
/// Confirmations in a burst are written at most this often: the time stays right to a
/// second without one write per confirmation.
const CONFIRMATION_WRITES_EVERY: Duration = Duration::from_secs(1);
/// Rows of processes not seen for this long are removed.
const FORGET_AFTER_DAYS: f64 = 7.0;

/// What a process does with the shared database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `tillwatch serve`: takes the notifications and confirms them.
    Serve,
    /// A window: shows and ships orders.
    Window,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Serve => "serve",
            Role::Window => "window",
        }
    }
}

/// One process as the database last saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct MachineSeen {
    pub id: String,
    pub machine: String,
    pub role: Role,
    pub started_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    pub last_confirmed_at: Option<OffsetDateTime>,
    /// It said goodbye (stopped cleanly).
    pub stopped: bool,
    /// How long ago it was last seen, by the database's clock.
    pub seen_ago: Duration,
}

impl MachineSeen {
    /// Running now: not stopped, and seen within `GONE_AFTER`.
    pub fn is_alive(&self) -> bool {
        !self.stopped && self.seen_ago < GONE_AFTER
    }
}

/// When this process last confirmed a notification, for its heartbeat to write.
#[derive(Default)]
pub(super) struct Confirmations {
    last: Mutex<Option<Instant>>,
    wake: Notify,
}

impl Confirmations {
    /// A delivery was settled as confirmed by this process.
    pub(super) fn noted(&self) {
        if let Ok(mut last) = self.last.lock() {
            *last = Some(Instant::now());
        }
        self.wake.notify_one();
    }

    fn last(&self) -> Option<Instant> {
        self.last.lock().ok().and_then(|l| *l)
    }
}

impl PgStore {
    /// Keeps this process's row until `stop` resolves: written at once, on every heartbeat
    /// and, for a serve, within a second of a confirmation; marked stopped at the end. A
    /// failed write is logged and tried again at the next beat (the database may be away).
    pub async fn keep_presence(&self, role: Role, stop: impl Future<Output = ()>) {
        let id = format!(
            "{}/{}/{:08x}",
            machine_name(),
            std::process::id(),
            fastrand::u32(..)
        );
        let machine = machine_name();
        tokio::pin!(stop);
        loop {
            let lag = self
                .shared
                .confirmations
                .last()
                .map(|at| at.elapsed().as_secs_f64());
            if let Err(e) = self.beat(&id, &machine, role, lag).await {
                tracing::warn!(code = e.code(), error = %e, "cannot tell the shared database this machine is here");
            }
            let written = Instant::now();
            let next_beat = Instant::now() + HEARTBEAT;
            tokio::select! {
                () = &mut stop => break,
                () = tokio::time::sleep_until(next_beat) => {}
                () = self.shared.confirmations.wake.notified() => {
                    // A burst of confirmations is one write a second.
                    let earliest = written + CONFIRMATION_WRITES_EVERY;
                    tokio::select! {
                        () = &mut stop => break,
                        () = tokio::time::sleep_until(earliest) => {}
                    }
                }
            }
        }
        if let Err(e) = self.said_goodbye(&id).await {
            tracing::warn!(code = e.code(), error = %e, "cannot mark this machine stopped on the shared database");
        }
    }

    /// Upserts the row; `confirmed_secs_ago`: the last confirmation, that long before now
    /// by this process's monotonic clock (so written on the database's clock).
    async fn beat(
        &self,
        id: &str,
        machine: &str,
        role: Role,
        confirmed_secs_ago: Option<f64>,
    ) -> Result<(), StoreError> {
        let (id, machine, role) = (id.to_owned(), machine.to_owned(), role.as_str());
        self.write(|tx| {
            let (id, machine) = (id.clone(), machine.clone());
            Box::pin(async move {
                tx.execute(
                    "INSERT INTO machines
                         (id, machine, role, started_at, last_seen_at, last_confirmed_at)
                     VALUES ($1, $2, $3, now(), now(), now() - make_interval(secs => $4))
                     ON CONFLICT (id) DO UPDATE SET
                         last_seen_at = now(),
                         stopped_at = NULL,
                         last_confirmed_at =
                             coalesce(EXCLUDED.last_confirmed_at, machines.last_confirmed_at)",
                    &[&id, &machine, &role, &confirmed_secs_ago],
                )
                .await?;
                tx.execute(
                    "DELETE FROM machines WHERE last_seen_at < now() - make_interval(days => $1)",
                    &[&(FORGET_AFTER_DAYS as i32)],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn said_goodbye(&self, id: &str) -> Result<(), StoreError> {
        let id = id.to_owned();
        self.write(|tx| {
            let id = id.clone();
            Box::pin(async move {
                tx.execute(
                    "UPDATE machines SET stopped_at = now(), last_seen_at = now() WHERE id = $1",
                    &[&id],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    /// Every process the database knows of, the most recently seen first.
    pub async fn machines(&self) -> Result<Vec<MachineSeen>, StoreError> {
        self.read(|tx| {
            Box::pin(async move {
                let rows = tx
                    .query(
                        "SELECT id, machine, role, started_at, last_seen_at, last_confirmed_at,
                                stopped_at IS NOT NULL,
                                greatest(extract(epoch FROM now() - last_seen_at), 0)::float8
                         FROM machines ORDER BY last_seen_at DESC, id",
                        &[],
                    )
                    .await?;
                rows.iter()
                    .map(|r| {
                        let role = match r.try_get::<_, &str>(2)? {
                            "serve" => Role::Serve,
                            _ => Role::Window,
                        };
                        Ok(MachineSeen {
                            id: r.try_get(0)?,
                            machine: r.try_get(1)?,
                            role,
                            started_at: r.try_get(3)?,
                            last_seen_at: r.try_get(4)?,
                            last_confirmed_at: r.try_get(5)?,
                            stopped: r.try_get(6)?,
                            seen_ago: Duration::from_secs_f64(r.try_get::<_, f64>(7)?),
                        })
                    })
                    .collect()
            })
        })
        .await
    }
}
