#!/usr/bin/env bash
# Build the QEMU vnodes' shared guest image from the container base image,
# once: an image directory that holds .vcluster-image is complete and is left
# alone.
#
#   build-vm-image.sh DEST BASE MIRROR DISK_GB
#
# BASE is a complete base image made by build-image.sh (it is copied, never
# changed). The copy gets Debian's kernel and a small initramfs (virtio and
# ext4 only), the guest init below and an sshd drop-in, and becomes an ext4
# file system of DISK_GB GiB made without loop mounts. DEST then holds:
#   vmlinuz, initrd.img  for QEMU's direct kernel boot (-kernel, -initrd)
#   disk.qcow2           the read-only backing file of every guest's overlay
#   .vcluster-image      JSON: base, kernel, disk_gb, built, seconds
# DEST is built as DEST.partial and renamed when complete, so an interrupted
# build never leaves a half image behind under the final name; a failed build
# leaves no mount and no work directory behind (its log stays in
# DEST.partial.log). MIRROR "auto" means the Debian mirror this machine's apt
# uses.
#
# The guest boots with
#   root=/dev/vda rw console=ttyS0 net.ifnames=0 init=/usr/local/sbin/vcluster-vm-init
#   vcluster.name=NAME vcluster.ip=A.B.C.D/PREFIX vcluster.mtu=MTU
# and takes its ssh host key and the admins' public keys from QEMU's fw_cfg:
#   -fw_cfg name=opt/vcluster/ssh_host_ed25519_key,file=...
#   -fw_cfg name=opt/vcluster/admin_keys,file=...
set -euo pipefail
umask 022
say() { printf 'build-vm-image: %s\n' "$*"; }
die() { printf 'build-vm-image: error: %s\n' "$*" >&2; exit 1; }

[[ $# -eq 4 ]] || { printf 'usage: %s DEST BASE MIRROR DISK_GB\n' "${0##*/}" >&2; exit 2; }
dest=$1 base=$2 mirror=$3 disk_gb=$4
if [[ -f $dest/.vcluster-image ]]; then
    say "$dest is complete (unchanged)"
    exit 0
fi
[[ $EUID -eq 0 ]] || die "must run as root (chroot, mount namespace, file ownership)"
[[ $disk_gb =~ ^[1-9][0-9]*$ ]] || die "DISK_GB must be a whole number of GiB, not '$disk_gb'"
[[ -f $base/.vcluster-image ]] || die "$base is not a complete base image (no .vcluster-image)"
for tool in unshare chroot mke2fs qemu-img; do
    command -v "$tool" > /dev/null || die "$tool is missing (packages util-linux, coreutils, e2fsprogs, qemu-utils)"
done
if [[ $mirror == auto ]]; then
    mirror=$(/usr/local/libexec/vcluster/install-criu.sh --print-mirror) || die "no Debian mirror found; set vnode_image_mirror"
fi
base=$(realpath "$base")
suite=$(sed -n 's/.*"suite": *"\([^"]*\)".*/\1/p' "$base/.vcluster-image")
if [[ -z $suite ]]; then
    suite=$(sed -n 's/^VERSION_CODENAME=//p' "$base/etc/os-release" 2> /dev/null || true)
fi
[[ -n $suite ]] || die "cannot tell the Debian suite of $base"

mkdir -p "$(dirname "$dest")"
partial=$(realpath -m "$dest.partial")
root=$partial/root
log=$partial.log

# Mount points at or under $1 in this mount namespace, deepest first.
mounts_under() {
    awk -v p="$1" '$5 == p || index($5, p "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r
}
# Processes chrooted into the work root (apt, dpkg, maintainer scripts).
procs_in_root() {
    local p
    for p in /proc/[0-9]*; do
        [[ $(readlink "$p/root" 2> /dev/null) == "$root" ]] && printf '%s\n' "${p#/proc/}"
    done
    return 0
}
# Every mount of the build lives in a private mount namespace and goes with
# it; this is the safety net before any rm -rf of the work root (never delete
# through a bind mount of /dev).
unmount_all() {
    local m
    for m in $(mounts_under "$partial"); do
        umount -l "$m" 2> /dev/null || true
    done
    [[ -z $(mounts_under "$partial") ]]
}
finish() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ $rc -ne 0 ]]; then
        # Interrupted: the chroot's processes die with their PID namespace;
        # wait for them, or rm -rf races with a dpkg still unpacking.
        local i=0
        while [[ -n $(procs_in_root) && $i -lt 100 ]]; do
            sleep 0.2
            i=$((i + 1))
        done
        if [[ -n $(procs_in_root) ]]; then
            printf 'build-vm-image: error: processes still run in %s (%s), not removed\n' "$root" "$(procs_in_root | xargs)" >&2
        elif unmount_all; then
            rm -rf "$partial"
        else
            printf 'build-vm-image: error: mounts left under %s, not removed\n' "$partial" >&2
        fi
        if [[ -s $log ]]; then
            tail -20 "$log" >&2
            printf 'build-vm-image: error: build failed (full log: %s)\n' "$log" >&2
        fi
    fi
    exit "$rc"
}
unmount_all || die "mounts left under $partial from an earlier build; unmount them first"
rm -rf "$partial" "$log"
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir -p "$partial"
: > "$log"
start=$(date +%s)

