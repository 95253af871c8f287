//! How the command line words what it shows: order lines, details, JSON, and the
//! tunnel's state.

use serde::Serialize;

use crate::domain::{OrderDetail, OrderSummary};
use crate::tunnel::{TunnelErrorKind, TunnelState};

pub(super) fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn money(o: &OrderSummary) -> String {
    match (&o.amount, &o.currency) {
        (Some(a), Some(c)) => format!("{} {c}", a.display_in(c)),
        (Some(a), None) => a.to_string(),
        _ => "-".to_owned(),
    }
}

pub(super) fn summary_line(o: &OrderSummary) -> String {
    format!(
        "{:<10} {:>12}  order {:<12} job {}  attempts {}{}{}",
        o.status.as_str(),
        money(o),
        o.order_number.as_deref().unwrap_or("-"),
        o.payment_job_reference,
        o.attempts,
        if o.shipped { "  shipped" } else { "" },
        o.mismatch
            .as_deref()
            .map(|m| format!("  MISMATCH: {m}"))
            .unwrap_or_default(),
    )
}

pub(super) fn print_detail(d: &OrderDetail) {
    println!("{}", summary_line(&d.summary));
    if let Some(email) = &d.summary.email {
        println!("  e-mail {email}");
    }
    print_money(d);
    for p in &d.payments {
        let why = match (&p.failure_reason, &p.failure_code) {
            (Some(r), Some(c)) => format!(" — {r} ({c})"),
            (None, Some(c)) => format!(" — {c}"),
            _ => String::new(),
        };
        println!(
            "  attempt {} payment {} {}{}",
            p.attempt, p.payment_reference, p.status, why
        );
    }
    for e in &d.status_events {
        println!(
            "  {} {} -> {} ({}){}",
            e.at,
            e.from.as_deref().unwrap_or("new"),
            e.to,
            e.source.as_str(),
            e.payment_reference
                .as_ref()
                .map(|p| format!(" payment {p}"))
                .unwrap_or_default()
        );
    }
    for dl in &d.deliveries {
        println!(
            "  delivery {} answered {} {}",
            dl.received_at,
            dl.response_status,
            dl.outcome.as_deref().unwrap_or(dl.state_word())
        );
    }
}

/// Refunded and net when anything was refunded or is being refunded, each refund and
/// capture with its status, and a Reserved order's capture deadline.
fn print_money(d: &OrderDetail) {
    let o = &d.summary;
    let shown = |a: crate::domain::Amount| match &o.currency {
        Some(c) => format!("{} {c}", a.display_in(c)),
        None => a.to_string(),
    };
    let zero = crate::domain::Amount::ZERO;
    if o.refunded_amount != zero || o.refund_pending_amount != zero {
        let mut line = format!("  refunded {}", shown(o.refunded_amount));
        if o.refund_pending_amount != zero {
            line.push_str(&format!(" (pending {})", shown(o.refund_pending_amount)));
        }
        if let Some(net) = o.net_amount() {
            line.push_str(&format!("  net {}", shown(net)));
        }
        if let Some(state) = o.money_state().words() {
            line.push_str(&format!("  {state}"));
        }
        println!("{line}");
    }
    for m in d.refunds.iter().chain(&d.captures) {
        println!(
            "  {} {} {}{}{}{}",
            m.kind.as_str(),
            shown(m.amount),
            m.status.as_str(),
            m.refund_number
                .as_deref()
                .map(|n| format!(" number {n}"))
                .unwrap_or_default(),
            m.by.as_deref()
                .map(|b| format!(" by {b}"))
                .unwrap_or_default(),
            m.failure
                .as_deref()
                .map(|f| format!(" — {f}"))
                .unwrap_or_default(),
        );
    }
    if let Some(by) = o.capture_deadline() {
        println!("  capture by {by}");
    }
}

/// The state in words (empty: nothing to print); the retry countdown is left out so
/// repeated failures of the same kind print once.
pub(super) fn state_line(state: &TunnelState) -> String {
    match state {
        TunnelState::Down {
            provider,
            reason,
            kind,
            ..
        } => {
            let hint = match kind {
                TunnelErrorKind::Refused | TunnelErrorKind::Misconfigured => {
                    " (retrying; fix the setting)"
                }
                _ => " (retrying)",
            };
            format!("DOWN ({provider}): {reason}{hint}")
        }
        // Retries are in the DOWN line already.
        TunnelState::Connecting {
            attempt: 2..,
            public_url: None,
            ..
        } => String::new(),
        TunnelState::Connecting {
            provider,
            public_url: None,
            ..
        } => format!("connecting ({provider})"),
        other => other.describe(),
    }
}
