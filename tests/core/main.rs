//! In-process integration tests of the confirmed notification path: real HTTP on loopback
//! ports, real SQLite files, the gateway simulator standing in for Cashflows.

mod harness;
#[path = "../common/policy.rs"]
mod policy;
#[path = "../common/test_dir.rs"]
mod test_dir;

mod claims;
mod delivery;
mod freshness;
mod gateway_client;
mod history;
mod links;
mod listener;
mod pipeline;
mod shipping;
mod store;