say "copy $base to $root"
cp -a --reflink=auto "$base" "$root"
rm -f "$root/.vcluster-image"

# Runs in a private mount namespace and its own PID namespace: its mounts
# vanish with its last process, and every process in it (dpkg runs in a
# session of its own) is killed when unshare dies (--kill-child).
in_namespace() {
    local root=$1 mirror=$2 suite=$3
    mount -t proc proc "$root/proc"
    mount --rbind /sys "$root/sys"
    mount --rbind /dev "$root/dev"
    mount -t tmpfs -o mode=0755 tmpfs "$root/run"
    local env=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=/root DEBIAN_FRONTEND=noninteractive)
    chroot "$root" "${env[@]}" apt-get -q update
    chroot "$root" "${env[@]}" apt-get -q install -y --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        linux-image-amd64 initramfs-tools
    chroot "$root" "${env[@]}" apt-get clean
}

# apt in the chroot: the mirror for the base's suite, this machine's resolver,
# no service starts. Kept: the sources; restored: resolv.conf.
printf 'deb %s %s main\n' "$mirror" "$suite" > "$root/etc/apt/sources.list"
rm -f "$root"/etc/apt/sources.list.d/*
resolv_saved=false
if [[ -e $root/etc/resolv.conf || -L $root/etc/resolv.conf ]]; then
    mv "$root/etc/resolv.conf" "$root/etc/resolv.conf.vcluster-saved"
    resolv_saved=true
fi
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
# A small initramfs: only the modules needed to find an ext4 root on virtio
# (initrd ~6.5 MB instead of ~36 MB). Written before the install: the kernel's
# postinst makes the initrd once, with this configuration (--force-confold
# keeps the modules file, a conffile of initramfs-tools-core).
mkdir -p "$root/etc/initramfs-tools/conf.d"
printf 'MODULES=list\n' > "$root/etc/initramfs-tools/conf.d/vcluster-vm"
printf '%s\n' '# vcluster guests: virtio disk and NIC, ext4 root' \
    virtio_pci virtio_blk virtio_net ext4 > "$root/etc/initramfs-tools/modules"

say "install linux-image-amd64 initramfs-tools from $mirror $suite (log: $log)"
unshare --mount --propagation private --pid --fork --kill-child -- /bin/bash -c \
    "set -euo pipefail; $(declare -f in_namespace); in_namespace \"\$@\"" \
    in_namespace "$root" "$mirror" "$suite" >> "$log" 2>&1 \
    || die "kernel install in the chroot failed"
[[ -z $(mounts_under "$partial") ]] || die "mounts left under $partial after the chroot"

rm -f "$root/usr/sbin/policy-rc.d" "$root/etc/resolv.conf"
if $resolv_saved; then
    mv "$root/etc/resolv.conf.vcluster-saved" "$root/etc/resolv.conf"
fi
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
find "$root/run" "$root/tmp" -mindepth 1 -delete

kernels=("$root"/boot/vmlinuz-*)
[[ ${#kernels[@]} -eq 1 && -f ${kernels[0]} ]] || die "expected one kernel in $root/boot, found: ${kernels[*]}"
kver=${kernels[0]##*/vmlinuz-}
[[ -f $root/boot/initrd.img-$kver ]] || die "no initrd for kernel $kver"

