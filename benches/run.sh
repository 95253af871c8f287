#!/usr/bin/env bash
# Every benchmark in one command: the listener against its floors, the confirmation
# backlog, a history of 1,000,000 payments, and the window against a bare Tauri window
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

# The core's benches build no window at all; the window's with the feature
# `cargo tauri build` adds, so the window bench and the .deb share one build of Tauri.
cargo bench -p tillwatch-core --bench listener
cargo bench -p tillwatch-core --bench backlog
cargo bench -p tillwatch-store-sqlite --bench orders
features=(--features tauri/custom-protocol)
# The window against a bare Tauri window. The app measured is the .deb's own binary
# (scripts/package.sh's release build, unpacked here): a bench target also builds the app
# with the dev-dependencies' features, which is not what ships.
deb=$(SKIP_SETUP=1 scripts/package.sh | tail -n 1)
unpacked=$(mktemp -d)
trap 'rm -rf "$unpacked"' EXIT
dpkg-deb -x "$deb" "$unpacked"
cargo build --release --example bare "${features[@]}"
BENCH_APP="$unpacked/usr/bin/tillwatch" cargo bench --bench desktop "${features[@]}"
