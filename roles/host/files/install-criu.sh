#!/usr/bin/env bash
# Make sure a CRIU that passes `criu check` is on PATH.
#
# 1. If /usr/local/sbin/criu, or else the `criu` found on PATH, says "Looks good"
#    to `criu check`, nothing is done:  install-criu: ok <path> <version> (unchanged)
# 2. Otherwise CRIU 4.2.1 is built from Debian's source package (Debian 12's
#    criu 3.17 fails `criu check` on recent kernels; 4.1.1 cannot dump TCP/UDP
#    sockets) and installed as /usr/local/sbin/criu:
#                                   install-criu: installed /usr/local/sbin/criu <version> (changed)
#    The source comes through a private apt configuration in the work dir whose
#    only line is a deb-src line for Debian unstable on the mirror the machine's
#    apt already uses: the machine's apt sources are not touched. If unstable no
#    longer has 4.2.1, any 4.x >= 4.2 is accepted (4.2.1 is preferred).
#    Each step is skipped when its result is already there: the tarball in the
#    work dir, the build dependencies, a working binary in the build tree.
#
#   install-criu.sh           converge
#   install-criu.sh --check   say whether anything would change ("would ..."),
#                             change nothing, exit 0
#   install-criu.sh --print-mirror
#                             print the Debian mirror it would use and exit
#                             (the vnode role's image build uses it too)
#
# The last line of the output is always the status line. Everything is printed
# with an "install-criu:" prefix; errors go to stderr with a non-zero exit.
#
# Environment:
#   CRIU_WORKDIR  work dir for the apt configuration, sources and build
#                 (default /var/cache/vcluster/criu)
#   CRIU_MIRROR   Debian mirror to take the source from (default: the first
#                 Debian "main" mirror in /etc/apt/sources.list{,.d/*})
set -euo pipefail
umask 022

readonly PREFERRED_VERSION=4.2.1
readonly MIN_VERSION=4.2          # accepted: 4.x >= 4.2
readonly TARGET=/usr/local/sbin/criu
readonly KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
readonly BUILD_DEPS=(build-essential pkgconf libprotobuf-c-dev protobuf-c-compiler protobuf-compiler
                     libprotobuf-dev libnl-3-dev libnet1-dev libcap-dev libbsd-dev libnftables-dev
                     libgnutls28-dev uuid-dev python3-protobuf libaio-dev xz-utils)

say() { printf 'install-criu: %s\n' "$*"; }
warn() { printf 'install-criu: %s\n' "$*" >&2; }
die() { printf 'install-criu: error: %s\n' "$*" >&2; exit 1; }
usage() { printf 'usage: %s [--check | --print-mirror]\n' "${0##*/}"; }

CHECK_ONLY=false
PRINT_MIRROR=false
case "$#:${1:-}" in
    0:) ;;
    1:--check) CHECK_ONLY=true ;;
    1:--print-mirror) PRINT_MIRROR=true ;;
    1:-h | 1:--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
esac

[[ $EUID -eq 0 ]] || die "must run as root (criu check and the install need it)"
WORKDIR=$(realpath -m "${CRIU_WORKDIR:-/var/cache/vcluster/criu}")
readonly WORKDIR

# --- helpers ----------------------------------------------------------------

criu_works() {  # criu_works BINARY: true when `BINARY check` says "Looks good"
    local out
    [[ -f $1 && -x $1 ]] || return 1
    out=$(timeout 120 "$1" check 2>&1) || true
    [[ $out == *"Looks good"* ]]
}

criu_version() {  # criu_version BINARY: prints e.g. 4.2.1
    local out
    out=$(timeout 30 "$1" --version 2>/dev/null) || true
    out=${out#*Version: }
    printf '%s\n' "${out%%$'\n'*}"
}

# Prints the URIs of "main" sources from a one-line-style file (sources.list).
one_line_uris() {
    awk '{ sub(/#.*/, "") }
         $1 == "deb" || $1 == "deb-src" {
             line = $0; gsub(/\[[^]]*\]/, "", line); $0 = line
             for (i = 4; i <= NF; i++) if ($i == "main") { print $2; break }
         }' "$1"
}

