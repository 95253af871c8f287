#!/usr/bin/env bash
# A plain `cargo build` of a clone whose UI was never built (no ui/dist) must stop with
# one line that says what to run, not a Tauri macro panic. Builds a copy of the checkout's
# files (tracked and new, none ignored) with the caller's CARGO_TARGET_DIR, so only the
# build script compiles. The copy's files are dated now (tar -m): with their old dates, a
# build script compiled from another checkout sharing the target directory looks fresh
# and is reused. Called by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."

copy=$(mktemp -d "${TMPDIR:-/tmp}/tillwatch-no-ui.XXXXXX")
trap 'rm -rf "$copy"' EXIT
git ls-files -z --cached --others --exclude-standard \
    | tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -xmf - -C "$copy"
[ ! -e "$copy/ui/dist" ] || { echo "build without ui: the copy has a ui/dist" >&2; exit 1; }

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
if out=$(cd "$copy" && cargo build --locked --color never 2>&1); then
    echo "build without ui FAILED: cargo build succeeded with no ui/dist" >&2
    exit 1
fi
said=$(printf '%s\n' "$out" | grep -c 'npm --prefix ui run build' || true)
if [ "$said" -ne 1 ] || printf '%s\n' "$out" | grep -q 'panicked'; then
    echo "build without ui FAILED: expected one line naming the command to run, got:" >&2
    printf '%s\n' "$out" | tail -n 30 >&2
    exit 1
fi
echo "== build without ui: $(printf '%s\n' "$out" | grep 'npm --prefix ui run build')"
