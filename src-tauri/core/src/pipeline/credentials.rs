//! Whether the gateway still accepts our credentials, told by one signed read of a job we
//! hold. A 403 may be about one reference (a forged notification naming another merchant's
//! job) or about us; only a read that should succeed tells which. The same read probes an
//! open breaker, so calls resume by themselves once the gateway accepts us again.

use std::future::Future;

use crate::domain::{JobRef, Timestamp};
use crate::gateway::{Breaker, BreakerState, GatewayClient, GatewayError, ProbeSchedule};
use crate::store::{OrderFilter, OrderSort, Store, StoreError};

/// A reference no job has: where we hold no job, its 404 still proves the signature was
/// accepted (the gateway checks it before looking the job up).
const NO_SUCH_JOB: &str = "000000000000000000";

/// What a known-good read said about our credentials.
#[derive(Debug)]
pub enum Verdict {
    Accepted,
    /// Refused (401 or 403): the breaker is open.
    Refused(GatewayError),
    /// No answer to the question: the gateway is down, or the store cannot say which job
    /// to read.
    Unanswered(String),
}

#[derive(Clone)]
pub struct CredentialCheck<S> {
    store: S,
    gateway: GatewayClient,
}

impl<S: Store> CredentialCheck<S> {
    pub fn new(store: S, gateway: GatewayClient) -> Self {
        Self { store, gateway }
    }

    /// Whether the gateway showed us `job` before (it answered it, or created it for us):
    /// every order we keep is such a job. Only a 403 on one of these can be about us.
    pub async fn holds(&self, job: &JobRef) -> Result<bool, StoreError> {
        Ok(self.store.order(job).await?.is_some())
    }

    /// After the gateway refused `job`, a job we hold, with a 403: reads another job we
    /// hold. Refused too, the breaker opens; accepted, the 403 was about `job` alone.
    pub async fn after_refusal(&self, job: &JobRef) -> Verdict {
        let verdict = match self.known_good(Some(job)).await {
            Ok(good) => self.judge(self.gateway.check_credentials(&good).await),
            Err(e) => Verdict::Unanswered(e.to_string()),
        };
        if let Verdict::Refused(e) = &verdict {
            self.gateway.breaker().open(e.to_string());
        }
        verdict
    }

    /// The breaker's probe: one signed read, sent although the breaker is open.
    pub async fn probe(&self) -> Verdict {
        match self.known_good(None).await {
            Ok(good) => self.judge(self.gateway.probe_credentials(&good).await),
            Err(e) => Verdict::Unanswered(e.to_string()),
        }
    }

    fn judge(&self, answer: Result<(), GatewayError>) -> Verdict {
        match answer {
            Ok(()) => Verdict::Accepted,
            // A 403 on a job we hold, confirmed: our credentials, as a 401 is.
            Err(GatewayError::Forbidden { report }) => {
                Verdict::Refused(GatewayError::Unauthorized {
                    status: 403,
                    report,
                })
            }
            Err(e @ (GatewayError::Unauthorized { .. } | GatewayError::CircuitOpen)) => {
                Verdict::Refused(e)
            }
            Err(e) => Verdict::Unanswered(e.to_string()),
        }
    }

    /// The job we hold that was confirmed last, other than `except`; where we hold none,
    /// a reference no job has.
    async fn known_good(&self, except: Option<&JobRef>) -> Result<JobRef, StoreError> {
        let newest = self
            .store
            .orders(OrderFilter {
                sort: OrderSort::Updated,
                ascending: false,
                limit: 2,
                ..OrderFilter::default()
            })
            .await?;
        Ok(newest
            .orders
            .into_iter()
            .map(|o| o.payment_job_reference)
            .find(|j| Some(j) != except)
            .unwrap_or_else(|| JobRef::parse(NO_SUCH_JOB).expect("a valid reference")))
    }
}

/// While the breaker is open, `probe`s it on `schedule`, one probe at a time, and closes
/// it on the first accepted one (which wakes the confirm worker and the reconciler). A
/// breaker the owner resets in the meantime starts the schedule afresh next time it opens.
pub async fn keep_probing<F, Fut>(
    breaker: Breaker,
    schedule: ProbeSchedule,
    mut probe: F,
    shutdown: impl Future<Output = ()>,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Verdict>,
{
    tokio::pin!(shutdown);
    let mut state = breaker.subscribe();
    let is_open = |s: &BreakerState| matches!(s, BreakerState::Open { .. });
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            opened = state.wait_for(is_open) => if opened.is_err() { return },
        }
        let mut n = 1;
        loop {
            let wait = schedule.wait_before(n);
            breaker.set_next_probe(Some(Timestamp::now().plus(wait)));
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(wait) => {}
                _ = state.wait_for(|s| !is_open(s)) => break,
            }
            // Awaited before the next sleep begins: never two probes in flight.
            let verdict = tokio::select! {
                _ = &mut shutdown => return,
                v = probe() => v,
            };
            match verdict {
                Verdict::Accepted => {
                    tracing::info!("the gateway accepts our credentials again; calls resume");
                    breaker.reset();
                    break;
                }
                Verdict::Refused(e) => {
                    tracing::warn!(
                        code = e.code(),
                        probe = n,
                        "the gateway still refuses our credentials"
                    )
                }
                Verdict::Unanswered(e) => {
                    tracing::warn!(probe = n, error = %e, "could not check our credentials")
                }
            }
            n = n.saturating_add(1);
        }
    }
}
