#!/usr/bin/env bash
# Runs Tillwatch. With no credentials in the environment it runs on the built-in demo
# gateway, whose scripted shoppers pay, fail, retry and give up.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec cargo run --quiet -- serve "$@"
