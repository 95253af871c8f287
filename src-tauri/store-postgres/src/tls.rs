//! TLS to the database by rustls, with the ring provider the rest of the app already uses.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::{DatabaseConfig, PgError};

/// A connector that checks the server's certificate and name: against `sslrootcert` when
/// given (a shop's own CA), else the public roots compiled in (webpki-roots: nothing to
/// find on the machine, the same answer on every system).
pub(crate) fn connector(config: &DatabaseConfig) -> Result<MakeRustlsConnect, PgError> {
    let mut roots = RootCertStore::empty();
    match &config.sslrootcert {
        Some(path) => {
            let shown = path.display();
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| PgError::Config(format!("sslrootcert {shown}: {e}")))?;
            for cert in certs {
                let cert =
                    cert.map_err(|e| PgError::Config(format!("sslrootcert {shown}: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| PgError::Config(format!("sslrootcert {shown}: {e}")))?;
            }
            if roots.is_empty() {
                return Err(PgError::Config(format!(
                    "sslrootcert {shown} holds no PEM certificate"
                )));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    // The provider is named here rather than installed process-wide, so nothing depends on
    // which crate set a default first.
    let tls =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| PgError::failed(format!("TLS set-up: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(MakeRustlsConnect::new(tls))
}
