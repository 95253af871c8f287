//! Refused notifications, kept for the owner off the intake path: the handler hands them to
//! a bounded queue and answers at once; one task writes them through the store's ordinary
//! handle (on PostgreSQL its work pool, never the listener's few intake connections; on
//! SQLite one waiting write at a time). When the queue is full a refusal is dropped and
//! counted: a flood of refusals must never cost a genuine notification its write.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::store::{RejectedDelivery, Store};

/// Refusals waiting to be written at once.
const QUEUE: usize = 64;

/// How many refusals were handled which way (for the owner's logs and the tests).
#[derive(Debug, Default)]
pub struct RefusalCounts {
    /// Written, or being written.
    pub queued: AtomicU64,
    /// Dropped: the queue was full.
    pub dropped: AtomicU64,
    /// Answered 429 without a write: the source's junk allowance was spent.
    pub limited: AtomicU64,
    /// Connections closed at accept: the peer is not in the allow-list.
    pub closed_at_accept: AtomicU64,
}

impl RefusalCounts {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub(super) fn add(counter: &AtomicU64) -> u64 {
        counter.fetch_add(1, Ordering::Relaxed) + 1
    }
}

pub(super) struct RefusalLog {
    queue: mpsc::Sender<RejectedDelivery>,
    counts: Arc<RefusalCounts>,
}

impl RefusalLog {
    /// Starts the writing task (ends when the log is dropped). Needs a Tokio runtime.
    pub fn start<S: Store>(store: S, counts: Arc<RefusalCounts>) -> Self {
        let (queue, mut waiting) = mpsc::channel::<RejectedDelivery>(QUEUE);
        tokio::spawn(async move {
            while let Some(rejected) = waiting.recv().await {
                if let Err(e) = store.record_rejected_delivery(rejected).await {
                    tracing::error!(code = e.code(), error = %e, "cannot record a refused notification");
                }
            }
        });
        Self { queue, counts }
    }

    /// A log whose refusals the caller reads (unit tests without a store).
    #[cfg(test)]
    pub fn detached(counts: Arc<RefusalCounts>) -> (Self, mpsc::Receiver<RejectedDelivery>) {
        let (queue, kept) = mpsc::channel(QUEUE);
        (Self { queue, counts }, kept)
    }

    /// Queues a refusal to be written, or drops it if the queue is full.
    pub fn keep(&self, rejected: RejectedDelivery) {
        if self.queue.try_send(rejected).is_ok() {
            RefusalCounts::add(&self.counts.queued);
            return;
        }
        let dropped = RefusalCounts::add(&self.counts.dropped);
        // Logged at powers of two: a flood cannot turn into a flood of log lines.
        if dropped.is_power_of_two() {
            tracing::warn!(
                dropped,
                "refused notifications arrive faster than they are kept; some are only counted"
            );
        }
    }
}
