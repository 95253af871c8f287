//! Who may post, and what a source's junk costs it. A well-formed notification from an
//! allowed source is never refused for volume. Junk (a malformed body, a refused source,
//! references the gateway does not know) spends the source's bucket; once it is empty
//! that source's junk gets 429 at once, with no write. Addresses the owner named in the
//! allow-list (the gateway's) are never limited.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::ledger::SentBy;
use super::rate::{source_key, JunkLimiter, Verdict};
use super::refusals::{RefusalCounts, RefusalLog};
use super::sources::SourcePolicy;
use crate::domain::{JobRef, PaymentRef, Timestamp};
use crate::store::{RejectedDelivery, Store};

pub(super) struct Gate {
    policy: SourcePolicy,
    limiter: Option<JunkLimiter>,
    refusals: RefusalLog,
    sent_by: SentBy,
    counts: Arc<RefusalCounts>,
}

impl Gate {
    /// Starts the refusal log's writer: needs a Tokio runtime.
    pub fn new<S: Store>(store: S, policy: SourcePolicy) -> Self {
        let counts = Arc::new(RefusalCounts::default());
        let refusals = RefusalLog::start(store, Arc::clone(&counts));
        Self::with_log(policy, refusals, counts)
    }

    fn with_log(policy: SourcePolicy, refusals: RefusalLog, counts: Arc<RefusalCounts>) -> Self {
        Self {
            limiter: policy.junk_limit.map(JunkLimiter::new),
            refusals,
            sent_by: SentBy::default(),
            counts,
            policy,
        }
    }

    pub fn counts(&self) -> Arc<RefusalCounts> {
        Arc::clone(&self.counts)
    }

