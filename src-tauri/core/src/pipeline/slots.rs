//! Requests to the gateway in flight at once, shared by two classes of work. Live
//! confirmations (a notification we acknowledged) take any free slot; the reconciler and
//! the refund watch are background work and take a slot only when no live confirmation is
//! waiting for one, so a pass over thousands of jobs never makes a new payment wait behind it.

use std::sync::Arc;

use tokio::sync::{watch, Notify};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Count {
    free: usize,
    /// The confirm worker has work it cannot start for want of a slot.
    live_waiting: bool,
}

#[derive(Clone, Debug)]
pub struct GatewaySlots {
    count: Arc<watch::Sender<Count>>,
    /// Told whenever a slot comes free, for the confirm worker's loop.
    freed: Arc<Notify>,
}

/// One request's right to call the gateway; handed back when dropped.
pub struct Slot {
    slots: GatewaySlots,
}

impl Slot {
    /// The slots this one came from (to ask again later, after handing it back).
    pub fn pool(&self) -> GatewaySlots {
        self.slots.clone()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.count.send_modify(|c| c.free += 1);
        self.slots.freed.notify_one();
    }
}

impl GatewaySlots {
    pub fn new(capacity: usize) -> Self {
        Self {
            count: Arc::new(watch::Sender::new(Count {
                free: capacity.max(1),
                live_waiting: false,
            })),
            freed: Arc::new(Notify::new()),
        }
    }

    /// A slot for live work if one is free. When none is, live work is marked as waiting
    /// (until [`Self::live_idle`]) so the next free slot is not taken by background work.
    pub fn try_live(&self) -> Option<Slot> {
        let mut took = false;
        self.count.send_if_modified(|c| {
            if c.free > 0 {
                c.free -= 1;
                took = true;
            } else if !c.live_waiting {
                c.live_waiting = true;
                return true;
            } else {
                return false;
            }
            true
        });
        took.then(|| Slot {
            slots: self.clone(),
        })
    }

    /// The confirm worker has nothing it wants to start: background work may go on.
    pub fn live_idle(&self) {
        self.count
            .send_if_modified(|c| std::mem::take(&mut c.live_waiting));
    }

    /// Resolves when a slot may have come free (for the confirm worker's loop).
    pub async fn freed(&self) {
        self.freed.notified().await
    }

    /// A slot for background work: waits until one is free and no live work wants it.
    pub async fn background(&self) -> Slot {
        let mut rx = self.count.subscribe();
        loop {
            let mut took = false;
            self.count.send_if_modified(|c| {
                if c.free > 0 && !c.live_waiting {
                    c.free -= 1;
                    took = true;
                }
                took
            });
            if took {
                return Slot {
                    slots: self.clone(),
                };
            }
            // The sender lives in `self`, so this cannot fail while we wait.
            let _ = rx.wait_for(|c| c.free > 0 && !c.live_waiting).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn background_work_waits_while_live_work_wants_a_slot() {
        let slots = GatewaySlots::new(1);
        let held = slots.try_live().expect("a free slot");
        // Live work wants another: the background waiter must not get the freed slot.
        assert!(slots.try_live().is_none());
        let bg = tokio::spawn({
            let slots = slots.clone();
            async move { slots.background().await }
        });
        drop(held);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(
            !bg.is_finished(),
            "background took a slot live work was waiting for"
        );
        let live = slots.try_live().expect("the freed slot goes to live work");
        drop(live);
        slots.live_idle();
        let slot = tokio::time::timeout(Duration::from_secs(1), bg)
            .await
            .expect("background gets the slot once live work is idle")
            .unwrap();
        drop(slot);
        assert!(slots.try_live().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn background_work_uses_slots_nobody_else_wants() {
        let slots = GatewaySlots::new(2);
        let a = slots.background().await;
        let b = slots.background().await;
        assert!(slots.try_live().is_none());
        drop(a);
        assert!(slots.try_live().is_some(), "live work is first in line");
        drop(b);
    }
}