# PID 1 of a guest (no systemd): the file systems, the name, the network from
# the kernel command line, the keys from fw_cfg, then tini and sshd like a
# container vnode.
cat > "$root/usr/local/sbin/vcluster-vm-init" <<'INIT'
#!/bin/sh
# vcluster guest init, PID 1. Kernel command line:
#   init=/usr/local/sbin/vcluster-vm-init vcluster.name=NAME
#   vcluster.ip=A.B.C.D/PREFIX vcluster.mtu=MTU
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
umask 022

log() { echo "vcluster-vm-init: $*" > /dev/console 2>&1 || echo "vcluster-vm-init: $*"; }

# mnt TYPE DIR OPTIONS: mount unless DIR is a mount point already (the
# initramfs moves /proc, /sys, /dev and /run over).
mnt() {
    mkdir -p "$2"
    mountpoint -q "$2" || mount -t "$1" -o "$3" "$1" "$2" || log "cannot mount $1 on $2"
}
mnt proc /proc nosuid,nodev,noexec
mnt sysfs /sys nosuid,nodev,noexec
mnt devtmpfs /dev mode=0755,nosuid
mnt devpts /dev/pts gid=5,mode=0620,ptmxmode=0666,nosuid,noexec
mnt tmpfs /dev/shm mode=1777,nosuid,nodev
mnt tmpfs /run mode=0755,nosuid,nodev
mnt tmpfs /tmp mode=1777,nosuid,nodev
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
[ -e /dev/stdin ] || ln -s /proc/self/fd/0 /dev/stdin
[ -e /dev/stdout ] || ln -s /proc/self/fd/1 /dev/stdout
[ -e /dev/stderr ] || ln -s /proc/self/fd/2 /dev/stderr
touch /.vcluster-rw-test 2> /dev/null || mount -o remount,rw / || log "cannot remount / read-write"
rm -f /.vcluster-rw-test

