//! Demo traffic: plausible orders arriving at a steady pace, played by a random mix
//! of shoppers, so the app has something to show without a real gateway.
//!
//! After the first few ordinary paid orders, the demo also shows money after the
//! payment: some orders come from a shop with auto-capture off (they stop at
//! `Reserved`, waiting to be captured), and some paid orders are refunded "in the
//! portal" a while after they settle.
//!
//! Settlement is at the sim clock's midnight (UTC), and the demo runs on a real-time
//! clock (its shoppers' pace is in real seconds), so without help a refund could wait up
//! to a day. `demo_config` therefore starts the demo's clock a few minutes before
//! midnight: the orders of the first minutes settle soon after, and their refunds show
//! within minutes. Scaling the clock instead would have hurried every other gateway
//! timing (notification retries, the capture deadline), and advancing it would move
//! every order's time at once; a late start changes only what the clock reads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rust_decimal::Decimal;
use time::{OffsetDateTime, Time};
use tokio::task::JoinHandle;

use super::handle::SimHandle;
use super::model::{Job, Status};
use super::money::{paid_at, settles_at};
use super::request::CreateJob;
use super::shopper::Script;
use super::SimConfig;

/// How long before midnight (sim clock) the demo's clock starts.
const BEFORE_MIDNIGHT: time::Duration = time::Duration::minutes(6);
/// Ordinary paid orders before the demo shows reservations and refunds, so that the
/// first demo payments end as they always did (Paid, notified).
const ORDINARY_FIRST: usize = 3;
/// Percent of later orders from the shop with auto-capture off.
const RESERVED_PERCENT: u8 = 20;
/// Percent of later paid orders refunded in the portal once settled.
const REFUNDED_PERCENT: u8 = 30;
/// Sim time, after settlement, before the owner refunds in the portal (a range).
const REFUND_AFTER_SETTLED_SECS: std::ops::RangeInclusive<u64> = 20..=90;

const NAMES: [&str; 12] = [
    "amelia", "oliver", "isla", "george", "ava", "noah", "mia", "arthur", "freya", "leo", "grace",
    "oscar",
];
const REASONS: [(&str, &str); 3] = [
    ("CardDeclined", "The card was declined by the issuer."),
    ("InsufficientFunds", "The card has insufficient funds."),
    ("AuthenticationFailed", "3-D Secure authentication failed."),
];

/// `base` with the demo's clock: starting `BEFORE_MIDNIGHT` before the next midnight
/// (UTC), so that demo refunds (which wait for the midnight settlement) show soon.
pub fn demo_config(base: SimConfig) -> SimConfig {
    SimConfig {
        clock_start: Some(demo_clock_start(OffsetDateTime::now_utc())),
        ..base
    }
}

/// When the demo clock starts, given the real time `now`: `BEFORE_MIDNIGHT` before the
/// end of `now`'s UTC day, or `now` itself if it is later than that already.
pub fn demo_clock_start(now: OffsetDateTime) -> OffsetDateTime {
    let now = now.to_offset(time::UtcOffset::UTC);
    let late_evening = now
        .date()
        .next_day()
        .expect("a date before the end of time")
        .with_time(Time::MIDNIGHT)
        .assume_utc()
        - BEFORE_MIDNIGHT;
    now.max(late_evening)
}

/// Create a job every `every` (real time) and play a random script on it, until
/// the simulator shuts down. Jobs use the config's default webhook URL. After
/// `ORDINARY_FIRST` paid orders, some orders stop at Reserved and some paid ones are
/// refunded in the portal once settled.
pub fn spawn_demo_traffic(handle: SimHandle, every: Duration) -> JoinHandle<()> {
    let every = every.max(Duration::from_millis(1));
    tokio::spawn(async move {
        let stopped = handle.shared.stopped();
        tokio::pin!(stopped);
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut order_seq = fastrand::u32(100_000..900_000);
        let paid_so_far = Arc::new(AtomicUsize::new(0));
        loop {
            tokio::select! {
                _ = &mut stopped => return,
                _ = ticker.tick() => {}
            }
            order_seq += 1;
            match handle.create_job(random_order(order_seq)) {
                Ok(job) => {
                    let money_shown = paid_so_far.load(Ordering::SeqCst) >= ORDINARY_FIRST;
                    if money_shown && fastrand::u8(..100) < RESERVED_PERCENT {
                        handle.set_job_auto_capture(&job.reference, false);
                    }
                    let shopper = handle.play(&job.reference, random_script());
                    tokio::spawn(after_the_shopper(
                        handle.clone(),
                        shopper,
                        paid_so_far.clone(),
                    ));
                }
                Err(report) => tracing::warn!(?report, "sim demo: job refused"),
            }
        }
    })
}

