//! Tillwatch's core: every payment notification confirmed with the gateway before it is
//! believed, acknowledged once it is safely stored, and shown to whichever face asks.
//!
//! Nothing here knows about a window: the CLI, the desktop shell and the tests are faces
//! over [`app::Tillwatch`].

pub mod app;
pub mod domain;
pub mod export;
pub mod gateway;
pub mod links;
pub mod listener;
pub mod pipeline;
pub mod store;
pub mod views;
