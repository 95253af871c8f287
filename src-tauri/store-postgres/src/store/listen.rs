//! Other processes' changes: a task with its own connection (not a pooled one: LISTEN
//! belongs to a session) listens on the orders channel and passes each change another
//! process committed to the store's receivers. When the connection drops (the server
//! restarted, the network went) it connects again, waiting longer each time up to a cap.
//! Changes committed while it was away are not replayed: a receiver that must not miss
//! one re-reads what it shows after `Lagged`, or on its own timer.

use std::time::Duration;

use tokio::sync::{broadcast, mpsc, watch};
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{AsyncMessage, Socket};

use super::CHANNEL;
use crate::{DatabaseConfig, SslMode};
use tillwatch_core::domain::JobRef;

const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(5);

/// Why a session ended.
enum Ended {
    /// Every store handle is gone.
    Stopped,
    /// The connection failed or dropped; `listened`: it had been listening.
    Lost { listened: bool },
}

pub(super) async fn run(
    config: DatabaseConfig,
    origin: String,
    changes: broadcast::Sender<JobRef>,
    mut stop: watch::Receiver<()>,
) {
    let mut pause = FIRST_RETRY;
    loop {
        let ended = if config.sslmode == SslMode::Disable {
            session(&config, tokio_postgres::NoTls, &origin, &changes, &mut stop).await
        } else {
            match crate::tls::connector(&config) {
                Ok(tls) => session(&config, tls, &origin, &changes, &mut stop).await,
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
    origin: &str,
    changes: &broadcast::Sender<JobRef>,
    stop: &mut watch::Receiver<()>,
) -> Ended
where
    T: MakeTlsConnect<Socket>,
    T::Stream: Send + 'static,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
    let lost = Ended::Lost { listened: false };
    let pg = config.to_pg();
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
        loop {
            tokio::select! {
                _ = stop.changed() => return Ended::Stopped,
                n = notices.recv() => {
                    let Some(n) = n else {
                        return Ended::Lost { listened: true };
                    };
                    let Some((from, job)) = n.payload().split_once(' ') else {
                        continue;
                    };
                    if from == origin {
                        continue;
                    }
                    match JobRef::parse(job) {
                        // No receiver is not an error: nobody is looking.
                        Ok(job) => drop(changes.send(job)),
                        Err(e) => tracing::warn!(error = %e, "a change notice names no order"),
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
