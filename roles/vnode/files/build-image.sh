#!/usr/bin/env bash
# Build the vnodes' shared base image (the read-only lower layer of every
# vnode's root file system) with debootstrap, once: an image directory that
# holds .vcluster-image is complete and is left alone.
#
#   build-image.sh DEST SUITE MIRROR PACKAGE...
#
# DEST is built as DEST.partial and renamed when complete, so an interrupted
# build never leaves a half image behind under the final name. MIRROR "auto"
# means the Debian mirror this machine's apt uses.
set -euo pipefail
umask 022
say() { printf 'build-image: %s\n' "$*"; }
die() { printf 'build-image: error: %s\n' "$*" >&2; exit 1; }

[[ $# -ge 3 ]] || { printf 'usage: %s DEST SUITE MIRROR PACKAGE...\n' "${0##*/}" >&2; exit 2; }
dest=$1 suite=$2 mirror=$3
shift 3
if [[ -f $dest/.vcluster-image ]]; then
    say "$dest is complete (unchanged)"
    exit 0
fi
if [[ $mirror == auto ]]; then
    mirror=$(/usr/local/libexec/vcluster/install-criu.sh --print-mirror) || die "no Debian mirror found; set vnode_image_mirror"
fi
partial=$dest.partial
rm -rf "$partial"
mkdir -p "$(dirname "$dest")"
packages=$(IFS=,; printf '%s' "$*")
say "debootstrap $suite from $mirror into $partial with: $packages"
start=$(date +%s)
if ! debootstrap --variant=minbase --include="$packages" "$suite" "$partial" "$mirror" > "$partial.log" 2>&1; then
    tail -20 "$partial.log" >&2
    die "debootstrap failed (full log: $partial.log)"
fi

# PID 1 of a vnode: tini reaps orphaned processes, sshd serves MPI's remote
# starts. (lxc.init.cmd is split on spaces, not parsed by a shell: a script.)
cat > "$partial/usr/local/sbin/vcluster-init" <<'INIT'
#!/bin/sh
mkdir -p /run/sshd
exec /usr/bin/tini -- /usr/sbin/sshd -D -e
INIT
chmod 0755 "$partial/usr/local/sbin/vcluster-init"
# Host keys are made per vnode (in its own layer), never shared by the image.
rm -f "$partial"/etc/ssh/ssh_host_*
cat > "$partial/etc/ssh/sshd_config.d/vcluster.conf" <<'SSHD'
# vnodes: key-only root logins (MPI's remote starts between vnodes)
PermitRootLogin prohibit-password
PasswordAuthentication no
UseDNS no
SSHD
apt-get -o RootDir="$partial" clean 2>/dev/null || rm -rf "$partial"/var/cache/apt/archives/*.deb
rm -rf "$partial"/var/lib/apt/lists/*
printf '{"suite": "%s", "packages": "%s", "built": "%s", "seconds": %d}\n' \
    "$suite" "$packages" "$(date -u +%FT%TZ)" "$(( $(date +%s) - start ))" > "$partial/.vcluster-image"
rm -f "$partial.log"
rm -rf "$dest"
mv "$partial" "$dest"
say "built $dest in $(( $(date +%s) - start )) s (changed)"
