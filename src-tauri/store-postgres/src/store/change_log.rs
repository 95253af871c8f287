//! The change log (`order_changes`): each write that changes an order appends its change
//! and announces the row's place on the orders channel, in its transaction; a follower
//! that missed notifications reads the rows after the last place it handled.

use std::time::Duration;

use tokio_postgres::GenericClient;

use super::{Tx, CHANNEL};
use tillwatch_core::domain::{ChangeSource, JobRef, PaymentStatus};
use tillwatch_core::store::{LoggedChange, RemoteChange};

/// How long changes are kept: far longer than a window stays cut off from the database
/// while running (one away longer reloads everything when it is opened again).
pub(super) const KEPT_FOR: Duration = Duration::from_secs(7 * 24 * 3600);

/// What a write changed, before the log gives it a place.
pub(crate) struct Change<'a> {
    pub job_ref: &'a JobRef,
    pub previous_status: Option<&'a PaymentStatus>,
    pub status_changed: bool,
    pub source: ChangeSource,
}

impl Tx<'_> {
    /// Logs this order's change and tells the other processes sharing the database; both
    /// happen when (and only if) the transaction commits.
    pub(super) async fn changed(&self, change: Change<'_>) -> Result<(), super::Fail> {
        let previous = change.previous_status.map(PaymentStatus::as_str);
        let payload = encode(self.origin, &change);
        self.execute(
            "WITH logged AS (
                 INSERT INTO order_changes (origin, job_ref, source, status_changed,
                                            previous_status)
                 VALUES ($1, $2, $3, $4, $5) RETURNING seq)
             SELECT pg_notify($6, seq::text || ' ' || $7)::text FROM logged",
            &[
                &self.origin,
                &change.job_ref.as_str(),
                &change.source.as_str(),
                &change.status_changed,
                &previous,
                &CHANNEL,
                &payload,
            ],
        )
        .await?;
        Ok(())
    }
}

/// The rows after `seq`, in order; `origin`'s own are marked `ours`. A row this build
/// cannot read is left out (its place stays a hole the reader gives up in time).
pub(super) async fn read_after(
    client: &(impl GenericClient + Sync),
    origin: &str,
    seq: i64,
    limit: u32,
) -> Result<Vec<LoggedChange>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT seq, origin, job_ref, source, status_changed, previous_status
             FROM order_changes WHERE seq > $1 ORDER BY seq LIMIT $2",
            &[&seq, &i64::from(limit)],
        )
        .await?;
    let mut changes = Vec::with_capacity(rows.len());
    for row in rows {
        let seq: i64 = row.try_get(0)?;
        let from: &str = row.try_get(1)?;
        let job: &str = row.try_get(2)?;
        let source: &str = row.try_get(3)?;
        let (Ok(job_ref), Some(source)) = (JobRef::parse(job), ChangeSource::parse(source)) else {
            tracing::warn!(seq, "a logged change this build cannot read");
            continue;
        };
        changes.push(LoggedChange {
            ours: from == origin,
            change: RemoteChange {
                seq,
                job_ref,
                previous_status: row
                    .try_get::<_, Option<String>>(5)?
                    .map(PaymentStatus::from),
                status_changed: row.try_get(4)?,
                source,
            },
        });
    }
    Ok(changes)
}

/// The last place given out so far (0 for an empty log).
pub(super) async fn latest(
    client: &(impl GenericClient + Sync),
) -> Result<i64, tokio_postgres::Error> {
    Ok(client
        .query_one("SELECT coalesce(max(seq), 0) FROM order_changes", &[])
        .await?
        .get(0))
}

/// Deletes changes older than `KEPT_FOR` by the database's clock; how many.
pub(super) async fn prune(
    client: &(impl GenericClient + Sync),
) -> Result<u64, tokio_postgres::Error> {
    let secs = KEPT_FOR.as_secs_f64();
    client
        .execute(
            "DELETE FROM order_changes WHERE changed_at < now() - make_interval(secs => $1)",
            &[&secs],
        )
        .await
}

/// A change as a notification's payload after its place: `origin job source changed
/// previous`, words with no spaces in them (`-` for no previous status).
fn encode(origin: &str, change: &Change<'_>) -> String {
    format!(
        "{origin} {} {} {} {}",
        change.job_ref.as_str(),
        change.source.as_str(),
        u8::from(change.status_changed),
        change.previous_status.map_or("-", PaymentStatus::as_str)
    )
}

/// The origin and the change of a payload: its place, then what `encode` wrote.
pub(super) fn decode(payload: &str) -> Option<(&str, RemoteChange)> {
    let mut words = payload.split(' ');
    let seq = words.next()?.parse().ok()?;
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
            seq,
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
        let job = JobRef::parse("300200100").unwrap();
        let pending = PaymentStatus::from("Pending".to_owned());
        for (previous, changed, source) in [
            (Some(&pending), true, ChangeSource::Notification),
            (None, false, ChangeSource::Owner),
        ] {
            let change = Change {
                job_ref: &job,
                previous_status: previous,
                status_changed: changed,
                source,
            };
            // The database puts the place in front.
            let payload = format!("41 {}", encode("origin-1", &change));
            assert_eq!(
                decode(&payload),
                Some((
                    "origin-1",
                    RemoteChange {
                        seq: 41,
                        job_ref: job.clone(),
                        previous_status: previous.cloned(),
                        status_changed: changed,
                        source,
                    }
                ))
            );
        }
        assert_eq!(
            decode("origin-1 300200100 notification 1 -"),
            None,
            "an older build's payload, without its place"
        );
    }
}
