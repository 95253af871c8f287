//! Other processes' changes: a task with its own connection (not a pooled one: LISTEN
//! belongs to a session) listens on the orders channel and passes each change another
//! process committed to the store's receivers. When the connection drops (the server
//! restarted, the network went) it connects again, waiting longer each time up to a cap,
//! and reads back from the change log what committed while it was away: each change is
//! passed on once, whether heard or read back.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::Instant;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{AsyncMessage, Client, Socket};

use super::{change_log, CHANNEL};
use crate::{DatabaseConfig, SslMode};
use tillwatch_core::store::{ChangeCursor, RemoteChange};

const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(5);
/// Changes read back per query after a reconnection.
const CATCH_UP_PAGE: u32 = 500;
/// How often a long-lived process forgets old changes (it does at start too).
const PRUNE_EVERY: Duration = Duration::from_secs(24 * 3600);

/// Added to the configured application name for the LISTEN connection.
pub const LISTENER_SUFFIX: &str = "-changes";

/// Why a session ended.
enum Ended {
    /// Every store handle is gone.
    Stopped,
    /// The connection failed or dropped; `listened`: it had been listening.
    Lost { listened: bool },
}

/// Where the task passes changes on, and how far it has got.
pub(super) struct Follower {
    /// This store's name in change notifications, so its own are not passed on.
    pub origin: String,
    pub changes: broadcast::Sender<RemoteChange>,
    /// The cursor's floor, for receivers that subscribe later.
    pub told_to: Arc<AtomicI64>,
}

impl Follower {
    /// Passes a change on unless it was already, or it is this store's own.
    fn tell(&self, cursor: &mut ChangeCursor, change: RemoteChange, ours: bool) {
        if cursor.take(change.seq, Instant::now()) && !ours {
            // No receiver is not an error: nobody is looking.
            drop(self.changes.send(change));
        }
        self.told_to.store(cursor.floor(), Ordering::Release);
    }

    /// Reads back and passes on what the log holds after the cursor.
    async fn catch_up(
        &self,
        client: &Client,
        cursor: &mut ChangeCursor,
    ) -> Result<(), tokio_postgres::Error> {
        // Paged by the last place read, not the floor: a hole keeps the floor below rows
        // already passed on.
        let mut from = cursor.floor();
        loop {
            let page = change_log::read_after(client, &self.origin, from, CATCH_UP_PAGE).await?;
            let full = page.len() == CATCH_UP_PAGE as usize;
            for logged in page {
                from = logged.change.seq;
                self.tell(cursor, logged.change, logged.ours);
            }
            if !full {
                return Ok(());
            }
        }
    }
}

pub(super) async fn run(config: DatabaseConfig, follower: Follower, mut stop: watch::Receiver<()>) {
    let mut cursor = ChangeCursor::after(follower.told_to.load(Ordering::Acquire));
    let mut pause = FIRST_RETRY;
    loop {
        let ended = if config.sslmode == SslMode::Disable {
            session(
                &config,
                tokio_postgres::NoTls,
                &follower,
                &mut cursor,
                &mut stop,
            )
            .await
        } else {
            match crate::tls::connector(&config) {
                Ok(tls) => session(&config, tls, &follower, &mut cursor, &mut stop).await,
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for other processes' changes");
                    return;
                }
            }
        };
        match ended {
            Ended::Stopped => return,
            Ended::Lost { listened } => {
                if listened {
                    pause = FIRST_RETRY;
                }
                tokio::select! {
                    _ = stop.changed() => return,
                    () = tokio::time::sleep(pause) => {}
                }
                pause = (pause * 2).min(LAST_RETRY);
            }
        }
    }
}

async fn session<T>(
    config: &DatabaseConfig,
    tls: T,
    follower: &Follower,
    cursor: &mut ChangeCursor,
    stop: &mut watch::Receiver<()>,
) -> Ended
where
    T: MakeTlsConnect<Socket>,
    T::Stream: Send + 'static,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
    let lost = Ended::Lost { listened: false };
    let mut pg = config.to_pg();
    // Named apart from the pool's connections, so an operator (or a test) can tell it.
    pg.application_name(format!("{}{LISTENER_SUFFIX}", config.application_name));
    let connecting = pg.connect(tls);
    let (client, mut connection) = tokio::select! {
        _ = stop.changed() => return Ended::Stopped,
        c = connecting => match c {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "cannot listen for changes yet");
                return lost;
            }
        },
    };
    // The connection is driven by its own task, which hands on what the server sends
    // unasked (notifications); it ends when the connection does.
    let (tx, mut notices) = mpsc::unbounded_channel();
    let pump = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) => {
                    if tx.send(n).is_err() {
                        return;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "the change listener's connection dropped");
                    return;
                }
                None => return,
            }
        }
    });
    let ended = async {
        if let Err(e) = client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
            tracing::debug!(error = %e, "cannot listen for changes yet");
            return lost;
        }
        tracing::debug!("listening for other processes' changes");
        // Listening first, then reading back: a change that commits in between is both
        // heard and read, and passed on once.
        if let Err(e) = follower.catch_up(&client, cursor).await {
            tracing::debug!(error = %e, "cannot read back the changes missed");
            return Ended::Lost { listened: true };
        }
        let mut prune = tokio::time::interval_at(Instant::now() + PRUNE_EVERY, PRUNE_EVERY);
        loop {
            tokio::select! {
                _ = stop.changed() => return Ended::Stopped,
                _ = prune.tick() => match change_log::prune(&client).await {
                    Ok(n) => tracing::debug!(changes = n, "forgot old changes"),
                    Err(e) => tracing::warn!(error = %e, "cannot forget old changes"),
                },
                n = notices.recv() => {
                    let Some(n) = n else {
                        return Ended::Lost { listened: true };
                    };
                    match change_log::decode(n.payload()) {
                        Some((from, change)) => {
                            let ours = from == follower.origin;
                            follower.tell(cursor, change, ours);
                        }
                        None => tracing::warn!("a change notice this build cannot read"),
                    }
                }
            }
        }
    }
    .await;
    drop(client);
    pump.abort();
    ended
}
