#!/usr/bin/env bash
# Installs what Tillwatch needs on a fresh Debian machine, and nothing that is already
# there. Safe to run again. Used by scripts/run.sh and scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

packages=(
  # building: a C compiler for bundled SQLite and ring; the window toolkit
  build-essential pkg-config libwebkit2gtk-4.1-dev libxdo-dev
  libayatana-appindicator3-dev librsvg2-dev
  # running and testing the window without a display; desktop alerts on a session bus
  xvfb xauth dbus at-spi2-core fonts-dejavu-core libgl1-mesa-dri webkit2gtk-driver dunst
  # the storage tests: a tmpfs and an ext4 loop device (mount, losetup, mkfs.ext4, e2fsck)
  mount e2fsprogs
  # the shared-store tests (tests/postgres): each starts its own throwaway server with
  # initdb and pg_ctl under a temporary folder; setup starts no database service. openssl
  # makes the TLS test server's throwaway certificates; faketime runs one serve under a
  # clock minutes ahead (two machines with different clocks on one database)
  postgresql openssl faketime
)
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo is missing; install Rust (rustup or your distribution) first" >&2
  exit 1
fi

# WebDriver for the window's end-to-end tests.
if ! command -v tauri-driver >/dev/null 2>&1; then
  echo "setup: installing tauri-driver"
  cargo install tauri-driver --locked --quiet
fi

# Tauri's bundler, for the installable packages (scripts/package.sh). Pinned: the .deb's
# layout and dependencies come from it. Building it takes ~9 minutes, once.
if ! command -v cargo-tauri >/dev/null 2>&1; then
  echo "setup: installing tauri-cli (Tauri's bundler; ~9 minutes, once)"
  cargo install tauri-cli --version 2.12.4 --locked --quiet
fi

# The window's front end.
if [ ! -d ui/node_modules ] || [ ui/package-lock.json -nt ui/node_modules/.package-lock.json ]; then
  echo "setup: installing the UI's npm packages"
  (cd ui && npm ci --no-audit --no-fund --loglevel=error)
fi
