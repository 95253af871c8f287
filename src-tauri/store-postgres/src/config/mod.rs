//! Where the shared database is and how to reach it, from a `postgres://` URL.
//!
//! The URL is typed on command lines and shown in logs and process lists, so the password
//! is meant to come from the environment (`TILLWATCH_DATABASE_PASSWORD`, or `PGPASSWORD` as
//! libpq tools use). One written in the URL is accepted, but nothing here ever prints it:
//! `Debug` and `Display` are written by hand and leave it out.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::PgError;

mod url;

pub use url::take_password;

/// The environment variable the password is read from first.
pub const PASSWORD_ENV: &str = "TILLWATCH_DATABASE_PASSWORD";
/// The fallback libpq's own tools (psql, pg_dump) read, so one setting serves both.
pub const PGPASSWORD_ENV: &str = "PGPASSWORD";

const DEFAULT_PORT: u16 = 5432;
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the server lets one statement run before cancelling it: under the store's own
/// bound on a call (`store::WORK_LIMIT`), so a slow query normally ends on the server's
/// side and its connection stays usable.
pub(crate) const STATEMENT_TIMEOUT: Duration = Duration::from_secs(8);
/// How long the server keeps a transaction whose client went quiet: a process that
/// vanished mid-transaction releases its row locks instead of holding them for hours.
const IDLE_IN_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(20);
/// Unacknowledged bytes this long mean the path is gone: the kernel closes the socket
/// (Linux TCP_USER_TIMEOUT) instead of retransmitting for about 15 minutes.
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(15);
/// An idle connection is probed after this long, every `KEEPALIVE_INTERVAL`, and given up
/// after `KEEPALIVE_RETRIES` unanswered probes: a dead path is noticed in about 25 s.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(10);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
const KEEPALIVE_RETRIES: u32 = 3;

/// Whether the connection is encrypted. Without `sslmode` in the URL: `Require` for any
/// host not on this machine, `Prefer` for loopback (127.0.0.0/8, ::1, localhost) and a
/// Unix socket, where no one sits on the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plain text (a database on the same machine or a private network), only when asked
    /// for by name.
    Disable,
    /// TLS when the server offers it, plain text when it does not (libpq's default). When
    /// TLS is used the certificate is verified as for `Require`, unlike libpq's `prefer`.
    /// For a loopback host only: across a network, anyone on the path could refuse TLS
    /// and read the password's exchange and every row.
    Prefer,
    /// TLS or no connection, the server's certificate checked against the trusted roots
    /// and its name against the host (libpq's `verify-full`, which is accepted as a synonym).
    Require,
}

impl SslMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
        }
    }
}

impl FromStr for SslMode {
    type Err = PgError;

    fn from_str(s: &str) -> Result<Self, PgError> {
        match s {
            "disable" => Ok(Self::Disable),
            "prefer" => Ok(Self::Prefer),
            "require" | "verify-full" => Ok(Self::Require),
            // libpq's `allow` and `verify-ca` promise less than we would do; refusing them
            // keeps a setting from meaning something else here than in psql.
            other => Err(PgError::Config(format!(
                "sslmode '{other}' is not supported: use disable, prefer or require"
            ))),
        }
    }
}

/// SCRAM channel binding: ties the password's exchange to this TLS session, so a
/// machine in the middle that holds a certificate we trust still cannot relay it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelBinding {
    Disable,
    /// Used whenever the server offers it (SCRAM over TLS); the default.
    Prefer,
    /// No connection without it (`channel_binding=require`, as in libpq).
    Require,
}

impl FromStr for ChannelBinding {
    type Err = PgError;

    fn from_str(s: &str) -> Result<Self, PgError> {
        match s {
            "disable" => Ok(Self::Disable),
            "prefer" => Ok(Self::Prefer),
            "require" => Ok(Self::Require),
            other => Err(PgError::Config(format!(
                "channel_binding '{other}' is not supported: use disable, prefer or require"
            ))),
        }
    }
}

