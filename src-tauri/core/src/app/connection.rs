//! The owner's "Test connection": does the gateway accept these credentials?

use std::time::Duration;

use super::AppError;
use crate::domain::JobRef;
use crate::gateway::{ApiKey, GatewayClient, GatewayConfig, GatewayEnvironment, GatewayError};

/// What the test found, in words for the owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayCheck {
    pub ok: bool,
    pub message: String,
}

/// One signed read of a job nobody has, with these credentials, at the gateway `running`
/// talks to. A separate client: a refused test must not stop the running pipeline's
/// calls. When the gateway accepts the request, `running`'s breaker closes.
pub async fn test_connection(
    running: &GatewayClient,
    configuration_id: String,
    api_key: ApiKey,
) -> Result<GatewayCheck, AppError> {
    let mut cfg = GatewayConfig::new(
        GatewayEnvironment::Custom(running.base_url().to_owned()),
        configuration_id,
        api_key,
    );
    cfg.timeout = Duration::from_secs(10);
    cfg.retry.max_attempts = 1;
    let probe = GatewayClient::new(cfg)?;
    let unknown =
        JobRef::parse("000000000000000000").map_err(|e| AppError::Invalid(e.to_string()))?;
    let answer = probe.retrieve_job(&unknown).await;
    if accepted(&answer) {
        running.breaker().reset();
    }
    Ok(check(answer.map(|_| ())))
}

/// Whether the gateway took the signed request (a job it does not know is an answer).
fn accepted<T>(answer: &Result<T, GatewayError>) -> bool {
    matches!(answer, Ok(_) | Err(GatewayError::NotFound))
}

/// The owner's words for the gateway's answer to the test's read.
fn check(answer: Result<(), GatewayError>) -> GatewayCheck {
    match answer {
        Ok(()) | Err(GatewayError::NotFound) => GatewayCheck {
            ok: true,
            message: "Connected: the gateway accepted our signed request.".into(),
        },
        Err(GatewayError::Unauthorized { .. } | GatewayError::Forbidden { .. }) => GatewayCheck {
            ok: false,
            message: "The gateway refused the configuration ID or API key. Check both in the Cashflows portal.".into(),
        },
        Err(e) => GatewayCheck {
            ok: false,
            message: format!("Could not talk to the gateway: {e}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_job_is_an_accepted_request_and_a_refusal_names_the_credentials() {
        assert!(accepted::<()>(&Err(GatewayError::NotFound)));
        let found = check(Err(GatewayError::NotFound));
        assert!(found.ok && found.message.starts_with("Connected"));
        let down = check(Err(GatewayError::Unavailable("no route".into())));
        assert!(!down.ok && down.message.starts_with("Could not talk to the gateway"));
        assert!(!accepted::<()>(&Err(GatewayError::Unavailable("x".into()))));
        let refused = check(Err(GatewayError::Forbidden { report: None }));
        assert!(!refused.ok && refused.message.contains("configuration ID or API key"));
    }
}
