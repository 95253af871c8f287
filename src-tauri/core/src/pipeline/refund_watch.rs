//! The refund watch: Cashflows sends no notification for a refund (a refund made in its
//! portal is not a status change), so recently paid orders are re-asked about on a schedule
//! of their own and what the gateway says is recorded with source "poll", as the reconciler
//! does. Orders paid within the recent window are re-asked every `recent_every`; the rest of
//! the older window at least every `older_every`. The round is read a page at a time (keyset
//! on the paid time and job), so a history of a million payments is never read at once, and
//! it uses only the gateway slots live confirmations leave free.

use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{GatewaySlots, PassCount, Reconciler};
use crate::domain::{JobRef, Timestamp};
use crate::store::Store;

const HOUR: Duration = Duration::from_secs(3_600);
const DAY: Duration = Duration::from_secs(86_400);

/// When the watch asks again, and about which orders. (Settings wiring of the windows
/// comes later; `serve` sets `recent_every`.)
#[derive(Debug, Clone)]
pub struct RefundWatchConfig {
    /// How often orders paid within `recent_window` are asked about.
    pub recent_every: Duration,
    pub recent_window: Duration,
    /// How often the rest of `older_window` is asked about.
    pub older_every: Duration,
    pub older_window: Duration,
    /// Orders read from the store per page.
    pub page: u32,
    /// Shared with the confirm worker; the watch takes only slots it leaves free.
    pub slots: GatewaySlots,
}

impl RefundWatchConfig {
    /// Hourly for the last 2 days, daily for the last 30, pages of 500.
    pub fn new(slots: GatewaySlots) -> Self {
        Self {
            recent_every: HOUR,
            recent_window: 2 * DAY,
            older_every: DAY,
            older_window: 30 * DAY,
            page: 500,
            slots,
        }
    }
}

/// Which part of the paid history a pass covers: paid at in `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaidSpan {
    pub from: Timestamp,
    pub to: Timestamp,
}

impl PaidSpan {
    pub fn holds(&self, paid_at: Timestamp) -> bool {
        self.from <= paid_at && paid_at < self.to
    }
}

/// The watch's clock: when each part of the window was last asked about, and what is due.
#[derive(Debug, Clone)]
pub struct WatchSchedule {
    recent_every: Duration,
    recent_window: Duration,
    older_every: Duration,
    older_window: Duration,
    last_recent: Option<Instant>,
    last_older: Option<Instant>,
}

impl WatchSchedule {
    pub fn new(cfg: &RefundWatchConfig) -> Self {
        Self {
            recent_every: cfg.recent_every,
            recent_window: cfg.recent_window,
            older_every: cfg.older_every,
            // An older window inside the recent one adds nothing.
            older_window: cfg.older_window.max(cfg.recent_window),
            last_recent: None,
            last_older: None,
        }
    }

    /// The spans due at `now` (monotonic), as paid times measured back from `wall`, and
    /// marks them asked. Empty when nothing is due yet.
    pub fn take_due(&mut self, now: Instant, wall: Timestamp) -> Vec<PaidSpan> {
        let back = |d: Duration| Timestamp::from_datetime(wall.inner() - d);
        let due = |last: Option<Instant>, every: Duration| last.is_none_or(|l| now >= l + every);
        let mut spans = Vec::new();
        if due(self.last_recent, self.recent_every) {
            self.last_recent = Some(now);
            // A little ahead of `wall`: an order paid while the pass runs is not missed.
            spans.push(PaidSpan {
                from: back(self.recent_window),
                to: wall.plus(HOUR),
            });
        }
        if due(self.last_older, self.older_every) {
            self.last_older = Some(now);
            if self.older_window > self.recent_window {
                spans.push(PaidSpan {
                    from: back(self.older_window),
                    to: back(self.recent_window),
                });
            }
        }
        spans
    }

    /// When the next span falls due (now, if none was asked about yet).
    pub fn next_due(&self, now: Instant) -> Instant {
        let at = |last: Option<Instant>, every: Duration| last.map_or(now, |l| l + every);
        at(self.last_recent, self.recent_every).min(at(self.last_older, self.older_every))
    }
}

#[derive(Clone)]
pub struct RefundWatch<S> {
    store: S,
    /// Asks and records as the reconciler does (source "poll", mismatch, credential check).
    asker: Reconciler<S>,
    cfg: RefundWatchConfig,
}

