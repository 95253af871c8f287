//! "Test connection" for the shared database: each stage in turn (the server reached, TLS,
//! authenticated, the schema's version), so the owner learns where it stops and why. It
//! only reads: nothing is migrated, no pool is made. Its words never hold the password nor
//! the server's own text (that goes to the log, as everywhere in this crate).

use tokio::net::TcpStream;
use tokio_postgres::Client;

use crate::{migrations, DatabaseConfig, PgError, SslMode};

/// A stage of the test, in the order they are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Something answered at the host and port (TCP).
    Reached,
    /// Whether the connection is encrypted and the certificate checked.
    Tls,
    /// The server accepted the user name and password.
    Authenticated,
    /// The schema's version, next to the one this build writes.
    Schema,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Reached => "reached",
            Stage::Tls => "tls",
            Stage::Authenticated => "authenticated",
            Stage::Schema => "schema",
        }
    }
}

/// What one stage found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageResult {
    pub stage: Stage,
    pub passed: bool,
    pub detail: String,
}

/// The stages tried: they stop at the first that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionCheck {
    pub stages: Vec<StageResult>,
    /// The schema version found, once the server let us ask.
    pub schema_version: Option<i32>,
}

impl ConnectionCheck {
    /// Every stage passed.
    pub fn ok(&self) -> bool {
        self.stages.len() == 4 && self.stages.iter().all(|s| s.passed)
    }

    pub fn stage(&self, stage: Stage) -> Option<&StageResult> {
        self.stages.iter().find(|s| s.stage == stage)
    }

    fn pass(&mut self, stage: Stage, detail: impl Into<String>) {
        self.push(stage, true, detail);
    }

    fn fail(mut self, stage: Stage, detail: impl Into<String>) -> Self {
        self.push(stage, false, detail);
        self
    }

    fn push(&mut self, stage: Stage, passed: bool, detail: impl Into<String>) {
        self.stages.push(StageResult {
            stage,
            passed,
            detail: detail.into(),
        });
    }
}

/// Tries the database `config` names, stage by stage.
pub async fn check_connection(config: &DatabaseConfig) -> ConnectionCheck {
    let mut check = ConnectionCheck {
        stages: Vec::new(),
        schema_version: None,
    };
    let at = if config.host.contains(':') {
        format!("[{}]:{}", config.host, config.port)
    } else {
        format!("{}:{}", config.host, config.port)
    };
    let tcp = tokio::time::timeout(
        config.connect_timeout,
        TcpStream::connect((config.host.as_str(), config.port)),
    )
    .await;
    match tcp {
        Ok(Ok(_)) => check.pass(Stage::Reached, format!("{at} answered")),
        Ok(Err(e)) => {
            return check.fail(Stage::Reached, format!("nothing answered at {at} ({e})"));
        }
        Err(_) => {
            return check.fail(
                Stage::Reached,
                format!(
                    "{at} did not answer within {} s",
                    config.connect_timeout.as_secs()
                ),
            );
        }
    }

    let connected = tokio::time::timeout(
        config.connect_timeout + std::time::Duration::from_secs(5),
        connect(config),
    )
    .await
    .unwrap_or(Err(PgError::Unavailable));
    let client = match connected {
        Ok(client) => client,
        Err(e) => return refused(check, config, e),
    };

    // Asked of the server: under `prefer` only it knows whether TLS was agreed.
    let tls = client
        .query_opt(
            "SELECT ssl, coalesce(version, '') FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await;
    match tls {
        Ok(Some(row)) if row.get::<_, bool>(0) => {
            let version: String = row.get(1);
            check.pass(
                Stage::Tls,
                format!("on ({version}), {}", verified_by(config)),
            );
        }
        Ok(_) => check.pass(Stage::Tls, plain_text(config)),
        Err(e) => {
            let e = PgError::from(e);
            return check.fail(Stage::Tls, format!("could not be asked: {e}"));
        }
    }
    check.pass(Stage::Authenticated, format!("as {}", config.user));

    match migrations::schema_version(&client).await {
        Ok(found) => {
            check.schema_version = Some(found);
            let known = migrations::latest();
            if found > known {
                check.fail(
                    Stage::Schema,
                    format!(
                        "version {found}, written by a newer Tillwatch (this one knows {known}): update Tillwatch on this machine"
                    ),
                )
            } else {
                let detail = match found {
                    0 => format!(
                        "no tables yet: Tillwatch makes them (version {known}) when it starts"
                    ),
                    f if f == known => format!("version {found}, up to date"),
                    f => format!("version {f}: Tillwatch brings it to {known} when it starts"),
                };
                check.pass(Stage::Schema, detail);
                check
            }
        }
        Err(e) => check.fail(Stage::Schema, format!("could not be read: {e}")),
    }
}

/// One connection of our own (no pool), its driver task spawned.
async fn connect(config: &DatabaseConfig) -> Result<Client, PgError> {
    let pg = config.to_pg();
    if config.sslmode == SslMode::Disable {
        let (client, connection) = pg.connect(tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        Ok(client)
    } else {
        let (client, connection) = pg.connect(crate::tls::connector(config)?).await?;
        tokio::spawn(connection);
        Ok(client)
    }
}

/// The stages a failed connection reached, from what refused it.
fn refused(mut check: ConnectionCheck, config: &DatabaseConfig, e: PgError) -> ConnectionCheck {
    match e {
        PgError::TlsUnsupported | PgError::Tls(_) | PgError::Config(_) => {
            check.fail(Stage::Tls, e.to_string())
        }
        PgError::Authentication | PgError::PasswordMissing => {
            check.pass(Stage::Tls, tls_before_authentication(config));
            let words = match e {
                PgError::PasswordMissing => "the server asks for a password: enter it in Settings (kept in the OS keyring) or set TILLWATCH_DATABASE_PASSWORD".to_owned(),
                _ => "authentication failed: the server refused the user name or password".to_owned(),
            };
            check.fail(Stage::Authenticated, words)
        }
        // Checked by the server after the password.
        PgError::DatabaseMissing => {
            check.pass(Stage::Tls, tls_before_authentication(config));
            check.pass(Stage::Authenticated, format!("as {}", config.user));
            check.fail(
                Stage::Schema,
                format!("there is no database '{}' on the server", config.dbname),
            )
        }
        other => check.fail(
            Stage::Tls,
            format!("the server answered but the connection failed: {other}"),
        ),
    }
}

/// What TLS was, when the server refused us before it could be asked.
fn tls_before_authentication(config: &DatabaseConfig) -> String {
    match config.sslmode {
        SslMode::Disable => plain_text(config),
        SslMode::Require => format!("on, {}", verified_by(config)),
        _ => {
            "not known: the server refused us before it could be asked (sslmode=prefer)".to_owned()
        }
    }
}

fn verified_by(config: &DatabaseConfig) -> String {
    match &config.sslrootcert {
        Some(ca) => format!(
            "certificate verified against {} for {}",
            ca.display(),
            config.host
        ),
        None => format!(
            "certificate verified against the public roots for {}",
            config.host
        ),
    }
}

fn plain_text(config: &DatabaseConfig) -> String {
    format!(
        "off (sslmode={}): the password and the orders cross the network unencrypted",
        config.sslmode.as_str()
    )
}
