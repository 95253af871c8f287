//! Tillwatch: watch Cashflows Hosted Payment Page payments arrive, each one confirmed with
//! the gateway before it is believed.
//!
//! This crate is the program's faces: the command line and, with the `desktop` feature,
//! the window. The work is done by the headless crates re-exported below.

pub use tillwatch_core::{app, domain, export, gateway, links, listener, pipeline, store, views};
pub use tillwatch_sim as sim;
pub use tillwatch_tunnel as tunnel;

/// The store this program runs the core on: its own SQLite file, or a shared PostgreSQL
/// database.
pub type Backend = tillwatch_stores::AnyStore;
/// The core, as this program runs it.
pub type App = app::Tillwatch<Backend>;

pub mod bindings;
pub mod boot;
pub mod cli;
pub mod config;
#[cfg(feature = "desktop")]
pub mod desktop;
pub mod ipc;
pub mod machines;
pub mod settings;
