//! The notification sender: one series per status change, POSTed to the job's
//! webhook and retried on the gateway's schedule until strictly acknowledged
//! (HTTP 200 echoing both references as strings) or given up.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;

use super::deliveries::{DeliveryAttempt, SeriesRecord, SeriesState};
use super::ledger::Change;
use super::model::NotificationBody;
use super::shared::{lock, Shared};

/// When the gateway retries an unacknowledged notification, in sim time. Each gap is
/// counted from the previous attempt's due time.
#[derive(Clone, Debug, PartialEq)]
pub struct RetrySchedule {
    /// Gap between the first retries (default one minute)…
    pub fast_interval: Duration,
    /// …for this many retries (default 5).
    pub fast_retries: u32,
    /// Then this gap (default one day)…
    pub slow_interval: Duration,
    /// …while the next attempt stays within this long after the first (default 7 days).
    pub slow_until: Duration,
    /// Then this gap (default one week)…
    pub late_interval: Duration,
    /// …and no attempt later than this after the first one (default 30 days).
    pub give_up_after: Duration,
}

const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(86_400);

impl Default for RetrySchedule {
    fn default() -> Self {
        Self {
            fast_interval: MINUTE,
            fast_retries: 5,
            slow_interval: DAY,
            slow_until: 7 * DAY,
            late_interval: 7 * DAY,
            give_up_after: 30 * DAY,
        }
    }
}

impl RetrySchedule {
    /// The offset (from the first attempt) of the next retry after `retries_done`
    /// retries, the last attempt having been due at offset `last`; `None`: give up.
    pub fn next_offset(&self, retries_done: u32, last: Duration) -> Option<Duration> {
        let gap = if retries_done < self.fast_retries {
            self.fast_interval
        } else if last + self.slow_interval <= self.slow_until {
            self.slow_interval
        } else {
            self.late_interval
        };
        let next = last + gap;
        (next <= self.give_up_after).then_some(next)
    }

    /// The offsets of every attempt of a series that is never acknowledged (the first is 0).
    pub fn offsets(&self) -> Vec<Duration> {
        let mut out = vec![Duration::ZERO];
        while let Some(next) =
            self.next_offset(out.len() as u32 - 1, *out.last().expect("non-empty"))
        {
            out.push(next);
        }
        out
    }

    pub(crate) fn check(&self) -> Result<(), String> {
        let gaps = [self.fast_interval, self.slow_interval, self.late_interval];
        if gaps.iter().any(Duration::is_zero) {
            return Err("retry intervals must be longer than zero".to_owned());
        }
        Ok(())
    }
}

/// Start a notification series for a status change.
pub(crate) fn notify(shared: &Arc<Shared>, change: Change) {
    let url = {
        let ledger = lock(&shared.ledger);
        let own = ledger
            .job(&change.job_ref)
            .and_then(|j| j.attributes.webhook_url.clone());
        // The configured default is our merchant's; another's jobs notify only their own URL.
        own.or_else(|| {
            (!ledger.is_foreign(&change.job_ref))
                .then(|| shared.config.default_webhook_url.clone())
                .flatten()
        })
    };
    let first = shared.now();
    let id = {
        let mut log = lock(&shared.log);
        let id = log.series.len() as u64 + 1;
        log.series.push(SeriesRecord {
            series: id,
            job_ref: change.job_ref.clone(),
            payment_ref: change.payment_ref.clone(),
            url: url.clone(),
            state: if url.is_some() {
                SeriesState::Sending
            } else {
                SeriesState::NoWebhook
            },
            attempts: 0,
            started_sim_time: first,
        });
        id
    };
    shared.bump();
    match url {
        Some(url) => {
            tokio::spawn(run_series(shared.clone(), id, change, url, first));
        }
        None => tracing::warn!(
            job = %change.job_ref,
            "sim: no webhook URL for the job or in the config; notification not sent"
        ),
    }
}

