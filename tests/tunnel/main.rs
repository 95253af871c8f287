//! The tunnel: a real bore relay on loopback carrying the simulator's notifications to
//! the listener, the relay dying loudly and silently, and the supervisor's schedule with
//! a fake provider.
//!
//! bore's control port is fixed (7835), so every test that runs a relay holds
//! `rig::RELAY_LOCK` for its whole length: they run one at a time, whatever the test
//! runner's thread count.

#[path = "../common/policy.rs"]
mod policy;
mod rig;
#[path = "../common/test_dir.rs"]
mod test_dir;

mod bore;
mod supervisor;
