//! `tillwatch link`: create a payment link at the gateway, or cancel one.

use super::args::LinkAction;
use super::print::{print_json, summary_line};
use crate::config;
use crate::gateway::GatewayClient;
use crate::{listener, App};

pub(super) async fn link(
    app: App,
    gateway: GatewayClient,
    action: LinkAction,
    data_dir: &std::path::Path,
    database: &std::path::Path,
    json: bool,
) -> anyhow::Result<()> {
    let detail = match action {
        LinkAction::Create {
            amount,
            currency,
            order,
            email,
            note,
            max_amount,
            webhook_url,
            return_url_success,
            return_url_failed,
            return_url_cancelled,
        } => {
            let webhook_url = match webhook_url {
                Some(u) => u,
                None => current_webhook_url(database),
            };
            let order_number = match order {
                Some(o) => o,
                None => app.suggest_order_number().await?,
            };
            let returns = crate::links::ReturnUrls {
                success: return_url_success,
                failed: return_url_failed,
                cancelled: return_url_cancelled,
            };
            let new = crate::links::NewPaymentLink {
                amount,
                currency,
                order_number,
                email,
                note,
            };
            // The flag wins; else the ceiling the owner set in the window's settings.
            let max_amount = match max_amount {
                Some(m) => {
                    crate::settings::parse_max_link_amount(&m).map_err(anyhow::Error::msg)?
                }
                None => crate::settings::Settings::load(data_dir).max_link_amount()?,
            };
            app.create_payment_link(&gateway, new, &webhook_url, &returns, max_amount)
                .await?
        }
        LinkAction::Cancel { reference } => {
            let job = app.resolve(&reference).await?;
            app.cancel_payment_link(&gateway, &job).await?
        }
    };
    if json {
        print_json(&detail)?;
    } else {
        println!("{}", summary_line(&detail.summary));
        if let Some(url) = &detail.payment_link {
            println!("{url}");
        }
    }
    Ok(())
}

/// The public webhook URL a running `serve` last reported (its tunnel remembers the public
/// base URL next to the database), else the local default.
fn current_webhook_url(database: &std::path::Path) -> String {
    let path = listener::webhook_path(std::env::var(config::ENV_WEBHOOK_SECRET).ok().as_deref());
    let remembered = std::fs::read_to_string(crate::boot::tunnel_url_file(database))
        .ok()
        .map(|s| s.trim().trim_end_matches('/').to_owned())
        .filter(|s| s.starts_with("http"));
    match remembered {
        Some(base) => format!("{base}{path}"),
        None => {
            let local = format!("http://{}{path}", config::DEFAULT_LISTEN);
            eprintln!("warning: no public webhook URL is known; the gateway will be told {local}");
            local
        }
    }
}
