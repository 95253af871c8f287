//! Demo traffic: plausible orders arriving at a steady pace, played by a random mix
//! of shoppers, so the app has something to show without a real gateway.

use std::time::Duration;

use rust_decimal::Decimal;
use tokio::task::JoinHandle;

use super::handle::SimHandle;
use super::request::CreateJob;
use super::shopper::Script;

const NAMES: [&str; 12] = [
    "amelia", "oliver", "isla", "george", "ava", "noah", "mia", "arthur", "freya", "leo", "grace",
    "oscar",
];
const REASONS: [(&str, &str); 3] = [
    ("CardDeclined", "The card was declined by the issuer."),
    ("InsufficientFunds", "The card has insufficient funds."),
    ("AuthenticationFailed", "3-D Secure authentication failed."),
];

/// Create a job every `every` (real time) and play a random script on it, until
/// the simulator shuts down. Jobs use the config's default webhook URL.
pub fn spawn_demo_traffic(handle: SimHandle, every: Duration) -> JoinHandle<()> {
    let every = every.max(Duration::from_millis(1));
    tokio::spawn(async move {
        let stopped = handle.shared.stopped();
        tokio::pin!(stopped);
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut order_seq = fastrand::u32(100_000..900_000);
        loop {
            tokio::select! {
                _ = &mut stopped => return,
                _ = ticker.tick() => {}
            }
            order_seq += 1;
            match handle.create_job(random_order(order_seq)) {
                Ok(job) => drop(handle.play(&job.reference, random_script())),
                Err(report) => tracing::warn!(?report, "sim demo: job refused"),
            }
        }
    })
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
