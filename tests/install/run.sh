#!/usr/bin/env bash
# The install test, as a shop owner meets Tillwatch: build the .deb (scripts/package.sh,
# the one release build), check its contents and dependencies with dpkg-deb, install it
# with dpkg (apt for missing dependencies), open the installed /usr/bin/tillwatch under
# Xvfb with a fresh HOME and see the demo confirm a payment (tests/install/main.rs), then
# remove and purge it and check that nothing of it is left but the owner's data.
#
# Needs root (or sudo). It replaces an installed `tillwatch` package, as a left-over from
# an interrupted run would be: the owner's data is never touched. Called by scripts/test.sh.
#   TILLWATCH_DEB=path   test this .deb instead of building one
#   SKIP_SETUP=1         scripts/setup.sh has already run
set -euo pipefail
cd "$(dirname "$0")/../.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
step() { echo "== install: $*"; }
fail() { echo "install test FAILED: $*" >&2; exit 1; }
# Whatever dpkg still knows of the package (installed, half-installed, config files left).
known() { dpkg-query -W -f='${db:Status-Abbrev}' tillwatch 2>/dev/null | grep -qv '^un'; }
purge() { $SUDO dpkg --purge --force-remove-reinstreq tillwatch >/dev/null; }

if known; then
    step "purging a tillwatch package left installed (an earlier run, or a real install)"
    purge
fi
known && fail "dpkg still knows tillwatch after purging it"

home=$(mktemp -d "${TMPDIR:-/tmp}/tillwatch-install-home.XXXXXX")
before=$(mktemp) after=$(mktemp) listing=$(mktemp)
cleanup() {
    if known; then purge || true; fi
    rm -rf "$home" "$before" "$after" "$listing"
}
trap cleanup EXIT

# What the system holds outside the owner's home, to compare after the purge. Caches
# that dpkg triggers regenerate (icons, .desktop MIME types) are the system's, not ours.
snapshot() {
    find /usr /etc /opt /var/lib -xdev \( -path /var/lib/dpkg -o -path /var/lib/apt \) -prune -o -print 2>/dev/null \
        | grep -v -e '/icon-theme\.cache$' -e '/mimeinfo\.cache$' | sort
}
snapshot >"$before"

if [ -n "${TILLWATCH_DEB:-}" ]; then
    deb=$TILLWATCH_DEB
else
    step "building the package"
    deb=$(SKIP_SETUP="${SKIP_SETUP:-}" scripts/package.sh | tail -n 1)
fi
[ -f "$deb" ] || fail "no package at $deb"

step "checking $deb with dpkg-deb"
field() { dpkg-deb -f "$deb" "$1"; }
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
[ "$(field Package)" = tillwatch ] || fail "package name is $(field Package), not tillwatch"
[ "$(field Version)" = "$version" ] || fail "package version $(field Version) is not Cargo.toml's $version"
depends=$(field Depends)
echo "   Depends: $depends"
for dep in libwebkit2gtk-4.1-0 libgtk-3-0 libayatana-appindicator3-1; do
    printf '%s\n' "$depends" | tr ',' '\n' | sed 's/^ *//; s/ .*//' | grep -qx "$dep" \
        || fail "Depends lacks $dep"
done
printf '%s\n' "$depends" | grep -q -- '-dev\b' && fail "Depends names a -dev package: $depends"
size=$(stat -c %s "$deb")
echo "   size: $((size / 1024)) KiB"
[ "$size" -lt $((15 * 1024 * 1024)) ] || fail "the .deb is $((size / 1024)) KiB, over 15 MiB"

# Entries are `./usr/...` or `usr/...` depending on the tool that made the archive.
dpkg-deb -c "$deb" | awk '{print substr($1, 1, 1), $NF}' | sed 's| \./| /|; s| \([^/]\)| /\1|' >"$listing"
files=$(awk '$1 == "-" {print $2}' "$listing")
for path in /usr/bin/tillwatch /usr/share/applications/Tillwatch.desktop \
    /usr/share/icons/hicolor/32x32/apps/tillwatch.png /usr/share/icons/hicolor/128x128/apps/tillwatch.png; do
    printf '%s\n' "$files" | grep -qx "$path" || fail "the package does not install $path"
done
outside=$(awk '{print $2}' "$listing" | grep -v -e '^/$' -e '^/usr/' -e '^/usr$' || true)
[ -z "$outside" ] || fail "the package installs outside /usr: $outside"
entry=$(dpkg-deb --fsys-tarfile "$deb" | tar -xO --wildcards '*usr/share/applications/Tillwatch.desktop')
for line in 'Exec=tillwatch' 'Icon=tillwatch' 'Name=Tillwatch' 'Type=Application'; do
    printf '%s\n' "$entry" | grep -qx "$line" || fail "the .desktop entry lacks $line"
done
printf '%s\n' "$entry" | grep -q '^Categories=.*Finance;' || fail "the .desktop entry's category is not Finance"

step "installing it with dpkg"
if ! $SUDO dpkg -i "$deb"; then
    echo "   dpkg -i left dependencies missing; apt-get -f install fetches them"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get -f install -y -qq --no-install-recommends
fi
[ "$(dpkg-query -W -f='${Status}' tillwatch)" = "install ok installed" ] || fail "tillwatch is not installed"
[ -x /usr/bin/tillwatch ] || fail "/usr/bin/tillwatch is not executable"
missing=$(ldd /usr/bin/tillwatch | grep 'not found' || true)
[ -z "$missing" ] || fail "/usr/bin/tillwatch is missing libraries: $missing"

step "opening the installed app under Xvfb with a fresh HOME ($home)"
TILLWATCH_INSTALLED_APP=/usr/bin/tillwatch TILLWATCH_INSTALL_HOME="$home" \
    cargo test --locked --test install -- --ignored --nocapture

step "removing it (dpkg -r), then purging it (dpkg --purge)"
$SUDO dpkg -r tillwatch >/dev/null
for path in $files; do
    if [ -e "$path" ]; then fail "$path is still there after dpkg -r"; fi
done
# Without conffiles `dpkg -r` already forgot it; purge whatever is left.
if known; then $SUDO dpkg --purge tillwatch >/dev/null; fi
known && fail "dpkg still knows tillwatch after --purge"
ls /var/lib/dpkg/info/tillwatch.* >/dev/null 2>&1 && fail "dpkg's records of tillwatch remain"
snapshot >"$after"
left=$(comm -13 "$before" "$after")
[ -z "$left" ] || fail "left on the system after the purge: $left"

step "the owner's data is still there"
[ -f "$home/.local/share/tillwatch/demo.db" ] || fail "the owner's data ($home/.local/share/tillwatch/demo.db) is gone"
echo "== install: passed"
