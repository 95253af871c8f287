#!/usr/bin/env bash
# Every benchmark in one command: the listener against its floors, the confirmation
# backlog, a history of 1,000,000 payments, and the window (memory, first paint,
# confirmation-to-window latency, under Xvfb). Installs the load tool (oha, from
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

cargo bench --bench listener
cargo bench --bench backlog
cargo bench --bench orders
cargo bench --bench desktop