# Prints the URIs of enabled "main" sources from a deb822 file (*.sources).
deb822_uris() {
    awk 'function flush(  n, u, i) {
             if (enabled && types ~ /(^|[ \t])deb(-src)?([ \t]|$)/ && comps ~ /(^|[ \t])main([ \t]|$)/) {
                 n = split(uris, u, /[ \t]+/)
                 for (i = 1; i <= n; i++) if (u[i] != "") print u[i]
             }
             types = uris = comps = last = ""; enabled = 1
         }
         BEGIN { enabled = 1 }
         /^[ \t]*#/ { next }
         /^[ \t]*$/ { flush(); next }
         /^[ \t]/ {  # continuation line
             v = $0; sub(/^[ \t]+/, "", v)
             if (last == "types") types = types " " v
             else if (last == "uris") uris = uris " " v
             else if (last == "components") comps = comps " " v
             next
         }
         {
             k = $0; sub(/:.*/, "", k); k = tolower(k)
             v = $0; sub(/^[^:]*:[ \t]*/, "", v); last = k
             if (k == "types") types = v
             else if (k == "uris") uris = v
             else if (k == "components") comps = v
             else if (k == "enabled") enabled = (tolower(v) !~ /^(no|false|0)/)
         }
         END { flush() }' "$1"
}

# The first Debian main mirror the machine's apt uses, in apt's own order
# (sources.list, then sources.list.d/ by name), e.g. http://deb.debian.org/debian
debian_mirror() {
    local f
    if [[ -n ${CRIU_MIRROR:-} ]]; then printf '%s\n' "${CRIU_MIRROR%/}"; return; fi
    {
        if [[ -r /etc/apt/sources.list ]]; then one_line_uris /etc/apt/sources.list; fi
        for f in /etc/apt/sources.list.d/*; do
            [[ -r $f ]] || continue
            case $f in
                *.list) one_line_uris "$f" ;;
                *.sources) deb822_uris "$f" ;;
            esac
        done
    } | awk '!found && /^https?:\/\/[^ ]*\/debian\/?$/ { sub(/\/$/, ""); print; found = 1 }'
}

if $PRINT_MIRROR; then
    mirror=$(debian_mirror)
    [[ -n $mirror ]] || die "no Debian main mirror (URI ending in /debian) in /etc/apt/sources.list or /etc/apt/sources.list.d/: set CRIU_MIRROR"
    printf '%s\n' "$mirror"
    exit 0
fi

tarball_version() { local v=${1#criu_}; printf '%s\n' "${v%.orig.tar.xz}"; }

# Prints the best usable tarball in the work dir: exactly the preferred
# version, else the highest 4.x >= MIN_VERSION; nothing when there is none.
pick_tarball() {
    local f v best="" bestv=""
    [[ -d $WORKDIR ]] || return 0
    if [[ -s $WORKDIR/criu_$PREFERRED_VERSION.orig.tar.xz ]]; then
        printf '%s\n' "criu_$PREFERRED_VERSION.orig.tar.xz"; return 0
    fi
    for f in "$WORKDIR"/criu_4.*.orig.tar.xz; do
        [[ -s $f ]] || continue
        f=${f##*/}; v=$(tarball_version "$f")
        dpkg --compare-versions "$v" ge "$MIN_VERSION" || continue
        if [[ -z $bestv ]] || dpkg --compare-versions "$v" gt "$bestv"; then best=$f; bestv=$v; fi
    done
    if [[ -n $best ]]; then printf '%s\n' "$best"; fi
}

# verify_tarball NAME: checks it against the SHA-256 in the .dsc that apt
# downloaded with it (apt checked the .dsc against the signed index); without
# a .dsc, checks that the archive is intact.
verify_tarball() {
    local sum="" dsc
    for dsc in "$WORKDIR"/criu_*.dsc; do
        [[ -f $dsc ]] || continue
        sum=$(awk -v f="$1" '/^Checksums-Sha256:/ { s = 1; next } /^[^ ]/ { s = 0 } s && $3 == f { print $1 }' "$dsc")
        [[ -z $sum ]] || break
    done
    if [[ -n $sum ]]; then
        (cd "$WORKDIR" && printf '%s  %s\n' "$sum" "$1" | sha256sum --check --status)
    else
        xz --test "$WORKDIR/$1" 2>/dev/null
    fi
}

