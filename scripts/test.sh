#!/usr/bin/env bash
# The whole test suite: formatting, lints, the UI's type check and unit tests, every Rust
# test (the window's end-to-end tests under Xvfb among them), a build with no UI built, and
# the install test (the .deb built in release, installed, opened, removed; needs root or
# sudo). Installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

echo "== ui: type check, unit tests, build"
(cd ui && npm run --silent check && npm run --silent test && npm run --silent build)

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== no module import cycle inside any crate, nor among the UI's modules"
python3 scripts/module-cycles.py src-tauri/src src-tauri/*/src
python3 scripts/ui-cycles.py ui/src
echo "== the headless crates depend on no window toolkit"
scripts/headless-deps.sh
echo "== cargo clippy -D warnings (the headless crates alone, then the program with and without the window)"
cargo clippy --workspace --exclude tillwatch --all-targets --locked -- -D warnings
cargo clippy -p tillwatch --all-targets --locked -- -D warnings
cargo clippy -p tillwatch --lib --no-default-features --locked -- -D warnings
echo "== cargo test: the headless crates (core, both stores, simulator, tunnel), then the program and window"
cargo test --workspace --exclude tillwatch --locked
echo "== the contract suite again, on PostgreSQL (a throwaway server the tests start)"
TILLWATCH_TEST_STORE=postgres cargo test -p tillwatch-core --test core --locked
cargo test -p tillwatch --locked
echo "== a plain cargo build with no ui/dist says what to run"
tests/install/build_without_ui.sh
echo "== install test: the .deb built, checked, installed, opened, purged"
SKIP_SETUP=1 tests/install/run.sh
