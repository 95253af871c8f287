//! The Cashflows gateway API client: signing, retrieve job / payment, create and cancel
//! a job, capture / refund / cancel a payment (`money`), typed error reports, timeouts,
//! retries and a circuit breaker.
//! It knows nothing of SQL or the window.

mod breaker;
mod client;
mod error;
mod model;
mod money;
mod retry;
mod signing;

pub use breaker::{Breaker, BreakerState, ProbeSchedule};
pub use client::{ApiKey, Fetched, GatewayClient, GatewayConfig, GatewayEnvironment};
pub use error::{ErrorEntry, ErrorReport, GatewayError};
pub use model::{
    CreateJobRequest, CreatedJob, GatewayCapture, GatewayJob, GatewayOrder, GatewayPayment,
    GatewayRefund, PaymentStep,
};
pub use money::MoneyCallError;
pub use retry::RetryPolicy;
pub use signing::sign;
