//! The delivery inbox's records: a notification as received, as refused, and as waiting
//! for the gateway's confirmation.

use std::time::Duration;

use crate::domain::{Failing, JobRef, PaymentRef, Timestamp};

/// One confirm worker, among every process that shares the inbox: a name unique to this
/// run of this process (machine, process id, start).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WorkerId(String);

impl WorkerId {
    /// A fresh id for this process's worker.
    pub fn new() -> Self {
        Self(format!(
            "{}/{}/{:08x}",
            machine_name(),
            std::process::id(),
            fastrand::u32(..)
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for WorkerId {
    fn default() -> Self {
        Self::new()
    }
}

/// This machine's name, for people reading who did what.
pub fn machine_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// A worker's hold on the deliveries it claims: until `lease` after its last claim, no
/// other worker takes them. A worker that stops (killed, machine off) lets them go when
/// the lease runs out.
#[derive(Debug, Clone)]
pub struct Claim {
    pub worker: WorkerId,
    pub lease: Duration,
}

#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub received_at: Timestamp,
    pub remote_addr: Option<String>,
    pub forwarded_for: Option<String>,
    pub body: String,
    pub job_ref: JobRef,
    pub payment_ref: PaymentRef,
}

#[derive(Debug, Clone)]
pub struct RejectedDelivery {
    pub received_at: Timestamp,
    pub remote_addr: Option<String>,
    pub forwarded_for: Option<String>,
    pub body: String,
    pub error: String,
    pub response_status: u16,
}

/// An acknowledged delivery still waiting for the gateway to confirm it.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingDelivery {
    pub id: i64,
    pub job_ref: JobRef,
    pub payment_ref: PaymentRef,
    /// The run of failed confirmations it is in, if any.
    pub failing: Option<Failing>,
}

/// Refused deliveries are kept for the owner to see, but only this many: a flood of
/// garbage must not fill the disk.
pub const MAX_KEPT_MALFORMED: i64 = 1000;

/// How much of a body is kept; the listener already refuses bodies larger than its limit.
const MAX_KEPT_BODY: usize = 4096;

/// A delivery's body as a store keeps it: at most `MAX_KEPT_BODY` bytes, cut on a
/// character boundary and marked.
pub fn kept_body(body: &str) -> String {
    if body.len() <= MAX_KEPT_BODY {
        return body.to_owned();
    }
    let mut end = MAX_KEPT_BODY;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &body[..end])
}

/// Why a pending delivery was set aside as `dead` without asking the gateway: its stored
/// row could not be read (a value written by a newer Tillwatch on a shared database, a
/// hand edit). One such row must not stop the inbox; the owner sees this, and `retry`
/// sends it back with its failure run cleared.
pub fn unreadable_delivery(detail: impl std::fmt::Display) -> String {
    format!(
        "set aside unread: this delivery's stored row could not be read ({detail}); a newer Tillwatch may have written it. `tillwatch retry` asks the gateway again"
    )
}
