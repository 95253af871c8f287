//! The TypeScript types of everything that crosses IPC, generated from the Rust types so
//! they are never written twice. `ui/src/lib/bindings.ts` is this output; a test fails
//! when it drifts (run `UPDATE_BINDINGS=1 cargo test --lib bindings` to refresh it).
//!
//! Beside the types, the rules' parameters the window checks forms with (currency digits,
//! limits, final statuses), written from the Rust constants themselves, and the order
//! flags (`OrderFlags`) serialized with every order summary.

use ts_rs::{Config, TS};

use crate::domain::{
    Attempt, AuditView, ChangeSource, DeliveryState, DeliveryView, MoneyMoveView, MoneyState,
    MoveKind, MoveStatus, OrderDetail, OrderFlags, OrderSummary, PaymentStatus, ShipCheck,
    StatusEventView, StuckDelivery, DEFAULT_MINOR_DIGITS, KNOWN_CURRENCIES,
};
use crate::ipc::{
    ConnectionTest, DatabaseTest, DatabaseTestStage, Health, IpcError, ServeSeen, SettingsInput,
    SettingsView,
};
use crate::links::{NewPaymentLink, ReturnUrls, EMAIL_MAX_LEN, NOTE_MAX_LEN, ORDER_NUMBER_MAX_LEN};
use crate::listener::{SECRET_MAX_LEN, SECRET_MIN_LEN};
use crate::pipeline::{CoreEvent, ReconcileReport};
use crate::settings::{Environment, Settings, TunnelSettings, MAX_RETENTION_DAYS};
use crate::store::{MatchHow, OrderSort, RefKind};
use crate::tunnel::{ProviderKind, UrlChange, BORE_CONTROL_PORT};
use crate::views::{HourBucket, OrdersPage, OrdersQuery, SearchHit, Takings, Today};

/// Names of the window events; one place maps core events onto them.
/// A batch of order changes (`CoreEvent[]`), one per order, in the order they happened.
pub const EVENT_ORDERS_CHANGED: &str = "orders-changed";
pub const EVENT_HEALTH_CHANGED: &str = "health-changed";
pub const EVENT_TUNNEL_URL_CHANGED: &str = "tunnel-url-changed";
/// The window fell behind the core's events (how many it missed): what it shows is
/// read again.
pub const EVENT_ORDERS_MISSED: &str = "orders-missed";

pub const PATH: &str = "ui/src/lib/bindings.ts";

/// A type that also carries the order flags: serialized beside its own fields (see
/// `OrderSummary`'s `Serialize`), so its TypeScript type is its fields and `OrderFlags`.
fn with_order_flags(name: &str, inline: String) -> String {
    format!("type {name} = {inline} & OrderFlags;")
}

/// The rules' parameters, as TypeScript constants.
fn rules() -> String {
    let json = |v: serde_json::Value| v.to_string();
    let digits: serde_json::Map<String, serde_json::Value> = KNOWN_CURRENCIES
        .iter()
        .map(|(code, d)| ((*code).to_owned(), (*d).into()))
        .collect();
    let codes: Vec<&str> = KNOWN_CURRENCIES.iter().map(|(code, _)| *code).collect();
    [
        "/** Minor-unit digits of the currencies a payment link may ask for. */".to_owned(),
        format!(
            "export const CURRENCY_DIGITS: Readonly<Record<string, number>> = {};",
            json(digits.into())
        ),
        "/** Minor-unit digits of any other currency. */".to_owned(),
        format!("export const DEFAULT_CURRENCY_DIGITS = {DEFAULT_MINOR_DIGITS};"),
        "/** The currencies a payment link may ask for, GBP first. */".to_owned(),
        format!(
            "export const LINK_CURRENCIES: readonly string[] = {};",
            json(codes.into())
        ),
        format!("export const ORDER_NUMBER_MAX_LEN = {ORDER_NUMBER_MAX_LEN};"),
        format!("export const EMAIL_MAX_LEN = {EMAIL_MAX_LEN};"),
        format!("export const NOTE_MAX_LEN = {NOTE_MAX_LEN};"),
        "/** Statuses after which a job no longer changes (`PaymentStatus::is_final`). */"
            .to_owned(),
        format!(
            "export const FINAL_STATUSES: readonly string[] = {};",
            json(PaymentStatus::FINAL_WORDS.into())
        ),
        format!("export const MAX_RETENTION_DAYS = {MAX_RETENTION_DAYS};"),
        format!("export const SECRET_MIN_LEN = {SECRET_MIN_LEN};"),
        format!("export const SECRET_MAX_LEN = {SECRET_MAX_LEN};"),
        format!("export const BORE_CONTROL_PORT = {BORE_CONTROL_PORT};"),
    ]
    .join("\n")
        + "\n"
}

