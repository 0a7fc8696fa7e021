#!/usr/bin/env bash
# Make sure a CRIU that passes `criu check` is on PATH.
#
# If the installed criu works, nothing is done. Otherwise CRIU 4.2.1 is built
# from Debian's source package (Debian 12's criu 3.17 fails `criu check` on
# recent kernels) and installed as /usr/local/sbin/criu. The source comes
# through a private apt configuration with one deb-src line for Debian
# unstable: the machine's own apt sources are not touched.
#
#   install-criu.sh           converge (prints "(changed)" when it installed)
#   install-criu.sh --check   report what it would do, change nothing
#
# Environment: CRIU_WORKDIR (default /var/cache/vcluster/criu), CRIU_VERSION
# (default 4.2.1).
set -euo pipefail

WORKDIR=${CRIU_WORKDIR:-/var/cache/vcluster/criu}
VERSION=${CRIU_VERSION:-4.2.1}
TARGET=/usr/local/sbin/criu
CHECK_ONLY=false
[ "${1:-}" = "--check" ] && CHECK_ONLY=true
BUILD_DEPS=(build-essential pkgconf libprotobuf-c-dev protobuf-c-compiler protobuf-compiler libprotobuf-dev
            libnl-3-dev libnet1-dev libcap-dev libbsd-dev libnftables-dev libgnutls28-dev uuid-dev
            python3-protobuf libaio-dev xz-utils)

say() { printf 'install-criu: %s\n' "$*"; }

works() {  # works BINARY: true when `BINARY check` says "Looks good"
    [ -x "$1" ] && "$1" check 2>&1 | grep -q 'Looks good'
}

version_of() { "$1" --version 2>/dev/null | awk '/^Version/ {print $2}'; }

for candidate in "$TARGET" "$(command -v criu || true)"; do  # the one we built first
    if [ -n "$candidate" ] && works "$candidate"; then
        say "ok $candidate $(version_of "$candidate") (unchanged)"
        if [ "$(command -v criu || true)" != "$candidate" ]; then
            say "note: 'criu' on PATH is $(command -v criu || echo nothing); put $(dirname "$candidate") first in PATH"
        fi
        exit 0
    fi
done

if $CHECK_ONLY; then
    say "would build CRIU $VERSION from Debian's source package and install it to $TARGET"
    exit 0
fi

say "no working criu on PATH ($(command -v criu || echo none) fails 'criu check'): building CRIU $VERSION"
mkdir -p "$WORKDIR"
cd "$WORKDIR"

missing=()
for p in "${BUILD_DEPS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing build dependencies: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

tarball="criu_${VERSION}.orig.tar.xz"
if [ ! -s "$tarball" ]; then
    # The Debian mirror this machine's apt already uses.
    mirror=$( { grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}';
                grep -hs '^deb ' /etc/apt/sources.list | awk '{for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; break}}'; } \
              | grep -v security | head -n1 || true)
    mirror=${mirror%/}
    [ -n "$mirror" ] || { say "cannot find the Debian mirror in /etc/apt/sources.list*" >&2; exit 1; }
    mkdir -p apt/lists/partial apt/cache/archives/partial apt/sources.list.d
    echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror sid main" > apt/sources.list
    opts=(-o "Dir::Etc::SourceList=$WORKDIR/apt/sources.list" -o "Dir::Etc::SourceParts=$WORKDIR/apt/sources.list.d"
          -o "Dir::State::Lists=$WORKDIR/apt/lists" -o "Dir::Cache=$WORKDIR/apt/cache")
    say "fetching the criu source package from $mirror (Debian unstable, private apt configuration)"
    apt-get "${opts[@]}" update -qq
    # The .debian.tar.xz may be missing from the mirror (apt then exits 100):
    # only the upstream tarball is needed.
    apt-get "${opts[@]}" source --download-only criu >/dev/null 2>&1 || true
    if [ ! -s "$tarball" ]; then
        other=$(ls criu_4.*.orig.tar.xz 2>/dev/null | sort -V | tail -n1 || true)
        [ -n "$other" ] || { say "could not download the criu source from $mirror" >&2; exit 1; }
        tarball=$other
        VERSION=${other#criu_}
        VERSION=${VERSION%.orig.tar.xz}
        say "unstable now has criu $VERSION, not ${CRIU_VERSION:-4.2.1}: building $VERSION"
    fi
fi

src="criu-${VERSION}"
if ! works "$src/criu/criu"; then
    rm -rf "$src"
    tar xf "$tarball"
    say "compiling criu (make -j$(nproc) criu)"
    make -C "$src" -j"$(nproc)" criu >"$WORKDIR/build.log" 2>&1 || { tail -20 "$WORKDIR/build.log" >&2; exit 1; }
fi
install -m 0755 "$src/criu/criu" "$TARGET"
works "$TARGET" || { say "$TARGET fails 'criu check'" >&2; "$TARGET" check >&2 || true; exit 1; }
say "installed $TARGET $(version_of "$TARGET") (changed)"
if [ "$(command -v criu || true)" != "$TARGET" ]; then
    say "note: 'criu' on PATH is $(command -v criu || echo nothing); put /usr/local/sbin first in PATH"
fi
