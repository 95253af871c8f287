//! Who sent which references, for the confirm worker to point at when the gateway answers
//! that it does not know them: forged references are junk, but only the gateway can tell.
//! Bounded: the oldest entries go first (a key the worker asks about after its entry went
//! is simply not charged).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;

use crate::domain::{JobRef, PaymentRef};

/// Entries kept at once.
const MAX_ENTRIES: usize = 4096;

type Key = (JobRef, PaymentRef);

#[derive(Default)]
pub struct SentBy {
    inner: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    sender: HashMap<Key, IpAddr>,
    order: VecDeque<Key>,
}

impl SentBy {
    /// Notes that `source` (a `source_key`) sent these references; the latest sender wins.
    pub fn note(&self, job: &JobRef, payment: &PaymentRef, source: IpAddr) {
        let mut e = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let key = (job.clone(), payment.clone());
        if e.sender.insert(key.clone(), source).is_some() {
            return;
        }
        e.order.push_back(key);
        while e.order.len() > MAX_ENTRIES {
            if let Some(old) = e.order.pop_front() {
                e.sender.remove(&old);
            }
        }
    }

    /// Who sent these references, forgotten as it is told (one charge per sending).
    pub fn take(&self, job: &JobRef, payment: &PaymentRef) -> Option<IpAddr> {
        let mut e = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let key = (job.clone(), payment.clone());
        let source = e.sender.remove(&key)?;
        e.order.retain(|k| k != &key);
        Some(source)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().unwrap().sender.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(n: usize) -> (JobRef, PaymentRef) {
        (
            JobRef::parse(&n.to_string()).unwrap(),
            PaymentRef::parse("1").unwrap(),
        )
    }

    #[test]
    fn a_sender_is_told_once_and_the_ledger_stays_bounded() {
        let ledger = SentBy::default();
        let source: IpAddr = "203.0.113.1".parse().unwrap();
        for n in 0..(MAX_ENTRIES + 10) {
            let (j, p) = refs(n);
            ledger.note(&j, &p, source);
        }
        assert_eq!(ledger.len(), MAX_ENTRIES);
        let (j, p) = refs(0);
        assert_eq!(ledger.take(&j, &p), None, "the oldest went first");
        let (j, p) = refs(MAX_ENTRIES + 9);
        assert_eq!(ledger.take(&j, &p), Some(source));
        assert_eq!(ledger.take(&j, &p), None);
    }
}
