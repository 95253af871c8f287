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
use tillwatch_core::domain::{ChangeSource, JobRef, PaymentStatus};
use tillwatch_core::store::RemoteChange;

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
    changes: broadcast::Sender<RemoteChange>,
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
    changes: &broadcast::Sender<RemoteChange>,
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
                    match decode(n.payload()) {
                        Some((from, _)) if from == origin => {}
                        // No receiver is not an error: nobody is looking.
                        Some((_, change)) => drop(changes.send(change)),
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

/// A change as a notification's payload: `origin job source changed previous`, words with
/// no spaces in them (`-` for no previous status).
pub(super) fn encode(origin: &str, change: &RemoteChange) -> String {
    format!(
        "{origin} {} {} {} {}",
        change.job_ref.as_str(),
        change.source.as_str(),
        u8::from(change.status_changed),
        change
            .previous_status
            .as_ref()
            .map_or("-", PaymentStatus::as_str)
    )
}

/// The origin and the change of a payload `encode` wrote.
fn decode(payload: &str) -> Option<(&str, RemoteChange)> {
    let mut words = payload.split(' ');
    let origin = words.next()?;
    let job_ref = JobRef::parse(words.next()?).ok()?;
    let source = ChangeSource::parse(words.next()?)?;
    let status_changed = words.next()? == "1";
    let previous_status = match words.next()? {
        "-" => None,
        word => Some(PaymentStatus::from(word.to_owned())),
    };
    Some((
        origin,
        RemoteChange {
            job_ref,
            previous_status,
            status_changed,
            source,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_reads_back_as_it_was_written() {
        for (previous, changed, source) in [
            (
                Some(PaymentStatus::from("Pending".to_owned())),
                true,
                ChangeSource::Notification,
            ),
            (None, false, ChangeSource::Owner),
        ] {
            let change = RemoteChange {
                job_ref: JobRef::parse("300200100").unwrap(),
                previous_status: previous,
                status_changed: changed,
                source,
            };
            let payload = encode("origin-1", &change);
            assert_eq!(decode(&payload), Some(("origin-1", change)));
        }
        assert_eq!(
            decode("origin-1 300200100"),
            None,
            "an older build's payload"
        );
    }
}