missing_deps() {  # prints the build dependencies that are not installed
    local p st
    for p in "${BUILD_DEPS[@]}"; do
        st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) || true
        [[ $st == installed ]] || printf '%s\n' "$p"
    done
}

same_file() { [[ -n $1 && -n $2 && $(readlink -f "$1") == "$(readlink -f "$2")" ]]; }

path_note() {  # says so when `criu` on PATH is not the given binary
    local onpath
    onpath=$(command -v criu || true)
    if ! same_file "$onpath" "$1"; then
        say "note: 'criu' on this PATH is ${onpath:-missing}, not $1: put $(dirname "$1") before /usr/sbin in PATH"
    fi
}

# --- 1. a working criu already there? -------------------------------------

onpath=$(command -v criu || true)
for candidate in "$TARGET" "$onpath"; do
    [[ -n $candidate ]] || continue
    if criu_works "$candidate"; then
        path_note "$candidate"
        say "ok $candidate $(criu_version "$candidate") (unchanged)"
        exit 0
    fi
done
if [[ -n $onpath ]]; then
    say "criu on PATH ($onpath, version $(criu_version "$onpath")) fails 'criu check'"
else
    say "no criu on PATH"
fi
if [[ -e $TARGET ]] && ! same_file "$TARGET" "$onpath"; then
    say "$TARGET (version $(criu_version "$TARGET")) fails 'criu check'"
fi

# --- check mode: report the plan, change nothing --------------------------

tarball=$(pick_tarball)
if [[ -n $tarball ]] && ! verify_tarball "$tarball"; then
    say "$WORKDIR/$tarball is damaged: it will be downloaded again"
    broken_tarball=$tarball
    tarball=""
fi

