#!/usr/bin/env bash
# Builds the installable packages: the UI, then the release binary through Tauri's own
# bundler (tauri-cli, installed by scripts/setup.sh), which writes a .deb and an .rpm under
# target/release/bundle/ ($CARGO_TARGET_DIR/release/bundle/ when that is set). The version
# is Cargo.toml's. No AppImage: Tauri's AppImage step downloads linuxdeploy at build time.
# Prints where the packages are and how big; the .deb's path is the last line.
#   SKIP_SETUP=1   do not run scripts/setup.sh first (a caller that already did)
set -euo pipefail
cd "$(dirname "$0")/.."

[ -n "${SKIP_SETUP:-}" ] || scripts/setup.sh
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

echo "== package: ui build" >&2
npm --prefix ui run --silent build >&2

echo "== package: release build and bundles (cargo tauri build)" >&2
# --ci: no prompts, plain output. The arguments after -- go to `cargo build`.
cargo tauri build --ci --bundles deb,rpm -- --locked >&2

meta=$(cargo metadata --no-deps --locked --format-version 1)
target_dir=$(printf '%s' "$meta" | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
version=$(printf '%s' "$meta" | sed -n 's/.*"name":"tillwatch","version":"\([^"]*\)".*/\1/p')
arch=$(dpkg --print-architecture)
deb="$target_dir/release/bundle/deb/Tillwatch_${version}_${arch}.deb"
[ -f "$deb" ] || { echo "package: the bundler wrote no $deb" >&2; exit 1; }
for f in "$target_dir"/release/bundle/rpm/Tillwatch-"${version}"-*.rpm "$deb"; do
    [ -f "$f" ] && printf 'package: %s (%s KiB)\n' "$f" "$(( $(stat -c %s "$f") / 1024 ))" >&2
done
echo "$deb"