async fn run_series(
    shared: Arc<Shared>,
    id: u64,
    change: Change,
    url: String,
    first: OffsetDateTime,
) {
    let body = NotificationBody {
        notify_type: "PaymentStatusChange".to_owned(),
        payment_job_reference: change.job_ref.clone(),
        payment_reference: change.payment_ref.clone(),
    };
    let bytes = serde_json::to_vec(&body).expect("a notification serialises");
    let schedule = &shared.config.retry_schedule;
    let mut offset = Duration::ZERO;
    let mut attempt = 1u32;
    loop {
        let due = first + offset;
        let sent = tokio::select! {
            _ = shared.stopped() => None,
            outcome = async {
                shared.clock().sleep_until(due).await;
                deliver(&shared, &url, bytes.clone(), &body).await
            } => Some(outcome),
        };
        let Some((http_status, verdict)) = sent else {
            settle(&shared, id, SeriesState::Stopped);
            return;
        };
        let acknowledged = verdict.is_ok();
        {
            let mut log = lock(&shared.log);
            log.attempts.push(DeliveryAttempt {
                job_ref: change.job_ref.clone(),
                payment_ref: change.payment_ref.clone(),
                series: id,
                attempt,
                sim_time: due,
                url: url.clone(),
                http_status,
                acknowledged,
                error: verdict.err(),
            });
            log.series_mut(id).attempts = attempt;
        }
        if acknowledged {
            settle(&shared, id, SeriesState::Acknowledged);
            return;
        }
        shared.bump();
        match schedule.next_offset(attempt - 1, offset) {
            Some(next) => offset = next,
            None => {
                settle(&shared, id, SeriesState::GaveUp);
                return;
            }
        }
        attempt += 1;
    }
}

fn settle(shared: &Shared, id: u64, state: SeriesState) {
    lock(&shared.log).series_mut(id).state = state;
    shared.bump();
}

/// The most of an answer body read to judge it; an echo is tiny.
const MAX_ANSWER: usize = 64 * 1024;

/// POST once; the answer's status and whether it acknowledges (or why not).
async fn deliver(
    shared: &Shared,
    url: &str,
    bytes: Vec<u8>,
    sent: &NotificationBody,
) -> (Option<u16>, Result<(), String>) {
    let answer = shared
        .http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(bytes)
        .send()
        .await;
    let mut answer = match answer {
        Ok(a) => a,
        Err(e) => return (None, Err(describe(&e, shared.config.notify_timeout))),
    };
    let status = answer.status().as_u16();
    let mut body = Vec::new();
    loop {
        match answer.chunk().await {
            Ok(Some(chunk)) => {
                body.extend_from_slice(&chunk);
                if body.len() > MAX_ANSWER {
                    return (Some(status), Err("answer body too large".to_owned()));
                }
            }
            Ok(None) => break,
            Err(e) => {
                return (
                    Some(status),
                    Err(describe(&e, shared.config.notify_timeout)),
                )
            }
        }
    }
    (Some(status), judge(status, &body, sent))
}

/// The gateway's rule: only a 200 whose JSON body echoes both references, as
/// strings equal to the ones sent, acknowledges a notification.
fn judge(status: u16, body: &[u8], sent: &NotificationBody) -> Result<(), String> {
    if status != 200 {
        return Err(format!("HTTP {status} is not an acknowledgement"));
    }
    let answer: Value =
        serde_json::from_slice(body).map_err(|_| "the answer body is not JSON".to_owned())?;
    for (key, want) in [
        ("paymentJobReference", &sent.payment_job_reference),
        ("paymentReference", &sent.payment_reference),
    ] {
        match answer.get(key) {
            Some(Value::String(got)) if got == want => {}
            Some(Value::String(got)) => {
                return Err(format!(
                    "the answer echoes {key} {got:?}, expected {want:?}"
                ))
            }
            Some(other) => {
                return Err(format!(
                    "the answer echoes {key} as {other}, not as a string"
                ))
            }
            None => return Err(format!("the answer does not echo {key}")),
        }
    }
    Ok(())
}

fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("no answer within {timeout:?}");
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent() -> NotificationBody {
        NotificationBody {
            notify_type: "PaymentStatusChange".into(),
            payment_job_reference: "200421017498767380".into(),
            payment_reference: "200421100461508616".into(),
        }
    }

    #[test]
    fn only_a_200_with_both_string_echoes_acknowledges() {
        let good = br#"{"paymentJobReference":"200421017498767380","paymentReference":"200421100461508616"}"#;
        assert!(judge(200, good, &sent()).is_ok());
        assert!(judge(201, good, &sent()).is_err());
        assert!(judge(200, b"OK", &sent()).is_err());
        assert!(judge(
            200,
            br#"{"paymentJobReference":"200421017498767380"}"#,
            &sent()
        )
        .is_err());
        assert!(judge(
            200,
            br#"{"paymentJobReference":200421017498767380,"paymentReference":200421100461508616}"#,
            &sent()
        )
        .is_err());
    }
}
