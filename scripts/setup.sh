#!/usr/bin/env bash
# Installs what Tillwatch needs on a fresh Debian machine, and nothing that is already
# there. Safe to run again. Used by scripts/run.sh and scripts/test.sh.
set -euo pipefail

need_apt=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# Building: a C compiler for bundled SQLite and ring.
for pkg in build-essential pkg-config; do
  have_pkg "$pkg" || need_apt+=("$pkg")
done

if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_apt[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo is missing; install Rust from your distribution or rustup first" >&2
  exit 1
fi
