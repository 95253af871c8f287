//! Read models and queries shaped for the window (and any other face): the orders table's
//! page, today's takings. Types here are exported to TypeScript.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::domain::{Amount, Currency, OrderSummary, Timestamp};
use crate::store::{MatchHow, OrderSort, RefKind};

/// The orders table's question. A page starts at the top unless `after` (the next page),
/// `before` (the previous one) or `last` says otherwise; cursors come from `OrdersPage`.
#[derive(Debug, Clone, Default, Deserialize, TS)]
#[serde(rename_all = "camelCase", default)]
pub struct OrdersQuery {
    pub status: Option<String>,
    pub shipped: Option<bool>,
    /// ISO-8601 instant: first seen at or after.
    pub from: Option<String>,
    /// ISO-8601 instant: first seen before.
    pub to: Option<String>,
    pub sort: OrderSort,
    pub ascending: bool,
    pub limit: u32,
    /// `OrdersPage::next` of the page before: the rows after it.
    pub after: Option<String>,
    /// `OrdersPage::prev` of the page after: the rows before it.
    pub before: Option<String>,
    /// The end of the list.
    pub last: bool,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct OrdersPage {
    pub orders: Vec<OrderSummary>,
    /// All orders matching the filter, for the pager.
    #[ts(type = "number")]
    pub total: u64,
    /// `total` is a lower bound: more than this many match ("10,000+").
    pub total_capped: bool,
    /// Where the next page starts (`OrdersQuery::after`); `null` at the end.
    pub next: Option<String>,
    /// Where the previous page ends (`OrdersQuery::before`); `null` at the start.
    pub prev: Option<String>,
}

/// A search result: the order and the reference that matched, for highlighting.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SearchHit {
    pub order: OrderSummary,
    pub kind: RefKind,
    pub how: MatchHow,
    /// The whole reference that matched (an e-mail in lower case).
    pub reference: String,
}

