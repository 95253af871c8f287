//! In-process integration tests of the confirmed notification path: real HTTP on loopback
//! ports, a real store, the gateway simulator standing in for Cashflows.
//!
//! The contract suite: every test that goes through the `Store` trait runs on the store
//! `backend` picks (SQLite, or PostgreSQL with `TILLWATCH_TEST_STORE=postgres`). Tests of
//! SQLite's own file (its migrations, its writer, a full disk) open `SqliteStore` directly
//! and run on SQLite either way.

mod backend;
mod harness;
#[path = "../common/policy.rs"]
mod policy;
#[path = "../common/postgres.rs"]
mod postgres;
#[path = "../common/test_dir.rs"]
mod test_dir;

mod breaker;
mod claims;
mod delivery;
mod freshness;
mod gateway_client;
mod history;
mod links;
mod listener;
mod money;
mod money_seen;
mod pipeline;
mod refund_watch;
mod shipping;
mod store;
