//! Fewer, fuller window events. Each Tauri event is a script evaluated in the web process,
//! with its own garbage; a burst of payments used to send one per order change plus a
//! health refresh per core event (about four per payment). Now order changes go out in
//! batches, at most one per `GAP`, the first after a quiet spell at once (a lone payment
//! shows with no added delay); and health goes out only when it differs from what the
//! window was last sent (an idle window gets nothing).

use std::time::{Duration, Instant};

/// The shortest time between two batches of order changes.
pub const GAP: Duration = Duration::from_millis(100);

/// Order changes waiting for their batch; one entry per order, the newest change wins.
#[derive(Debug)]
pub struct Batcher<T> {
    pending: Vec<(String, T)>,
    last_sent: Option<Instant>,
}

impl<T> Default for Batcher<T> {
    fn default() -> Self {
        Self {
            pending: Vec::new(),
            last_sent: None,
        }
    }
}

impl<T> Batcher<T> {
    /// Takes one change of the order `key`. Returns a batch to send now when the last
    /// batch went out at least `GAP` ago and nothing is waiting; otherwise holds it.
    pub fn offer(&mut self, key: &str, change: T, now: Instant) -> Option<Vec<T>> {
        if let Some(slot) = self.pending.iter_mut().find(|(k, _)| k == key) {
            slot.1 = change;
            return None;
        }
        self.pending.push((key.to_owned(), change));
        let quiet = self.last_sent.is_none_or(|t| now.duration_since(t) >= GAP);
        if quiet && self.pending.len() == 1 {
            return Some(self.take(now));
        }
        None
    }

    /// When the waiting changes are due, if any wait.
    pub fn due(&self) -> Option<Instant> {
        if self.pending.is_empty() {
            return None;
        }
        Some(self.last_sent.map_or_else(Instant::now, |t| t + GAP))
    }

    /// Everything waiting, oldest order first.
    pub fn take(&mut self, now: Instant) -> Vec<T> {
        self.last_sent = Some(now);
        self.pending.drain(..).map(|(_, c)| c).collect()
    }
}

/// Remembers the health the window last got, so an unchanged one is not sent again.
#[derive(Debug, Default)]
pub struct SameAsLast {
    last: Option<String>,
}

impl SameAsLast {
    /// `true` when `serialized` differs from the last one offered (and remembers it).
    pub fn is_new(&mut self, serialized: String) -> bool {
        if self.last.as_deref() == Some(serialized.as_str()) {
            return false;
        }
        self.last = Some(serialized);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lone_change_goes_at_once_and_a_burst_waits_for_one_batch() {
        let t0 = Instant::now();
        let mut b = Batcher::default();
        assert_eq!(b.offer("1", "1 paid", t0), Some(vec!["1 paid"]));
        assert_eq!(b.due(), None);
        // Within GAP of that batch: held.
        assert_eq!(b.offer("2", "2 paid", t0 + GAP / 4), None);
        assert_eq!(b.offer("3", "3 pending", t0 + GAP / 3), None);
        assert_eq!(b.offer("3", "3 paid", t0 + GAP / 2), None);
        assert_eq!(b.due(), Some(t0 + GAP));
        // One batch, one entry per order, the newest change of each.
        assert_eq!(b.take(t0 + GAP), vec!["2 paid", "3 paid"]);
        assert_eq!(b.due(), None);
        // Right after a batch: held again; after a quiet GAP: at once.
        assert_eq!(b.offer("4", "4 paid", t0 + GAP + GAP / 2), None);
        assert_eq!(b.take(t0 + 2 * GAP), vec!["4 paid"]);
        assert_eq!(b.offer("5", "5 paid", t0 + 4 * GAP), Some(vec!["5 paid"]));
    }

    #[test]
    fn the_same_health_is_sent_once() {
        let mut h = SameAsLast::default();
        assert!(h.is_new("{\"backlog\":1}".into()));
        assert!(!h.is_new("{\"backlog\":1}".into()));
        assert!(h.is_new("{\"backlog\":0}".into()));
        assert!(h.is_new("{\"backlog\":1}".into()));
    }
}
