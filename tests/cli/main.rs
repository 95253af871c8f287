//! The real `tillwatch` binary, driven as a child process: `serve` against the gateway
//! simulator running in this process, real SQLite files in per-test temp dirs, real
//! HTTP on loopback, SIGKILL and restarts, real storage failures, the read commands and
//! payment links, and several serves sharing one real PostgreSQL server (shared.rs; needs
//! PostgreSQL installed, as scripts/setup.sh does).
//!
//! Run with `cargo test --test cli`. The storage tests need root (they mount a tmpfs
//! and an ext4 loop device); without it they say so and return early, except under
//! `CI=true`, where a storage test that cannot run fails.

mod commands;
mod crash;
mod deliveries;
mod harness;
mod links;
mod money;
mod moving;
mod owner;
#[path = "../common/postgres.rs"]
mod postgres;
mod secrets;
#[path = "../common/seed.rs"]
mod seed;
mod shared;
mod storage;
#[path = "../common/test_dir.rs"]
mod test_dir;
