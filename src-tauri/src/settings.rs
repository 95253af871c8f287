//! The owner's settings that are not secret, kept as JSON in the data folder. The
//! configuration ID and API key live in the OS keyring (or the environment), never here.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::config::Mode;
use crate::domain::Amount;
use crate::gateway::GatewayEnvironment;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum Environment {
    #[default]
    Demo,
    Integration,
    Production,
    Custom,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    pub environment: Environment,
    /// The gateway's base URL when `environment` is custom.
    pub custom_url: Option<String>,
    pub listen_port: u16,
    /// Optional secret path segment of the webhook URL.
    pub webhook_secret: Option<String>,
    pub ship_on_reserved: bool,
    pub alerts: bool,
    pub start_at_login: bool,
    /// Pages of the shop the shopper's browser returns to after paying a link.
    pub return_urls: crate::links::ReturnUrls,
    /// How the gateway reaches this computer.
    pub tunnel: TunnelSettings,
    /// The largest amount a payment link may ask for, in the link's currency (decimal
    /// text): a guard against a slipped finger, not a business limit.
    pub max_link_amount: String,
    /// Days a settled delivery is kept before it is pruned.
    pub delivery_retention_days: u32,
    /// Accept notifications only from these addresses (empty: any). `integration` and
    /// `production` stand for Cashflows' published addresses.
    pub allow_from: Vec<String>,
    /// Proxies whose X-Forwarded-For names the real sender.
    pub trusted_proxies: Vec<String>,
    /// A PostgreSQL database shared with other machines (`postgres://user@host/db`), in
    /// place of this machine's own file. Never with a password: that is in the keyring.
    pub database_url: Option<String>,
}

pub use crate::links::DEFAULT_MAX_LINK_AMOUNT;

/// The tunnel provider and its non-secret settings (the ngrok authtoken and the bore
/// secret live in the keyring).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", default)]
pub struct TunnelSettings {
    pub provider: crate::tunnel::ProviderKind,
    /// Static: the public base URL of the owner's reverse proxy or port forward.
    pub public_url: Option<String>,
    /// Bore: the relay's host.
    pub bore_relay: Option<String>,
    /// Ngrok: the owner's free static domain.
    pub ngrok_domain: Option<String>,
}

impl Default for TunnelSettings {
    fn default() -> Self {
        Self {
            provider: crate::tunnel::ProviderKind::None,
            public_url: None,
            bore_relay: None,
            ngrok_domain: None,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            environment: Environment::Demo,
            custom_url: None,
            listen_port: 8787,
            webhook_secret: None,
            ship_on_reserved: false,
            alerts: true,
            start_at_login: false,
            return_urls: crate::links::ReturnUrls::default(),
            tunnel: TunnelSettings::default(),
            max_link_amount: DEFAULT_MAX_LINK_AMOUNT.to_owned(),
            delivery_retention_days: crate::app::DEFAULT_DELIVERY_RETENTION_DAYS,
            allow_from: Vec::new(),
            trusted_proxies: Vec::new(),
            database_url: None,
        }
    }
}

/// A payment link ceiling: a positive decimal amount.
pub fn parse_max_link_amount(s: &str) -> Result<Amount, String> {
    match s.trim().parse::<Amount>() {
        Ok(a) if a > Amount::ZERO => Ok(a),
        _ => Err(format!(
            "the largest payment link amount must be a positive number, not '{s}'"
        )),
    }
}
/// Ten years: longer is almost certainly a typo.
pub const MAX_RETENTION_DAYS: u32 = 3650;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{0}")]
    Invalid(String),
    #[error("settings could not be saved: {0}")]
    Io(String),
}