    /// The sender of a request from `peer` (absent when a router is driven without a
    /// socket: such requests share the unspecified address).
    pub fn client(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> IpAddr {
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        match peer {
            Some(p) => self.policy.client(p, forwarded),
            None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        }
    }

    pub fn allows(&self, client: IpAddr) -> bool {
        self.policy.allows(client)
    }

    /// Named by the owner in the allow-list: the gateway, never limited.
    fn named(&self, client: IpAddr) -> bool {
        !self.policy.allow_from.is_empty() && self.policy.allows(client)
    }

    /// Spends one unit of `client`'s junk allowance; false: it is spent, answer 429 and
    /// keep nothing.
    pub fn spend_junk(&self, client: IpAddr) -> bool {
        if self.named(client) {
            return true;
        }
        let Some(limiter) = &self.limiter else {
            return true;
        };
        let source = source_key(client);
        match limiter.spend(source) {
            Verdict::Allowed => true,
            Verdict::Limited { first } => {
                RefusalCounts::add(&self.counts.limited);
                if first {
                    tracing::warn!(%source, "junk from one source; answering 429 without keeping it");
                }
                false
            }
        }
    }

    /// Keeps a refusal for the owner, off the intake path.
    pub fn keep(&self, rejected: RejectedDelivery) {
        self.refusals.keep(rejected);
    }

    /// A well-formed notification from `client` was stored.
    pub fn delivered(&self, job: &JobRef, payment: &PaymentRef, client: IpAddr) {
        if self.limiter.is_some() && !self.named(client) {
            self.sent_by.note(job, payment, source_key(client));
        }
    }

    /// The gateway does not know these references: whoever sent them sent junk.
    pub fn unknown_reference(&self, job: &JobRef, payment: &PaymentRef) {
        if let (Some(limiter), Some(source)) = (&self.limiter, self.sent_by.take(job, payment)) {
            if let Verdict::Limited { first: true } = limiter.spend(source) {
                tracing::warn!(%source, "references the gateway does not know, from one source; its junk now gets 429");
            }
        }
    }

    /// Whether to serve a connection from `peer` at all. With no trusted proxy the peer is
    /// the sender, so one outside the allow-list is closed before anything is read; it is
    /// counted, and kept for the owner within its junk allowance.
    pub fn admit(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        if !self.policy.trusted_proxies.is_empty() || self.allows(peer) {
            return true;
        }
        let closed = RefusalCounts::add(&self.counts.closed_at_accept);
        if self.spend_junk(peer) {
            tracing::warn!(%peer, closed, "closed a connection from a source outside the allow-list");
            self.keep(RejectedDelivery {
                received_at: Timestamp::now(),
                remote_addr: Some(peer.to_string()),
                forwarded_for: None,
                body: String::new(),
                error: format!(
                    "source {peer} is not in the allow-list; its connection was closed unread"
                ),
                response_status: StatusCode::FORBIDDEN.as_u16(),
            });
        }
        false
    }

    /// Whether `peer` relays for many senders (a trusted proxy, or a tunnel agent on this
    /// computer), so that a per-source connection cap on it would cap the gateway too.
    pub fn relays(&self, peer: IpAddr) -> bool {
        is_local_agent(peer) || self.policy.trusted_proxies.contains(&peer.to_canonical())
    }
}

/// The address a tunnel agent on this computer (bore, ngrok) connects from: every sender
/// behind the tunnel arrives from it.
pub(super) fn is_local_agent(peer: IpAddr) -> bool {
    let peer = peer.to_canonical();
    peer == IpAddr::V4(Ipv4Addr::LOCALHOST) || peer == IpAddr::V6(Ipv6Addr::LOCALHOST)
}

/// The answer to junk once its source's allowance is spent.
pub(super) fn too_much_junk() -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        Json(json!({ "error": "too many refused requests; try again later" })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listener::JunkLimit;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn gate(policy: SourcePolicy) -> Gate {
        let counts = Arc::new(RefusalCounts::default());
        let (log, _kept) = RefusalLog::detached(Arc::clone(&counts));
        Gate::with_log(policy, log, counts)
    }

    fn refs(n: u32) -> (JobRef, PaymentRef) {
        (
            JobRef::parse(&n.to_string()).unwrap(),
            PaymentRef::parse("1").unwrap(),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn references_the_gateway_does_not_know_spend_their_senders_bucket() {
        let gate = gate(SourcePolicy {
            junk_limit: Some(JunkLimit {
                per_minute: 1,
                burst: 3,
            }),
            ..SourcePolicy::default()
        });
        let (forger, other) = (ip("203.0.113.1"), ip("198.51.100.2"));
        for n in 0..3 {
            let (j, p) = refs(n);
            gate.delivered(&j, &p, forger);
        }
        // Told about the same key twice (the worker re-asks a 404): charged once.
        let (j, p) = refs(0);
        gate.unknown_reference(&j, &p);
        gate.unknown_reference(&j, &p);
        assert!(gate.spend_junk(forger), "two of three left after one 404");
        for n in 1..3 {
            let (j, p) = refs(n);
            gate.unknown_reference(&j, &p);
        }
        assert!(!gate.spend_junk(forger), "three 404s and one junk spent it");
        assert!(gate.spend_junk(other), "another source keeps its own");
        // A key nobody noted charges nobody.
        let (j, p) = refs(99);
        gate.unknown_reference(&j, &p);
        assert!(gate.spend_junk(other));
    }

    #[tokio::test(start_paused = true)]
    async fn sources_named_in_the_allow_list_are_never_limited() {
        let gateway = ip("54.74.58.255");
        let gate = gate(SourcePolicy {
            allow_from: vec![gateway],
            junk_limit: Some(JunkLimit {
                per_minute: 1,
                burst: 1,
            }),
            ..SourcePolicy::default()
        });
        for _ in 0..100 {
            assert!(gate.spend_junk(gateway));
        }
        let stranger = ip("203.0.113.1");
        assert!(gate.spend_junk(stranger));
        assert!(!gate.spend_junk(stranger));
        assert!(
            !gate.admit(stranger),
            "outside the allow-list, no proxy trusted"
        );
        assert!(gate.admit(gateway));
        assert_eq!(RefusalCounts::get(&gate.counts.closed_at_accept), 1);
    }

    #[test]
    fn a_tunnel_agent_or_a_trusted_proxy_relays_for_everyone() {
        let g = gate(SourcePolicy {
            trusted_proxies: vec![ip("10.0.0.5")],
            ..SourcePolicy::default()
        });
        for relay in ["127.0.0.1", "::1", "::ffff:127.0.0.1", "10.0.0.5"] {
            assert!(g.relays(ip(relay)), "{relay}");
        }
        for single in ["127.0.0.2", "203.0.113.1", "2001:db8::1"] {
            assert!(!g.relays(ip(single)), "{single}");
        }
    }
}