impl From<crate::store::Found> for SearchHit {
    fn from(f: crate::store::Found) -> Self {
        Self {
            order: f.order,
            kind: f.kind,
            how: f.how,
            reference: f.reference,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Takings {
    pub currency: String,
    /// Decimal text, e.g. "1234.50".
    pub amount: String,
    pub count: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct HourBucket {
    /// Local hour of the day, 0–23.
    pub hour: u8,
    pub count: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Today {
    pub takings: Vec<Takings>,
    /// Paid orders per local hour, all 24 hours.
    pub by_hour: Vec<HourBucket>,
}

/// Sums paid orders per currency (in decimal) and counts them per local hour.
pub fn today(paid: &[(Amount, Currency, Timestamp)], utc_offset_minutes: i32) -> Today {
    let mut sums: BTreeMap<String, (Decimal, u32, Currency)> = BTreeMap::new();
    let mut hours = [0u32; 24];
    for (amount, currency, at) in paid {
        let e = sums
            .entry(currency.to_string())
            .or_insert((Decimal::ZERO, 0, currency.clone()));
        e.0 += amount.decimal();
        e.1 += 1;
        let local = at.unix_millis() / 60_000 + i64::from(utc_offset_minutes);
        let hour = local.rem_euclid(24 * 60) / 60;
        hours[hour as usize] += 1;
    }
    Today {
        takings: sums
            .into_values()
            .map(|(sum, count, currency)| Takings {
                amount: Amount::new(sum).display_in(&currency),
                currency: currency.to_string(),
                count,
            })
            .collect(),
        by_hour: hours
            .iter()
            .enumerate()
            .map(|(h, &count)| HourBucket {
                hour: h as u8,
                count,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_input_debug_shows_no_secret() {
        let input = SettingsInput {
            settings: crate::settings::Settings::default(),
            configuration_id: Some("cfg-123".into()),
            api_key: Some("tw-api-key-secret".into()),
            ngrok_authtoken: Some("tw-ngrok-secret".into()),
            bore_secret: Some("tw-bore-secret".into()),
        };
        let shown = format!("{input:?} {input:#?}");
        for secret in ["tw-api-key-secret", "tw-ngrok-secret", "tw-bore-secret"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(
            shown.contains("[redacted]") && shown.contains("cfg-123"),
            "{shown}"
        );
    }

    #[test]
    fn an_ipc_error_from_a_database_failure_holds_no_sql_text() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let sqlite = conn
            .execute("SELEC job_ref FROM payment_jobs", [])
            .unwrap_err();
        assert!(
            sqlite.to_string().contains("SELEC"),
            "the raw text has SQL in it"
        );
        let ipc = IpcError::from(crate::app::AppError::from(crate::store::StoreError::from(
            sqlite,
        )));
        assert_eq!(ipc.code, "store_failed");
        for leak in ["SELEC", "syntax", "payment_jobs", "sqlite"] {
            assert!(!ipc.message.contains(leak), "{leak} in {ipc:?}");
        }
        let as_json = serde_json::to_string(&ipc).unwrap();
        assert!(!as_json.contains("SELEC"), "{as_json}");
    }

    #[test]
    fn takings_sum_in_decimal_per_currency_and_bucket_by_local_hour() {
        let gbp = Currency::parse("GBP").unwrap();
        let eur = Currency::parse("EUR").unwrap();
        let at = |s: &str| Timestamp::parse(s).unwrap();
        let paid = vec![
            (
                "0.10".parse().unwrap(),
                gbp.clone(),
                at("2026-11-24T09:15:00Z"),
            ),
            (
                "0.20".parse().unwrap(),
                gbp.clone(),
                at("2026-11-24T09:45:00Z"),
            ),
            ("5".parse().unwrap(), eur, at("2026-11-24T23:30:00Z")),
        ];
        let t = today(&paid, 60);
        assert_eq!(
            t.takings,
            vec![
                Takings {
                    currency: "EUR".into(),
                    amount: "5.00".into(),
                    count: 1
                },
                Takings {
                    currency: "GBP".into(),
                    amount: "0.30".into(),
                    count: 2
                },
            ]
        );
        assert_eq!(t.by_hour[10].count, 2, "09:xx UTC is 10:xx at +01:00");
        assert_eq!(
            t.by_hour[0].count, 1,
            "23:30 UTC is 00:30 the next local day"
        );
        assert_eq!(t.by_hour.len(), 24);
    }
}

/// What the health bar shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    pub demo: bool,
    pub environment: String,
    pub listener_up: bool,
    /// Why the listener is not up, in words.
    pub listener_error: Option<String>,
    /// The URL the gateway must post to (local until a tunnel gives a public one).
    pub webhook_url: Option<String>,
    pub public_url: Option<String>,
    /// Tunnel state in words, when a tunnel is configured.
    pub tunnel: Option<String>,
    /// The tunnel state's tag: localOnly, connecting, up, down or stopped.
    pub tunnel_status: Option<String>,
    pub gateway_url: Option<String>,
    /// Calls stopped after the gateway refused our credentials.
    pub circuit_open: bool,
    pub circuit_reason: Option<String>,
    /// Acknowledged notifications still waiting for the gateway's confirmation.
    #[ts(type = "number")]
    pub inbox_backlog: u64,
    /// Acknowledged notifications Tillwatch gave up on: they wait for the owner.
    #[ts(type = "number")]
    pub dead_deliveries: u64,
    pub last_notification_at: Option<String>,
    pub last_reconcile_at: Option<String>,
    /// How many orders the last reconciliation caught up.
    pub last_reconcile_caught_up: Option<u32>,
    pub unseen_payments: u32,
}

/// An error across IPC: a stable code for the program and words for the owner.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct IpcError {
    pub code: String,
    pub message: String,
}

impl From<crate::gateway::GatewayError> for IpcError {
    fn from(e: crate::gateway::GatewayError) -> Self {
        crate::app::AppError::from(e).into()
    }
}

impl From<crate::app::AppError> for IpcError {
    fn from(e: crate::app::AppError) -> Self {
        Self {
            code: e.code().to_owned(),
            message: e.to_string(),
        }
    }
}

/// Settings as the window shows them: never the API key itself.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SettingsView {
    pub settings: crate::settings::Settings,
    pub configuration_id: Option<String>,
    pub has_api_key: bool,
    /// False where no OS keyring exists; `keyring_message` says what to do.
    pub keyring_available: bool,
    pub keyring_message: Option<String>,
    /// Credentials come from TILLWATCH_* environment variables and override the keyring.
    pub credentials_from_env: bool,
    pub has_ngrok_authtoken: bool,
    pub has_bore_secret: bool,
}

/// Settings as the window saves them. An absent API key keeps the stored one.
#[derive(Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SettingsInput {
    pub settings: crate::settings::Settings,
    pub configuration_id: Option<String>,
    pub api_key: Option<String>,
    /// Absent: keep the stored one.
    pub ngrok_authtoken: Option<String>,
    pub bore_secret: Option<String>,
}

/// Written by hand so a logged or panicking `SettingsInput` never shows a secret.
impl std::fmt::Debug for SettingsInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |s: &Option<String>| s.as_ref().map(|_| "[redacted]");
        f.debug_struct("SettingsInput")
            .field("settings", &self.settings)
            .field("configuration_id", &self.configuration_id)
            .field("api_key", &redacted(&self.api_key))
            .field("ngrok_authtoken", &redacted(&self.ngrok_authtoken))
            .field("bore_secret", &redacted(&self.bore_secret))
            .finish()
    }
}

/// The result of "test connection", in words.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionTest {
    pub ok: bool,
    pub message: String,
}
