//! What the owner is shown: the tunnel's state and the changes worth telling.

use serde::{Deserialize, Serialize};

use super::TunnelErrorKind;
use tillwatch_core::domain::Timestamp;

/// Where the tunnel stands. Published on a `tokio::sync::watch`; serialised for the
/// window with a `state` tag: `{"state":"up","provider":"bore","publicUrl":…}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum TunnelState {
    /// No tunnel was chosen: only this machine can reach the listener (the demo).
    #[serde(rename_all = "camelCase")]
    LocalOnly { local_webhook_url: String },
    /// Opening the tunnel, or checking that a just-opened one can be reached.
    #[serde(rename_all = "camelCase")]
    Connecting {
        provider: String,
        /// 1 for the first try after the tunnel was last up.
        attempt: u32,
        /// Set once the provider gave an address that is being checked.
        public_url: Option<String>,
        #[cfg_attr(feature = "ts", ts(type = "string"))]
        since: Timestamp,
    },
    /// Reachable: a request through `webhook_url` reached this listener.
    #[serde(rename_all = "camelCase")]
    Up {
        provider: String,
        public_url: String,
        /// The address to give Cashflows: the public URL plus the webhook path.
        webhook_url: String,
        #[cfg_attr(feature = "ts", ts(type = "string"))]
        since: Timestamp,
    },
    /// Not reachable: notifications cannot arrive until it is up again.
    #[serde(rename_all = "camelCase")]
    Down {
        provider: String,
        reason: String,
        kind: TunnelErrorKind,
        /// When the tunnel stopped being up (kept across failed retries).
        #[cfg_attr(feature = "ts", ts(type = "string"))]
        since: Timestamp,
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        retry_in_ms: u64,
        #[cfg_attr(feature = "ts", ts(type = "string"))]
        retry_at: Timestamp,
    },
    /// The supervisor stopped (shutting down).
    Stopped,
}

impl TunnelState {
    pub fn is_up(&self) -> bool {
        matches!(self, Self::Up { .. })
    }

    pub fn is_down(&self) -> bool {
        matches!(self, Self::Down { .. })
    }

    /// The address Cashflows should post to, while the tunnel is up.
    pub fn webhook_url(&self) -> Option<&str> {
        match self {
            Self::Up { webhook_url, .. } => Some(webhook_url),
            Self::LocalOnly { local_webhook_url } => Some(local_webhook_url),
            _ => None,
        }
    }

    /// One line for a terminal or a health bar.
    /// The state's tag, as serialised (`localOnly`, `connecting`, `up`, `down`, `stopped`).
    pub fn status_word(&self) -> &'static str {
        match self {
            Self::LocalOnly { .. } => "localOnly",
            Self::Connecting { .. } => "connecting",
            Self::Up { .. } => "up",
            Self::Down { .. } => "down",
            Self::Stopped => "stopped",
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Self::LocalOnly { local_webhook_url } => format!(
                "local only: the gateway cannot reach this computer (listening at {local_webhook_url})"
            ),
            Self::Connecting {
                provider,
                attempt,
                public_url: None,
                ..
            } => format!("connecting ({provider}, attempt {attempt})"),
            Self::Connecting {
                provider,
                public_url: Some(url),
                ..
            } => format!("checking that {url} reaches this computer ({provider})"),
            Self::Up {
                provider,
                webhook_url,
                ..
            } => format!("up ({provider}): {webhook_url}"),
            Self::Down {
                provider,
                reason,
                retry_in_ms,
                ..
            } => format!(
                "DOWN ({provider}): {reason} Retrying in {}.",
                words_for_wait(*retry_in_ms)
            ),
            Self::Stopped => "stopped".to_owned(),
        }
    }
}

/// "800 ms", "4 s", "1 min 5 s".
pub(crate) fn words_for_wait(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms} ms"),
        1_000..=59_999 => format!("{} s", (ms + 500) / 1000),
        _ => {
            let s = (ms + 500) / 1000;
            match s % 60 {
                0 => format!("{} min", s / 60),
                r => format!("{} min {r} s", s / 60),
            }
        }
    }
}