/// Count the order if it was paid; past the first ordinary ones, maybe refund it in
/// the portal once it has settled.
async fn after_the_shopper(
    handle: SimHandle,
    shopper: JoinHandle<Result<Job, super::shopper::ShopperError>>,
    paid_so_far: Arc<AtomicUsize>,
) {
    let Ok(Ok(job)) = shopper.await else {
        return;
    };
    if job.payment_status != Status::Paid {
        return;
    }
    let earlier = paid_so_far.fetch_add(1, Ordering::SeqCst);
    if earlier >= ORDINARY_FIRST && fastrand::u8(..100) < REFUNDED_PERCENT {
        refund_in_the_portal(&handle, &job).await;
    }
}

/// Wait (sim time) until the job's paid payment has settled and a little longer,
/// then refund all of it or about half, as the owner would in the portal.
async fn refund_in_the_portal(handle: &SimHandle, job: &Job) {
    let Some((payment, paid)) = job
        .payments
        .iter()
        .find_map(|p| Some((p, paid_at(p)?)).filter(|(p, _)| p.status == Status::Paid))
    else {
        return;
    };
    let after = time::Duration::seconds(fastrand::u64(REFUND_AFTER_SETTLED_SECS) as i64);
    let at = settles_at(paid) + after;
    let stopped = handle.shared.stopped();
    tokio::select! {
        _ = stopped => return,
        _ = handle.clock().sleep_until(at) => {}
    }
    let paid_amount = payment.paid_amount.0;
    let amount = if fastrand::bool() {
        paid_amount
    } else {
        (paid_amount / Decimal::from(2))
            .round_dp(2)
            .max(Decimal::new(1, 2))
    };
    if let Err(refused) = handle.portal_refund(&job.reference, &payment.reference, amount, None) {
        tracing::debug!(?refused, "sim demo: portal refund refused");
    }
}

fn random_order(seq: u32) -> CreateJob {
    // Shop-like prices: whole pounds with common pence endings.
    let pounds = i64::from(fastrand::u32(3..=180));
    let pence = [0, 0, 50, 99, 95, 49][fastrand::usize(..6)];
    let currency = match fastrand::u8(..20) {
        0..=16 => "GBP",
        17..=18 => "EUR",
        _ => "USD",
    };
    let name = NAMES[fastrand::usize(..NAMES.len())];
    CreateJob {
        amount: Decimal::new(pounds * 100 + pence, 2),
        currency: currency.to_owned(),
        order_number: format!("TW-{seq}"),
        email: format!("{name}.{}@example.com", fastrand::u16(1..1000)),
        webhook_url: None,
    }
}

fn random_script() -> Script {
    match fastrand::u8(..100) {
        0..=59 => Script::PaysAtOnce,
        60..=74 => {
            let (code, message) = REASONS[fastrand::usize(..REASONS.len())];
            Script::FailsThenPays {
                failures: fastrand::u32(1..=2),
                reason_code: code.to_owned(),
                reason_message: message.to_owned(),
            }
        }
        75..=81 => Script::ExceedsAttemptLimit,
        82..=88 => Script::Cancels,
        89..=94 => Script::Declined,
        _ => Script::NeverFinishes,
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn the_demo_clock_starts_six_minutes_before_the_next_midnight() {
        assert_eq!(
            demo_clock_start(datetime!(2026-12-07 09:30 UTC)),
            datetime!(2026-12-07 23:54 UTC)
        );
        assert_eq!(
            demo_clock_start(datetime!(2026-12-07 00:00 UTC)),
            datetime!(2026-12-07 23:54 UTC)
        );
        // Another offset is the same instant, taken in UTC.
        assert_eq!(
            demo_clock_start(datetime!(2026-12-08 00:30 +01:00)),
            datetime!(2026-12-07 23:54 UTC)
        );
    }

    #[test]
    fn a_late_evening_start_is_now() {
        let late = datetime!(2026-12-07 23:58:30 UTC);
        assert_eq!(demo_clock_start(late), late);
    }
}