/// Whether `host` is this machine: loopback addresses, `localhost`, or a Unix socket's
/// folder. Only there is an unencrypted connection's path out of reach of others.
pub fn is_local_host(host: &str) -> bool {
    if host.starts_with('/') || host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// A database password. Never printed: its `Debug` is redacted and it has no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(password: impl Into<String>) -> Self {
        Self(password.into())
    }

    /// The password itself: only to hand to the driver or to a secret store.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// How to reach the shared database.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseConfig {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub dbname: String,
    pub sslmode: SslMode,
    pub channel_binding: ChannelBinding,
    /// A PEM file of the certificate authorities to trust instead of the public (webpki)
    /// roots: a shop's own server usually has a private or self-signed certificate.
    pub sslrootcert: Option<PathBuf>,
    pub application_name: String,
    pub connect_timeout: Duration,
    password: Option<Password>,
}

impl DatabaseConfig {
    /// Parses the URL and takes the password from the environment when the URL has none.
    pub fn from_url_and_env(url: &str) -> Result<Self, PgError> {
        Self::from_url_with_env(url, |name| std::env::var(name).ok())
    }

    /// As `from_url_and_env`, with the environment given as a lookup (tests pass their own
    /// instead of changing the process's, which other threads read).
    ///
    /// The password is, first found: the URL's (what was written for this database beats a
    /// general setting, as in libpq), `TILLWATCH_DATABASE_PASSWORD`, `PGPASSWORD`. An empty
    /// variable counts as unset.
    pub fn from_url_with_env(
        url: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, PgError> {
        let mut config = Self::parse(url)?;
        if config.password.is_none() {
            config.password = [PASSWORD_ENV, PGPASSWORD_ENV]
                .into_iter()
                .filter_map(&env)
                .find(|p| !p.is_empty())
                .map(Password);
        }
        Ok(config)
    }

    /// Replaces the password (a caller with its own secret store).
    pub fn with_password(mut self, password: Password) -> Self {
        self.password = Some(password);
        self
    }

    pub fn has_password(&self) -> bool {
        self.password.is_some()
    }

    /// The driver's configuration. Its own `Debug` redacts the password too.
    pub(crate) fn to_pg(&self) -> tokio_postgres::Config {
        let mut pg = tokio_postgres::Config::new();
        pg.host(&self.host)
            .port(self.port)
            .user(&self.user)
            .dbname(&self.dbname)
            .application_name(&self.application_name)
            .connect_timeout(self.connect_timeout)
            // A server that vanished from the network (Wi-Fi change, NAT timeout: nothing
            // closed) is noticed in seconds instead of the kernel's two hours (idle) or
            // fifteen minutes (data unacknowledged). The store also bounds every call.
            .keepalives(true)
            .keepalives_idle(KEEPALIVE_IDLE)
            .keepalives_interval(KEEPALIVE_INTERVAL)
            .keepalives_retries(KEEPALIVE_RETRIES)
            .tcp_user_timeout(TCP_USER_TIMEOUT)
            // Durable commits whatever the server's default: a delivery is acknowledged to
            // the gateway (200) right after its COMMIT returns. The server ends a statement
            // or an abandoned transaction itself rather than holding locks for a client
            // that is gone.
            .options(format!(
                "-c synchronous_commit=on -c statement_timeout={} \
                 -c idle_in_transaction_session_timeout={}",
                STATEMENT_TIMEOUT.as_millis(),
                IDLE_IN_TRANSACTION_TIMEOUT.as_millis()
            ))
            .channel_binding(match self.channel_binding {
                ChannelBinding::Disable => tokio_postgres::config::ChannelBinding::Disable,
                ChannelBinding::Prefer => tokio_postgres::config::ChannelBinding::Prefer,
                ChannelBinding::Require => tokio_postgres::config::ChannelBinding::Require,
            })
            .ssl_mode(match self.sslmode {
                SslMode::Disable => tokio_postgres::config::SslMode::Disable,
                SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
                SslMode::Require => tokio_postgres::config::SslMode::Require,
            });
        if let Some(password) = &self.password {
            pg.password(password.expose());
        }
        pg
    }
}

/// The URL without the password, for logs and messages.
impl fmt::Display for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        write!(
            f,
            "postgres://{}@{host}:{}/{}?sslmode={}",
            self.user,
            self.port,
            self.dbname,
            self.sslmode.as_str()
        )
    }
}

