#!/usr/bin/env bash
# Opens Tillwatch's window. With no credentials set it runs on the built-in demo gateway,
# whose shoppers pay, fail, retry with another card and give up. Without a display it
# runs under a virtual one (Xvfb).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
(cd ui && npm run --silent build)
cargo build --quiet
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "run: no display; the window opens under Xvfb"
  exec xvfb-run -a -s "-screen 0 1280x800x24" dbus-run-session -- cargo run --quiet -- "$@"
fi
exec cargo run --quiet -- "$@"
