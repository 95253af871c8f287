//! Where things are and which gateway to talk to, from flags and the environment.
//! The API key comes only from the environment (or, in the window, the OS keyring):
//! never a flag, never the database, never a log line.

use std::path::{Path, PathBuf};

use crate::gateway::{ApiKey, GatewayEnvironment};

pub const ENV_DATA_DIR: &str = "TILLWATCH_DATA_DIR";
/// A PostgreSQL database shared with other machines, in place of this machine's own file.
pub const ENV_DATABASE_URL: &str = "TILLWATCH_DATABASE_URL";
pub const ENV_LISTEN: &str = "TILLWATCH_LISTEN";
pub const ENV_GATEWAY: &str = "TILLWATCH_GATEWAY";
pub const ENV_CONFIGURATION_ID: &str = "TILLWATCH_CONFIGURATION_ID";
pub const ENV_API_KEY: &str = "TILLWATCH_API_KEY";
pub const ENV_WEBHOOK_SECRET: &str = "TILLWATCH_WEBHOOK_SECRET";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";

/// The default data folder: `$XDG_DATA_HOME/tillwatch` or `~/.local/share/tillwatch`.
pub fn default_data_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("tillwatch");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(home).join(".local/share/tillwatch");
    }
    PathBuf::from("tillwatch-data")
}

/// Which gateway the data belongs to. Each has its own database, so demo orders never
/// mix with real ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Demo,
    Gateway(GatewayEnvironment),
}

impl Mode {
    pub fn database_path(&self, data_dir: &Path) -> PathBuf {
        let name = match self {
            Mode::Demo => "demo",
            Mode::Gateway(GatewayEnvironment::Integration) => "integration",
            Mode::Gateway(GatewayEnvironment::Production) => "production",
            Mode::Gateway(GatewayEnvironment::Custom(_)) => "custom",
        };
        data_dir.join(format!("{name}.db"))
    }
}

#[derive(Debug, Clone)]
pub struct Credentials {
    pub configuration_id: String,
    pub api_key: ApiKey,
}

/// Credentials from the environment, if both are set.
pub fn credentials_from_env() -> Result<Option<Credentials>, String> {
    let id = std::env::var(ENV_CONFIGURATION_ID)
        .ok()
        .filter(|v| !v.trim().is_empty());
    let key = std::env::var(ENV_API_KEY).ok().filter(|v| !v.is_empty());
    match (id, key) {
        (Some(configuration_id), Some(key)) => Ok(Some(Credentials {
            configuration_id: configuration_id.trim().to_owned(),
            api_key: ApiKey::new(key),
        })),
        (None, None) => Ok(None),
        (Some(_), None) => Err(format!(
            "{ENV_CONFIGURATION_ID} is set but {ENV_API_KEY} is not"
        )),
        (None, Some(_)) => Err(format!(
            "{ENV_API_KEY} is set but {ENV_CONFIGURATION_ID} is not"
        )),
    }
}

/// Decides the mode: an explicit gateway needs credentials; none given and no
/// credentials means demo.
pub fn resolve_mode(gateway: Option<&str>, creds: Option<&Credentials>) -> Result<Mode, String> {
    match (gateway, creds) {
        (None, None) => Ok(Mode::Demo),
        (Some("demo"), _) => Ok(Mode::Demo),
        (None, Some(_)) => Ok(Mode::Gateway(GatewayEnvironment::Integration)),
        (Some(g), Some(_)) => GatewayEnvironment::parse(g).map(Mode::Gateway),
        (Some(g), None) => {
            GatewayEnvironment::parse(g)?;
            Err(format!(
                "the {g} gateway needs {ENV_CONFIGURATION_ID} and {ENV_API_KEY} in the environment"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_their_databases() {
        let creds = Credentials {
            configuration_id: "c".into(),
            api_key: ApiKey::new("k"),
        };
        assert_eq!(resolve_mode(None, None).unwrap(), Mode::Demo);
        assert_eq!(
            resolve_mode(None, Some(&creds)).unwrap(),
            Mode::Gateway(GatewayEnvironment::Integration)
        );
        assert!(resolve_mode(Some("production"), None)
            .unwrap_err()
            .contains(ENV_API_KEY));
        assert!(resolve_mode(Some("nonsense"), Some(&creds)).is_err());
        let dir = Path::new("/d");
        assert_eq!(Mode::Demo.database_path(dir), Path::new("/d/demo.db"));
        assert_eq!(
            Mode::Gateway(GatewayEnvironment::Production).database_path(dir),
            Path::new("/d/production.db")
        );
    }
}
