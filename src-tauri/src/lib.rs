//! Tillwatch: watch Cashflows Hosted Payment Page payments arrive, each one confirmed with
//! the gateway before it is believed.

pub mod app;
pub mod bindings;
pub mod cli;
pub mod config;
#[cfg(feature = "desktop")]
pub mod desktop;
pub mod domain;
pub mod export;
pub mod gateway;
pub mod links;
pub mod listener;
pub mod pipeline;
pub mod settings;
pub mod sim;
pub mod store;
pub mod tunnel;
pub mod views;