if $CHECK_ONLY; then
    plan=()
    mapfile -t missing < <(missing_deps)
    deps=""
    if [[ ${#missing[@]} -gt 0 ]]; then deps=" after installing the build dependencies ${missing[*]}"; fi
    if [[ -n $tarball ]]; then
        version=$(tarball_version "$tarball")
        if criu_works "$WORKDIR/criu-$version/criu/criu"; then
            plan+=("use the CRIU $version already built in $WORKDIR/criu-$version")
        else
            plan+=("build CRIU $version from $WORKDIR/$tarball$deps")
        fi
    else
        mirror=$(debian_mirror)
        if [[ -n $mirror ]]; then
            plan+=("download the criu source (preferred $PREFERRED_VERSION) from $mirror sid into $WORKDIR and build it$deps")
        else
            plan+=("download the criu source, but no Debian main mirror was found in /etc/apt/sources.list* (set CRIU_MIRROR)")
        fi
    fi
    for step in "${plan[@]}"; do say "would $step"; done
    say "would install $TARGET (check mode: nothing done)"
    exit 0
fi

# --- 2. build and install -------------------------------------------------

start=$SECONDS
mkdir -p "$WORKDIR"
cd "$WORKDIR"
exec 9>"$WORKDIR/.lock"
flock 9  # one build at a time in this work dir

if [[ -n ${broken_tarball:-} ]]; then
    say "removing the damaged $WORKDIR/$broken_tarball"
    rm -f -- "$broken_tarball"
fi

if [[ -n $tarball ]]; then
    say "source already downloaded: $WORKDIR/$tarball"
else
    [[ -r $KEYRING ]] || die "$KEYRING is missing (apt-get install debian-archive-keyring)"
    mirror=$(debian_mirror)
    [[ -n $mirror ]] || die "no Debian main mirror (URI ending in /debian) in /etc/apt/sources.list or /etc/apt/sources.list.d/: set CRIU_MIRROR"
    aptdir=$WORKDIR/apt
    mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial" "$aptdir/sources.list.d"
    printf 'deb-src [signed-by=%s] %s sid main\n' "$KEYRING" "$mirror" >"$aptdir/sources.list"
    apt_opts=(-o "Dir::Etc::SourceList=$aptdir/sources.list" -o "Dir::Etc::SourceParts=$aptdir/sources.list.d"
              -o "Dir::State::Lists=$aptdir/lists" -o "Dir::Cache=$aptdir/cache")
    say "private apt configuration $aptdir/sources.list: $(cat "$aptdir/sources.list")"
    say "apt-get update (private lists in $aptdir/lists; log: $WORKDIR/apt-update.log)"
    if ! apt-get "${apt_opts[@]}" update >"$WORKDIR/apt-update.log" 2>&1 \
        || ! compgen -G "$aptdir/lists/*_sid_main_source_Sources*" >/dev/null; then
        tail -n 20 "$WORKDIR/apt-update.log" >&2
        die "apt-get update of $mirror sid (deb-src) failed"
    fi
    say "apt-get source --download-only criu in $WORKDIR (log: $WORKDIR/apt-source.log)"
    rc=0
    apt-get "${apt_opts[@]}" source --download-only criu >"$WORKDIR/apt-source.log" 2>&1 || rc=$?
    if [[ $rc -ne 0 ]]; then
        # Typically the .debian.tar.xz is missing on the mirror: only the
        # upstream tarball is needed.
        say "apt-get source exited $rc (harmless if the upstream tarball arrived): $(grep -m1 -E '^(E|Err):' "$WORKDIR/apt-source.log" || true)"
    fi
    tarball=$(pick_tarball)
    if [[ -z $tarball ]]; then
        tail -n 20 "$WORKDIR/apt-source.log" >&2
        die "no criu_4.x (>= $MIN_VERSION) orig tarball was downloaded from $mirror sid"
    fi
    verify_tarball "$tarball" || die "$WORKDIR/$tarball failed verification (remove it and run again)"
    say "downloaded $WORKDIR/$tarball"
fi
version=$(tarball_version "$tarball")
if [[ $version == "$PREFERRED_VERSION" ]]; then
    say "using CRIU $version"
else
    say "using CRIU $version (Debian unstable no longer has $PREFERRED_VERSION)"
fi

srcdir=$WORKDIR/criu-$version
built=$srcdir/criu/criu
if criu_works "$built"; then
    say "build skipped: $built is already built and passes 'criu check'"
else
    mapfile -t missing < <(missing_deps)
    if [[ ${#missing[@]} -gt 0 ]]; then
        say "apt-get install ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >"$WORKDIR/apt-install.log" 2>&1; then
            say "apt-get install failed: apt-get update, then retrying"
            apt-get update -q >>"$WORKDIR/apt-install.log" 2>&1 || true
            apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$WORKDIR/apt-install.log" 2>&1 \
                || { tail -n 20 "$WORKDIR/apt-install.log" >&2; die "could not install the build dependencies: ${missing[*]}"; }
        fi
    else
        say "build dependencies already installed"
    fi
    top=$(tar -tf "$tarball" | awk -F/ '{ sub(/^(\.\/)+/, "") } NR == 1 { print $1 }')
    [[ -n $top && $top != . && $top != .. && $top != */* ]] || die "unexpected layout of $WORKDIR/$tarball (top entry '$top')"
    say "unpacking $tarball into $srcdir"
    rm -rf -- "$srcdir" "${WORKDIR:?}/$top"
    tar --no-same-owner --no-same-permissions -xf "$tarball"
    if [[ $top != "criu-$version" ]]; then mv -- "$top" "$srcdir"; fi
    say "make -C $srcdir -j$(nproc) criu (log: $WORKDIR/build.log)"
    t0=$SECONDS
    if ! make -C "$srcdir" -j"$(nproc)" criu >"$WORKDIR/build.log" 2>&1; then
        tail -n 30 "$WORKDIR/build.log" >&2
        die "building CRIU $version failed (see $WORKDIR/build.log)"
    fi
    say "built $built in $((SECONDS - t0)) s"
    if ! criu_works "$built"; then
        timeout 120 "$built" check >&2 || true
        die "the freshly built $built fails 'criu check'"
    fi
fi

say "install -m 0755 $built $TARGET"
install -D -m 0755 -o root -g root "$built" "$TARGET.new.$$"
mv -f -- "$TARGET.new.$$" "$TARGET"
if ! criu_works "$TARGET"; then
    timeout 120 "$TARGET" check >&2 || true
    die "$TARGET fails 'criu check' after the install"
fi
path_note "$TARGET"
say "took $((SECONDS - start)) s"
say "installed $TARGET $(criu_version "$TARGET") (changed)"
