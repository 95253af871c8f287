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
echo "== cargo clippy -D warnings (with and without the window)"
cargo clippy --all-targets --locked -- -D warnings
cargo clippy --lib --no-default-features --locked -- -D warnings
echo "== cargo test"
cargo test --locked
echo "== a plain cargo build with no ui/dist says what to run"
tests/install/build_without_ui.sh
echo "== install test: the .deb built, checked, installed, opened, purged"
SKIP_SETUP=1 tests/install/run.sh