impl<S: Store> RefundWatch<S> {
    pub fn new(store: S, asker: Reconciler<S>, cfg: RefundWatchConfig) -> Self {
        Self { store, asker, cfg }
    }

    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut schedule = WatchSchedule::new(&self.cfg);
        loop {
            // While the breaker is open nothing is asked; the pass waits for calls to resume.
            if self.asker.gateway_paused() {
                tokio::select! {
                    _ = &mut shutdown => return,
                    _ = tokio::time::sleep(Duration::from_secs(5).min(self.cfg.recent_every)) => continue,
                }
            }
            let spans = schedule.take_due(Instant::now(), Timestamp::now());
            if !spans.is_empty() {
                let report = tokio::select! {
                    report = self.watch_once(&spans) => report,
                    _ = &mut shutdown => return,
                };
                tracing::info!(
                    checked = report.checked,
                    changed = report.changed,
                    failed = report.failed,
                    "refund watch pass finished"
                );
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep_until(schedule.next_due(Instant::now())) => {}
            }
        }
    }

    /// Asks about every paid order in `spans`, a page at a time.
    pub async fn watch_once(&self, spans: &[PaidSpan]) -> PassCount {
        let mut report = PassCount::default();
        let mut tasks = JoinSet::new();
        for span in spans {
            let mut after: Option<(Timestamp, JobRef)> = None;
            loop {
                let page = match self
                    .store
                    .paid_between(span.from, span.to, after.clone(), self.cfg.page)
                    .await
                {
                    Ok(page) => page,
                    Err(e) => {
                        tracing::error!(code = e.code(), error = %e, "cannot list paid orders");
                        report.failed += 1;
                        break;
                    }
                };
                let full = page.len() >= self.cfg.page as usize;
                after = page.last().cloned();
                // A slot first, then a task, as the reconciler does: live confirmations
                // never wait for the watch.
                for (_, job) in page {
                    let slot = self.cfg.slots.background().await;
                    while let Some(done) = tasks.try_join_next() {
                        report.add(done);
                    }
                    let asker = self.asker.clone();
                    tasks.spawn(async move { asker.check(&job, slot).await });
                }
                if !full {
                    break;
                }
            }
        }
        while let Some(done) = tasks.join_next().await {
            report.add(done);
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> RefundWatchConfig {
        RefundWatchConfig::new(GatewaySlots::new(2))
    }

    fn ago(wall: Timestamp, d: Duration) -> Timestamp {
        Timestamp::from_datetime(wall.inner() - d)
    }

    /// Whether an order paid `paid_ago` before `wall` is in one of `spans`.
    fn asked(spans: &[PaidSpan], wall: Timestamp, paid_ago: Duration) -> bool {
        spans.iter().any(|s| s.holds(ago(wall, paid_ago)))
    }

    #[tokio::test(start_paused = true)]
    async fn recent_orders_hourly_older_daily_and_none_past_the_window() {
        let mut schedule = WatchSchedule::new(&cfg());
        let wall0 = Timestamp::now();
        let start = Instant::now();
        let recent = Duration::from_secs(3 * 3_600);
        let older = 10 * DAY;
        let too_old = 31 * DAY;
        let mut asked_recent = 0;
        let mut asked_older = 0;
        // A day and an hour of the watch's clock, waking when it says.
        let mut now = start;
        while now <= start + DAY + HOUR {
            let wall = wall0.plus(now - start);
            let spans = schedule.take_due(now, wall);
            asked_recent += usize::from(asked(&spans, wall, recent));
            asked_older += usize::from(asked(&spans, wall, older));
            assert!(!asked(&spans, wall, too_old), "past the 30-day window");
            let next = schedule.next_due(now);
            assert!(next > now, "a pass marks what it asked about");
            tokio::time::advance(next - now).await;
            now = Instant::now();
        }
        // At start, then every hour through 25 hours; the older order at start and after a day.
        assert_eq!(asked_recent, 26);
        assert_eq!(asked_older, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_is_due_before_its_period() {
        let mut c = cfg();
        c.recent_every = Duration::from_secs(2);
        let mut schedule = WatchSchedule::new(&c);
        let wall = Timestamp::now();
        let t0 = Instant::now();
        assert_eq!(schedule.take_due(t0, wall).len(), 2, "both spans at start");
        assert!(schedule
            .take_due(t0 + Duration::from_secs(1), wall)
            .is_empty());
        let spans = schedule.take_due(t0 + Duration::from_secs(2), wall);
        assert_eq!(spans.len(), 1, "only the recent span after 2 s");
        assert!(asked(&spans, wall, Duration::from_secs(60)));
        assert!(!asked(&spans, wall, 3 * DAY));
        assert_eq!(
            schedule.next_due(t0 + Duration::from_secs(2)),
            t0 + Duration::from_secs(4)
        );
    }

    #[test]
    fn spans_meet_without_overlap() {
        let mut schedule = WatchSchedule::new(&cfg());
        let wall = Timestamp::now();
        let spans = schedule.take_due(Instant::now(), wall);
        assert_eq!(
            spans[1].to, spans[0].from,
            "the older span ends where the recent begins"
        );
        assert!(
            spans[0].holds(wall),
            "an order paid just now is asked about"
        );
    }
}