impl Settings {
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join("settings.json")
    }

    /// Missing or unreadable settings fall back to defaults (logged), so a damaged file
    /// never keeps the app from starting.
    pub fn load(data_dir: &Path) -> Settings {
        let path = Self::path(data_dir);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), error = %e, "settings unreadable; using defaults");
                Settings::default()
            }),
            Err(_) => Settings::default(),
        }
    }

    /// The payment link ceiling as an amount.
    pub fn max_link_amount(&self) -> Result<Amount, SettingsError> {
        parse_max_link_amount(&self.max_link_amount).map_err(SettingsError::Invalid)
    }

    pub fn validate(&self) -> Result<(), SettingsError> {
        self.max_link_amount()?;
        if self.listen_port == 0 {
            return Err(SettingsError::Invalid(
                "the listener port must be 1 to 65535".into(),
            ));
        }
        if let Some(s) = &self.webhook_secret {
            crate::listener::validate_secret(s).map_err(SettingsError::Invalid)?;
        }
        match self.tunnel.provider {
            crate::tunnel::ProviderKind::Static => {
                let url = self.tunnel.public_url.as_deref().unwrap_or("");
                crate::tunnel::normalise_base_url(url)
                    .map_err(|e| SettingsError::Invalid(e.to_string()))?;
            }
            crate::tunnel::ProviderKind::Bore
                if self
                    .tunnel
                    .bore_relay
                    .as_deref()
                    .unwrap_or("")
                    .trim()
                    .is_empty() =>
            {
                return Err(SettingsError::Invalid(
                    "the bore tunnel needs the relay's host".into(),
                ));
            }
            _ => {}
        }
        if !(1..=MAX_RETENTION_DAYS).contains(&self.delivery_retention_days) {
            return Err(SettingsError::Invalid(format!(
                "deliveries must be kept 1 to {MAX_RETENTION_DAYS} days"
            )));
        }
        crate::listener::parse_addresses(&self.allow_from.join(","))
            .map_err(|e| SettingsError::Invalid(format!("allowed sources: {e}")))?;
        crate::listener::parse_addresses(&self.trusted_proxies.join(","))
            .map_err(|e| SettingsError::Invalid(format!("trusted proxies: {e}")))?;
        if self.environment == Environment::Custom {
            let url = self.custom_url.as_deref().unwrap_or("");
            GatewayEnvironment::parse(url).map_err(SettingsError::Invalid)?;
        }
        if let Some(url) = self.shared_database_url() {
            let (_, password) = tillwatch_store_postgres::take_password(url)
                .map_err(|e| SettingsError::Invalid(format!("shared database: {e}")))?;
            // This file is plain text on disk: a password in it is refused, never written.
            if password.is_some() {
                return Err(SettingsError::Invalid(
                    "the shared database's password goes in its own field (kept in the OS keyring), not in the URL".into(),
                ));
            }
        }
        Ok(())
    }

    /// The shared database's URL, when one is set.
    pub fn shared_database_url(&self) -> Option<&str> {
        self.database_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
    }

    /// Takes a password written into the shared database's URL out of it, so the URL can
    /// be saved here; returns the password to keep in the keyring (`typed`, the one given
    /// in its own field, wins over one found in the URL).
    pub fn take_database_password(
        &mut self,
        typed: Option<String>,
    ) -> Result<Option<String>, SettingsError> {
        let typed = typed.filter(|p| !p.is_empty());
        let Some(url) = self.shared_database_url() else {
            self.database_url = None;
            return Ok(typed);
        };
        let (url, in_url) = tillwatch_store_postgres::take_password(url)
            .map_err(|e| SettingsError::Invalid(format!("shared database: {e}")))?;
        self.database_url = Some(url);
        Ok(typed.or_else(|| in_url.map(|p| p.expose().to_owned())))
    }

    /// Written to a temporary file and renamed, so a crash never leaves half a file.
    pub fn save(&self, data_dir: &Path) -> Result<(), SettingsError> {
        self.validate()?;
        std::fs::create_dir_all(data_dir).map_err(|e| SettingsError::Io(e.to_string()))?;
        let path = Self::path(data_dir);
        let tmp = path.with_extension("json.tmp");
        let bytes =
            serde_json::to_vec_pretty(self).map_err(|e| SettingsError::Io(e.to_string()))?;
        std::fs::write(&tmp, bytes).map_err(|e| SettingsError::Io(e.to_string()))?;
        std::fs::rename(&tmp, &path).map_err(|e| SettingsError::Io(e.to_string()))
    }

    /// The listener's source policy. Saved settings are validated; an entry broken by
    /// hand-editing the file is skipped (and logged) rather than keeping the app down.
    pub fn source_policy(&self) -> crate::listener::SourcePolicy {
        let parse = |list: &[String]| -> Vec<std::net::IpAddr> {
            list.iter()
                .flat_map(|item| {
                    crate::listener::parse_addresses(item).unwrap_or_else(|e| {
                        tracing::warn!("settings: ignoring {e}");
                        Vec::new()
                    })
                })
                .collect()
        };
        crate::listener::SourcePolicy {
            allow_from: parse(&self.allow_from),
            trusted_proxies: parse(&self.trusted_proxies),
            ..crate::listener::SourcePolicy::default()
        }
    }

    pub fn delivery_retention(&self) -> std::time::Duration {
        crate::app::retention_days(self.delivery_retention_days.max(1))
    }

    pub fn mode(&self) -> Result<Mode, SettingsError> {
        Ok(match self.environment {
            Environment::Demo => Mode::Demo,
            Environment::Integration => Mode::Gateway(GatewayEnvironment::Integration),
            Environment::Production => Mode::Gateway(GatewayEnvironment::Production),
            Environment::Custom => Mode::Gateway(
                GatewayEnvironment::parse(self.custom_url.as_deref().unwrap_or(""))
                    .map_err(SettingsError::Invalid)?,
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_and_validate() {
        let dir = std::env::temp_dir().join(format!("tw-settings-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(Settings::load(&dir), Settings::default());
        let s = Settings {
            environment: Environment::Custom,
            custom_url: Some("http://127.0.0.1:9".into()),
            webhook_secret: Some("abcdefghijklmnopq".into()),
            ..Settings::default()
        };
        s.save(&dir).unwrap();
        assert_eq!(Settings::load(&dir), s);
        let bad = Settings {
            webhook_secret: Some("short".into()),
            ..Settings::default()
        };
        assert!(bad.save(&dir).is_err());
        let bad = Settings {
            max_link_amount: "-5".into(),
            ..Settings::default()
        };
        assert!(bad.save(&dir).is_err());
        // A file from before the ceiling existed gets the default one.
        std::fs::write(Settings::path(&dir), br#"{"listenPort": 9000}"#).unwrap();
        let old = Settings::load(&dir);
        assert_eq!(old.listen_port, 9000);
        assert_eq!(old.max_link_amount().unwrap().to_string(), "100000");
        let old = Settings::load(&dir);
        assert_eq!((old.listen_port, old.delivery_retention_days), (9000, 90));
        assert!(old.source_policy().allow_from.is_empty());
        let bad = Settings {
            allow_from: vec!["not an address".into()],
            ..Settings::default()
        };
        assert!(bad.validate().is_err());
        let bad = Settings {
            delivery_retention_days: 0,
            ..Settings::default()
        };
        assert!(bad.validate().is_err());
        let bad = Settings {
            database_url: Some("postgres://shop:tw-pw@db/shop".into()),
            ..Settings::default()
        };
        assert!(
            bad.save(&dir).is_err(),
            "a URL with a password is never saved"
        );
        std::fs::write(Settings::path(&dir), b"{not json").unwrap();
        assert_eq!(Settings::load(&dir), Settings::default());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The shared database's password goes to the keyring: settings.json holds the URL
    /// and nothing of the password, whether it was typed in its field or in the URL.
    #[test]
    fn a_shared_database_password_never_reaches_settings_json() {
        let dir = std::env::temp_dir().join(format!("tw-settings-db-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let secret = "tw-db-secret-7Qx";
        for (url, typed) in [
            (
                format!("postgres://shop:{secret}@db.example:5432/shop?sslmode=require"),
                None,
            ),
            (
                format!("postgres://shop@db.example:5432/shop?sslmode=require&password={secret}"),
                None,
            ),
            (
                "postgres://shop@db.example:5432/shop?sslmode=require".to_owned(),
                Some(secret.to_owned()),
            ),
        ] {
            let mut s = Settings {
                database_url: Some(format!(" {url} ")),
                ..Settings::default()
            };
            let keyring = s.take_database_password(typed).unwrap();
            assert_eq!(keyring.as_deref(), Some(secret), "{url}");
            s.save(&dir).unwrap();
            let on_disk = std::fs::read_to_string(Settings::path(&dir)).unwrap();
            assert!(!on_disk.contains(secret), "{on_disk}");
            assert!(!on_disk.contains("password"), "{on_disk}");
            assert!(
                on_disk.contains(
                    "\"databaseUrl\": \"postgres://shop@db.example:5432/shop?sslmode=require\""
                ),
                "{on_disk}"
            );
            assert_eq!(
                Settings::load(&dir).shared_database_url(),
                s.shared_database_url()
            );
        }
        // Typed beats the URL's; no URL keeps none.
        let mut s = Settings {
            database_url: Some("postgres://shop:old@db/shop".into()),
            ..Settings::default()
        };
        assert_eq!(
            s.take_database_password(Some("new".into()))
                .unwrap()
                .as_deref(),
            Some("new")
        );
        let mut s = Settings {
            database_url: Some("  ".into()),
            ..Settings::default()
        };
        assert_eq!(s.take_database_password(None).unwrap(), None);
        assert_eq!(s.database_url, None);
        let mut bad = Settings {
            database_url: Some("mysql://shop@db/shop".into()),
            ..Settings::default()
        };
        assert!(bad.take_database_password(None).is_err());
        assert!(bad.validate().is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
