#!/usr/bin/env bash
# The headless crates (core, both stores, simulator, tunnel), tests included, must not pull in Tauri,
# GTK or WebKit: their tests build and run on a machine without the window's packages.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for crate in tillwatch-core tillwatch-store-sqlite tillwatch-store-postgres tillwatch-stores \
    tillwatch-sim tillwatch-tunnel; do
  found=$(cargo tree --locked -p "$crate" -e normal,dev,build --prefix none --format '{p}' \
    | grep -E '^(tauri|gtk|gdk|webkit2gtk|javascriptcore|wry|tao|ts-rs)[-a-z0-9]* ' | sort -u || true)
  if [ -n "$found" ]; then
    echo "$crate depends on the window's crates:" >&2
    echo "$found" >&2
    status=1
  else
    echo "$crate: no tauri, gtk, webkit or ts-rs"
  fi
done
exit $status