name='' ip='' mtu=''
read -r cmdline < /proc/cmdline
set -f
for arg in $cmdline; do
    case $arg in
        vcluster.name=*) name=${arg#*=} ;;
        vcluster.ip=*) ip=${arg#*=} ;;
        vcluster.mtu=*) mtu=${arg#*=} ;;
    esac
done
set +f

if [ -n "$name" ]; then
    hostname "$name" || echo "$name" > /proc/sys/kernel/hostname
    echo "$name" > /etc/hostname
    if [ -n "$ip" ] && ! grep -q "[[:space:]]$name\$" /etc/hosts 2> /dev/null; then
        echo "${ip%/*}	$name" >> /etc/hosts
    fi
fi

ip link set lo up
# The NIC's driver is in the initramfs; wait a little for it all the same.
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do
    [ $i -eq 0 ] && modprobe virtio_net 2> /dev/null
    sleep 0.1
    i=$((i + 1))
done
if [ -e /sys/class/net/eth0 ]; then
    # The host reaches the guest at fe80::<EUI-64 of the MAC>%<bridge>.
    echo 0 > /proc/sys/net/ipv6/conf/eth0/addr_gen_mode
    echo 0 > /proc/sys/net/ipv6/conf/eth0/disable_ipv6
    [ -n "$mtu" ] && ip link set dev eth0 mtu "$mtu"
    [ -n "$ip" ] && ip addr add "$ip" dev eth0
    ip link set dev eth0 up
else
    log "no eth0"
fi

# Keys from QEMU's fw_cfg (-fw_cfg name=opt/vcluster/...,file=...).
modprobe qemu_fw_cfg 2> /dev/null
fw=/sys/firmware/qemu_fw_cfg/by_name/opt/vcluster
if [ -r $fw/ssh_host_ed25519_key/raw ]; then
    rm -f /etc/ssh/ssh_host_ed25519_key /etc/ssh/ssh_host_ed25519_key.pub
    (umask 077 && cat $fw/ssh_host_ed25519_key/raw > /etc/ssh/ssh_host_ed25519_key)
    chmod 0600 /etc/ssh/ssh_host_ed25519_key
    ssh-keygen -y -f /etc/ssh/ssh_host_ed25519_key > /etc/ssh/ssh_host_ed25519_key.pub
    chmod 0644 /etc/ssh/ssh_host_ed25519_key.pub
fi
if [ -r $fw/admin_keys/raw ]; then
    cat $fw/admin_keys/raw > /etc/ssh/vcluster-admin-keys
    chmod 0644 /etc/ssh/vcluster-admin-keys
fi
if ! ls /etc/ssh/ssh_host_*_key > /dev/null 2>&1; then
    log "no host key from fw_cfg: generating one"
    ssh-keygen -A > /dev/null
fi
mkdir -p /run/sshd

# The clock: a VM restored from a checkpoint (or migrated) resumes with the
# system time it was saved with, behind by the time it spent saved. Its RTC
# follows the host's clock (QEMU's default): set the time from it when they
# drift apart by more than 2 s (a restore), checked every second.
if [ -r /sys/class/rtc/rtc0/since_epoch ]; then
    (
        while sleep 1; do
            rtc=$(cat /sys/class/rtc/rtc0/since_epoch 2>/dev/null) || continue
            now=$(date +%s)
            if [ $((rtc - now)) -gt 2 ] || [ $((now - rtc)) -gt 2 ]; then
                date -u -s "@$rtc" >/dev/null && log "clock set from the RTC: $now -> $rtc"
            fi
        done
    ) &
fi

log "ready ${name:-?} ${ip:-?}"
exec /usr/bin/tini -- /usr/sbin/sshd -D -e
INIT
chmod 0755 "$root/usr/local/sbin/vcluster-vm-init"
mkdir -p "$root/etc/ssh/sshd_config.d"
cat > "$root/etc/ssh/sshd_config.d/vcluster-vm.conf" <<'SSHD'
# vcluster guests: the admins' keys come from QEMU's fw_cfg at boot
AuthorizedKeysFile .ssh/authorized_keys /etc/ssh/vcluster-admin-keys
SSHD
# Host keys are given to each guest at boot, never shared by the image.
rm -f "$root"/etc/ssh/ssh_host_*

cp "$root/boot/vmlinuz-$kver" "$partial/vmlinuz"
cp "$root/boot/initrd.img-$kver" "$partial/initrd.img"
say "kernel $kver: make the ${disk_gb} GiB ext4 file system"
mke2fs -q -t ext4 -L vcroot -d "$root" "$partial/disk.raw" "${disk_gb}G" >> "$log" 2>&1 \
    || die "mke2fs failed (is ${disk_gb} GiB enough?)"
qemu-img convert -O qcow2 "$partial/disk.raw" "$partial/disk.qcow2" >> "$log" 2>&1 \
    || die "qemu-img convert failed"
rm -f "$partial/disk.raw"
rm -rf "$root"

printf '{"base": "%s", "kernel": "%s", "disk_gb": %d, "built": "%s", "seconds": %d}\n' \
    "$base" "$kver" "$disk_gb" "$(date -u +%FT%TZ)" "$(( $(date +%s) - start ))" > "$partial/.vcluster-image"
rm -f "$log"
rm -rf "$dest"
mv "$partial" "$dest"
say "built $dest in $(( $(date +%s) - start )) s (changed)"
