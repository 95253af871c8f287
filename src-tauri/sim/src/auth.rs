//! The gateway's request signature: `ConfigurationId` must match and `Hash` must be
//! the hex SHA-512 of (API key bytes ‖ exact body bytes), for either configured key.

use sha2::{Digest, Sha512};

use super::model::ErrorReport;

/// Hex SHA-512 of the key followed by the body (lower case, as integrations send it).
pub fn sign(api_key: &str, body: &[u8]) -> String {
    let mut h = Sha512::new();
    h.update(api_key.as_bytes());
    h.update(body);
    hex::encode(h.finalize())
}

/// Why a request was refused; the report is what the gateway answers with 401.
pub(crate) fn check(
    configuration_id: &str,
    api_keys: &[String],
    got_configuration_id: Option<&str>,
    got_hash: Option<&str>,
    body: &[u8],
) -> Result<(), ErrorReport> {
    if got_configuration_id != Some(configuration_id) {
        return Err(ErrorReport::single(
            "InvalidConfigurationId",
            "The ConfigurationId header is missing or unknown.",
        ));
    }
    let Some(got) = got_hash.map(str::trim).filter(|h| !h.is_empty()) else {
        return Err(invalid_hash());
    };
    // Cashflows' example upper-cases the hex, integrations send lower case.
    if api_keys
        .iter()
        .any(|key| sign(key, body).eq_ignore_ascii_case(got))
    {
        Ok(())
    } else {
        Err(invalid_hash())
    }
}

pub(crate) fn invalid_hash() -> ErrorReport {
    ErrorReport::single("InvalidHash", "The Hash header does not match the request.")
}
