//! The commands that read and mark orders: `lookup`, `orders`, `ship`, `unship`,
//! `deliveries`, `retry`, `export`.

use anyhow::{bail, Context};

use super::args::Command;
use super::print::{print_detail, print_json, summary_line};
use crate::domain::{DeliveryState, PaymentStatus};
use crate::App;

pub(super) async fn read(app: App, command: Command, json: bool) -> anyhow::Result<()> {
    match command {
        Command::Lookup { query } => {
            let found = app.lookup(&query).await?;
            if found.is_empty() {
                bail!("no order matches '{query}'");
            }
            if json {
                print_json(&found)?;
            } else {
                for d in &found {
                    print_detail(d);
                }
            }
        }
        Command::Orders {
            status,
            shipped,
            limit,
        } => {
            let status = status.map(|s| PaymentStatus::from(capitalise(&s)));
            let orders = app.orders(status, shipped, limit).await?;
            if json {
                print_json(&orders)?;
            } else if orders.is_empty() {
                println!("no orders");
            } else {
                for o in &orders {
                    println!("{}", summary_line(o));
                }
            }
        }
        Command::Ship {
            reference,
            note,
            override_mismatch,
            ..
        } => {
            let d = match override_mismatch {
                Some(reason) => app.ship_despite_mismatch(&reference, note, reason).await?,
                None => app.ship(&reference, note).await?,
            };
            if json {
                print_json(&d)?;
            } else {
                println!("shipped: {}", summary_line(&d.summary));
            }
        }
        Command::Unship { reference } => {
            let d = app.unship(&reference).await?;
            if json {
                print_json(&d)?;
            } else {
                println!("no longer shipped: {}", summary_line(&d.summary));
            }
        }
        Command::Deliveries { dead, limit, .. } => {
            let state = if dead {
                DeliveryState::Dead
            } else {
                DeliveryState::Unknown
            };
            let stuck = app.stuck_deliveries(state, limit).await?;
            if json {
                print_json(&stuck)?;
            } else if stuck.is_empty() {
                println!("no {} deliveries", state.as_str());
            } else {
                for d in &stuck {
                    println!(
                        "{}  job {}  payment {}  {} attempts  {}",
                        d.received_at,
                        d.payment_job_reference,
                        d.payment_reference,
                        d.attempts,
                        d.last_error
                            .as_deref()
                            .or(d.outcome.as_deref())
                            .unwrap_or("")
                    );
                }
                println!("retry one with: tillwatch retry <job or payment reference>");
            }
        }
        Command::Retry { reference } => {
            let n = app.retry_deliveries(&reference).await?;
            if json {
                print_json(&serde_json::json!({ "reopened": n }))?;
            } else {
                println!("{n} deliveries of {reference} will be asked about again");
            }
        }
        Command::Export { out, .. } => {
            let csv = app.export_csv().await?;
            match out {
                Some(path) => std::fs::write(&path, csv)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => print!("{csv}"),
            }
        }
        Command::Serve { .. }
        | Command::Sim { .. }
        | Command::Link { .. }
        | Command::Refund { .. }
        | Command::Cancel { .. }
        | Command::Capture { .. } => {
            unreachable!("handled by run")
        }
    }
    Ok(())
}

/// Status words are the gateway's ("Paid"); accept "paid" from a hurried owner.
fn capitalise(s: &str) -> String {
    let mut c = s.trim().chars();
    match c.next() {
        Some(f) => f
            .to_uppercase()
            .chain(c.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    }
}
