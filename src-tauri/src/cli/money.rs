//! `tillwatch refund`, `cancel`, `capture` and `ship --capture`: the owner moves an
//! order's money. The plan's note is printed before the outcome; Completed and Pending
//! exit 0 (saying which), a refusal or a failure exits non-zero with its sentence.

use anyhow::bail;

use super::args::Command;
use super::print::{print_json, summary_line};
use crate::app::{FollowPolicy, MoneyOutcome, MoneyReport};
use crate::domain::Amount;
use crate::gateway::GatewayClient;
use crate::App;

pub(super) async fn money(
    app: App,
    gateway: GatewayClient,
    command: Command,
    json: bool,
) -> anyhow::Result<()> {
    let follow = FollowPolicy::default();
    let (what, reference, report) = match command {
        Command::Refund {
            reference,
            amount,
            reason,
        } => {
            let amount = parse_amount(amount)?;
            let report = app
                .refund(&gateway, &reference, amount, reason, follow)
                .await?;
            ("refund", reference, report)
        }
        Command::Capture { reference, amount } => {
            let amount = parse_amount(amount)?;
            let report = app.capture(&gateway, &reference, amount, follow).await?;
            ("capture", reference, report)
        }
        Command::Cancel { reference } => {
            let report = app.cancel(&gateway, &reference).await?;
            ("cancel", reference, report)
        }
        Command::Ship {
            reference, note, ..
        } => {
            let done = app
                .capture_and_ship(&gateway, &reference, note, follow)
                .await?;
            print_report("capture", &reference, &done.capture, json)?;
            return match done.shipped {
                Some(d) => {
                    if !json {
                        println!("shipped: {}", summary_line(&d.summary));
                    }
                    Ok(())
                }
                None => bail!(
                    "Nothing was shipped: the capture of {reference} did not complete ({}).",
                    outcome_words(&done.capture.outcome)
                ),
            };
        }
        _ => unreachable!("only money commands come here"),
    };
    print_report(what, &reference, &report, json)
}

fn parse_amount(amount: Option<String>) -> anyhow::Result<Option<Amount>> {
    amount
        .map(|a| {
            a.parse::<Amount>()
                .map_err(|_| anyhow::anyhow!("'{a}' is not an amount (for example 2.50)"))
        })
        .transpose()
}

fn outcome_words(outcome: &MoneyOutcome) -> String {
    match outcome {
        MoneyOutcome::Completed => "completed".to_owned(),
        MoneyOutcome::Pending => "still pending at the gateway".to_owned(),
        MoneyOutcome::Cancelled => "cancelled".to_owned(),
        MoneyOutcome::Failed { reason } => format!("failed: {reason}"),
        MoneyOutcome::Refused { sentence } => format!("refused: {sentence}"),
    }
}

/// The plan's note and any notes, then the outcome; an error for a refusal or failure.
fn print_report(
    what: &str,
    reference: &str,
    report: &MoneyReport,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        print_json(&serde_json::json!({
            "outcome": outcome_code(&report.outcome),
            "notes": report.notes,
            "moves": report.moves.iter().map(|m| serde_json::json!({
                "kind": format!("{:?}", m.kind),
                "paymentReference": m.payment_ref.to_string(),
                "number": m.number,
                "amount": m.amount.to_string(),
                "status": format!("{:?}", m.status),
            })).collect::<Vec<_>>(),
        }))?;
    } else {
        // The plan's note leads the notes (see `app::money`).
        for note in &report.notes {
            println!("{note}");
        }
    }
    match &report.outcome {
        MoneyOutcome::Completed => {
            if !json {
                println!("Completed: the {what} of {reference} is done at the gateway.");
            }
            Ok(())
        }
        MoneyOutcome::Pending => {
            if !json {
                println!(
                    "Pending: the gateway accepted the {what} of {reference} but has not \
                     finished it yet; the order shows it as pending, never as done."
                );
            }
            Ok(())
        }
        MoneyOutcome::Cancelled => {
            if !json {
                println!("Completed: {reference} was cancelled at the gateway.");
            }
            Ok(())
        }
        MoneyOutcome::Failed { reason } => {
            bail!(
                "Failed: the gateway declined the {what} of {reference}: {reason}. Nothing moved."
            )
        }
        MoneyOutcome::Refused { sentence } => bail!("Refused: {sentence}"),
    }
}

fn outcome_code(outcome: &MoneyOutcome) -> &'static str {
    match outcome {
        MoneyOutcome::Completed => "completed",
        MoneyOutcome::Pending => "pending",
        MoneyOutcome::Cancelled => "cancelled",
        MoneyOutcome::Failed { .. } => "failed",
        MoneyOutcome::Refused { .. } => "refused",
    }
}
