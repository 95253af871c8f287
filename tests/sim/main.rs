//! The gateway simulator's own strictness, over real HTTP on loopback.

mod api;
mod demo;
mod faults;
mod money;
mod notifications;
mod refunds;
mod shoppers;
mod support;
