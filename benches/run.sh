#!/usr/bin/env bash
# Every benchmark in one command: the listener against its floors, the confirmation
# backlog, the orders table at 100,000 orders, and the window against a bare Tauri window
# (memory, idle CPU, first paint, confirmation-to-row latency, memory after 10,000
# payments; under Xvfb). Installs the load tool (oha, from
# crates.io) if it is missing, then runs both benches in release. Figures only: nothing
# here fails on a slow machine.
#   BENCH_SECONDS=8        length of each listener measurement
#   BACKLOG_COUNT=10000    notifications in the backlog
#   BACKLOG_CONCURRENCY=16 gateway requests in flight
#   BACKLOG_LATENCY_MS=20  simulated gateway latency per call
set -euo pipefail
cd "$(dirname "$0")/.."

export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
if ! command -v oha >/dev/null 2>&1; then
    echo "installing oha (load tool) from crates.io; this takes a few minutes once" >&2
    cargo install oha --locked
fi

# All with the feature `cargo tauri build` adds, so every bench shares the one release
# build of scripts/package.sh (the .deb's binary) instead of building Tauri twice.
features=(--features tauri/custom-protocol)
cargo bench --bench listener "${features[@]}"
cargo bench --bench backlog "${features[@]}"
cargo bench --bench orders "${features[@]}"
# The window against a bare Tauri window, built the same way.
cargo build --release --example bare "${features[@]}"
cargo bench --bench desktop "${features[@]}"