/// The public webhook address is not the one Cashflows was last given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct UrlChange {
    /// The webhook address before (`None` the first time one is known).
    pub previous_webhook_url: Option<String>,
    /// The address to copy into the Cashflows portal.
    pub webhook_url: String,
    pub public_url: String,
    /// What happened and what to do, for the owner, prominently, with a copy button.
    pub message: String,
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub at: Timestamp,
}

impl UrlChange {
    pub fn new(
        previous_webhook_url: Option<String>,
        public_url: &str,
        webhook_url: &str,
        notice: Option<&str>,
    ) -> Self {
        let mut message = String::new();
        if let Some(n) = notice {
            message.push_str(n.trim_end());
            message.push(' ');
        }
        match &previous_webhook_url {
            Some(old) => message.push_str(&format!(
                "The public webhook address changed from {old} to {webhook_url}. \
                 Cashflows will keep sending notifications to the old address for up to a month. \
                 In the Cashflows portal, set the webhook URL to {webhook_url}. \
                 Tillwatch is checking now for payments it may have missed."
            )),
            None => message.push_str(&format!(
                "Tillwatch can now be reached at {webhook_url}. \
                 In the Cashflows portal, set the webhook URL to {webhook_url}."
            )),
        }
        Self {
            previous_webhook_url,
            webhook_url: webhook_url.to_owned(),
            public_url: public_url.to_owned(),
            message,
            at: Timestamp::now(),
        }
    }
}

/// A change the faces show; `CoreEvent`-style (tagged by `kind`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum TunnelEvent {
    /// Every new state, also published on the watch.
    #[serde(rename_all = "camelCase")]
    StateChanged { state: TunnelState },
    /// Tell the owner prominently: the portal needs the new address.
    UrlChanged(UrlChange),
    /// The computer slept (the wall clock jumped past the monotonic one); a
    /// reconciliation was asked for.
    #[serde(rename_all = "camelCase")]
    WokeUp {
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        slept_ms: u64,
        #[cfg_attr(feature = "ts", ts(type = "string"))]
        at: Timestamp,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_serialises_with_a_tag_for_the_window() {
        let s = TunnelState::Up {
            provider: "bore".into(),
            public_url: "http://relay:4000".into(),
            webhook_url: "http://relay:4000/webhooks/cashflows".into(),
            since: Timestamp::from_unix_millis(0),
        };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["state"], "up");
        for state in [
            s.clone(),
            TunnelState::Stopped,
            TunnelState::LocalOnly {
                local_webhook_url: "http://127.0.0.1:8787/webhooks/cashflows".into(),
            },
        ] {
            let tag = serde_json::to_value(&state).unwrap()["state"].clone();
            assert_eq!(
                tag,
                state.status_word(),
                "the health bar's word is the serialised tag"
            );
        }
        assert_eq!(v["publicUrl"], "http://relay:4000");
        assert_eq!(v["webhookUrl"], "http://relay:4000/webhooks/cashflows");
        let back: TunnelState = serde_json::from_value(v).unwrap();
        assert_eq!(back, s);
        let e = serde_json::to_value(TunnelEvent::StateChanged { state: s }).unwrap();
        assert_eq!(e["kind"], "stateChanged");
        assert_eq!(e["state"]["state"], "up");
    }

    #[test]
    fn a_changed_url_says_what_to_do_in_the_portal() {
        let c = UrlChange::new(
            Some("http://relay:4000/webhooks/cashflows".into()),
            "http://relay:4001",
            "http://relay:4001/webhooks/cashflows",
            None,
        );
        assert!(c.message.contains("for up to a month"), "{}", c.message);
        assert!(c.message.contains(
            "In the Cashflows portal, set the webhook URL to http://relay:4001/webhooks/cashflows"
        ));
        let first = UrlChange::new(
            None,
            "https://a.example",
            "https://a.example/webhooks/cashflows",
            None,
        );
        assert!(first
            .message
            .contains("set the webhook URL to https://a.example/webhooks/cashflows"));
    }

    #[test]
    fn waits_read_as_words() {
        assert_eq!(words_for_wait(800), "800 ms");
        assert_eq!(words_for_wait(4_200), "4 s");
        assert_eq!(words_for_wait(60_000), "1 min");
        assert_eq!(words_for_wait(65_000), "1 min 5 s");
    }
}