/// By hand, so the password can never be printed by a `{:?}` in a log line or a panic.
impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("dbname", &self.dbname)
            .field("sslmode", &self.sslmode)
            .field("channel_binding", &self.channel_binding)
            .field("sslrootcert", &self.sslrootcert)
            .field("application_name", &self.application_name)
            .field("connect_timeout", &self.connect_timeout)
            .field(
                "password",
                &if self.password.is_some() {
                    "<redacted>"
                } else {
                    "<none>"
                },
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn every_connection_is_bounded_against_a_vanished_server() {
        let pg = DatabaseConfig::parse("postgres://u@db.example/d")
            .unwrap()
            .to_pg();
        assert_eq!(pg.get_tcp_user_timeout(), Some(&TCP_USER_TIMEOUT));
        assert!(pg.get_keepalives());
        assert_eq!(pg.get_keepalives_idle(), KEEPALIVE_IDLE);
        assert_eq!(pg.get_keepalives_interval(), Some(KEEPALIVE_INTERVAL));
        assert_eq!(pg.get_keepalives_retries(), Some(KEEPALIVE_RETRIES));
        let options = pg.get_options().unwrap();
        assert!(options.contains("statement_timeout=8000"), "{options}");
        assert!(
            options.contains("idle_in_transaction_session_timeout=20000"),
            "{options}"
        );
    }

    #[test]
    fn a_url_password_never_shows_in_debug_display_or_errors() {
        let secret = "s3cr%3At-pw";
        let c = DatabaseConfig::parse(&format!("postgres://shop:{secret}@h/d")).unwrap();
        assert!(c.has_password());
        assert_eq!(c.password.as_ref().unwrap().expose(), "s3cr:t-pw");
        for shown in [
            format!("{c:?}"),
            format!("{c:#?}"),
            c.to_string(),
            format!("{:?}", c.to_pg()),
        ] {
            assert!(!shown.contains("s3cr"), "{shown}");
        }
        assert!(format!("{c:?}").contains("password: \"<redacted>\""));
        assert_eq!(c.to_string(), "postgres://shop@h:5432/d?sslmode=require");

        // A broken escape in the password is reported without quoting it.
        let e = DatabaseConfig::parse("postgres://shop:s3cr%zz@h/d").unwrap_err();
        assert!(!e.to_string().contains("s3cr"), "{e}");
        let e = DatabaseConfig::parse("postgres://shop:s3cr@h:bad/d").unwrap_err();
        assert!(!e.to_string().contains("s3cr"), "{e}");

        // The ?password= form is kept out of sight the same way.
        let c = DatabaseConfig::parse("postgres://shop@h/d?password=s3cret").unwrap();
        assert!(c.has_password());
        assert!(!format!("{c:?}{c}").contains("s3cr"));
        assert_eq!(
            format!("{:?}", Password::new("s3cret")),
            "Password(<redacted>)"
        );
    }

    #[test]
    fn the_password_comes_from_the_environment() {
        let env = |name: &str| match name {
            PASSWORD_ENV => Some("from-tillwatch".to_owned()),
            PGPASSWORD_ENV => Some("from-pg".to_owned()),
            _ => None,
        };
        let c = DatabaseConfig::from_url_with_env("postgres://u@h/d", env).unwrap();
        assert_eq!(c.password.as_ref().unwrap().expose(), "from-tillwatch");

        let pg_only = |name: &str| (name == PGPASSWORD_ENV).then(|| "from-pg".to_owned());
        let c = DatabaseConfig::from_url_with_env("postgres://u@h/d", pg_only).unwrap();
        assert_eq!(c.password.as_ref().unwrap().expose(), "from-pg");

        // An empty variable is unset, not an empty password.
        let empty = |name: &str| match name {
            PASSWORD_ENV => Some(String::new()),
            PGPASSWORD_ENV => Some("from-pg".to_owned()),
            _ => None,
        };
        let c = DatabaseConfig::from_url_with_env("postgres://u@h/d", empty).unwrap();
        assert_eq!(c.password.as_ref().unwrap().expose(), "from-pg");

        // The URL's own password wins.
        let c = DatabaseConfig::from_url_with_env("postgres://u:in-url@h/d", env).unwrap();
        assert_eq!(c.password.as_ref().unwrap().expose(), "in-url");

        let c = DatabaseConfig::from_url_with_env("postgres://u@h/d", no_env).unwrap();
        assert!(!c.has_password());
        assert!(format!("{c:?}").contains("password: \"<none>\""));
    }
}