pub fn typescript() -> String {
    let cfg = Config::new();
    let decls = [
        with_order_flags("OrderSummary", OrderSummary::inline(&cfg)),
        with_order_flags("OrderDetail", OrderDetail::inline(&cfg)),
        OrderFlags::decl(&cfg),
        ShipCheck::decl(&cfg),
        Attempt::decl(&cfg),
        DeliveryView::decl(&cfg),
        DeliveryState::decl(&cfg),
        StuckDelivery::decl(&cfg),
        StatusEventView::decl(&cfg),
        AuditView::decl(&cfg),
        MoneyMoveView::decl(&cfg),
        MoveKind::decl(&cfg),
        MoveStatus::decl(&cfg),
        MoneyState::decl(&cfg),
        ChangeSource::decl(&cfg),
        CoreEvent::decl(&cfg),
        ReconcileReport::decl(&cfg),
        OrderSort::decl(&cfg),
        OrdersQuery::decl(&cfg),
        OrdersPage::decl(&cfg),
        SearchHit::decl(&cfg),
        RefKind::decl(&cfg),
        MatchHow::decl(&cfg),
        Takings::decl(&cfg),
        HourBucket::decl(&cfg),
        Today::decl(&cfg),
        Health::decl(&cfg),
        ServeSeen::decl(&cfg),
        IpcError::decl(&cfg),
        Environment::decl(&cfg),
        Settings::decl(&cfg),
        SettingsView::decl(&cfg),
        SettingsInput::decl(&cfg),
        ConnectionTest::decl(&cfg),
        DatabaseTest::decl(&cfg),
        DatabaseTestStage::decl(&cfg),
        NewPaymentLink::decl(&cfg),
        ReturnUrls::decl(&cfg),
        TunnelSettings::decl(&cfg),
        ProviderKind::decl(&cfg),
        UrlChange::decl(&cfg),
    ];
    let mut out = String::from(
        "// Generated from the Rust types by src-tauri/src/bindings.rs. Do not edit.\n\n",
    );
    for d in decls {
        out.push_str("export ");
        out.push_str(&d);
        out.push_str("\n\n");
    }
    out.push_str(&format!(
        "export const EVENT_ORDERS_CHANGED = \"{EVENT_ORDERS_CHANGED}\";\nexport const EVENT_HEALTH_CHANGED = \"{EVENT_HEALTH_CHANGED}\";\nexport const EVENT_TUNNEL_URL_CHANGED = \"{EVENT_TUNNEL_URL_CHANGED}\";\nexport const EVENT_ORDERS_MISSED = \"{EVENT_ORDERS_MISSED}\";\n"
    ));
    out.push('\n');
    out.push_str(&rules());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ui_bindings_match_the_rust_types() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(PATH);
        let fresh = typescript();
        if std::env::var_os("UPDATE_BINDINGS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &fresh).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == fresh,
            "{PATH} is out of date with the Rust types: run `UPDATE_BINDINGS=1 cargo test --lib bindings`"
        );
    }
}
