"""Virtual nodes as LXC system containers or QEMU virtual machines: plain Python, no Ansible.

A vnode lives in ``<root>/<name>/`` on the physical host that runs it (``root``
is also the LXC path, so LXC finds ``<root>/<name>/config``). A container::

    config      LXC configuration (rendered by ``lxc_config``)
    upper/      the vnode's own changes (overlayfs upper dir)
    work/       overlayfs work dir
    rootfs/     the merged view: base image (lower, read-only) + upper
    vnode.json  what the vnode was made from (marker; image id, IP, MAC)

A virtual machine (backend kvm; ``vm_files`` names them)::

    config      QEMU's command line, one argument per line (``qemu_argv``)
    disk.qcow2  the VM's own disk: a qcow2 overlay on the image's disk.qcow2
    ssh_host_ed25519_key  its SSH host key (QEMU hands it to the guest, fw_cfg)
    admin_keys  public keys allowed to log in as root (fw_cfg; the controller's)
    qmp.sock    QEMU's QMP socket; qemu.pid, qemu.log; serial.log its console
    vnode.json  the marker, as for a container

``plan`` compares what the inventory wants on a host with what is there and
returns the steps that reconcile them; the module runs them.
"""

import ipaddress
import hashlib
import shlex

MARKER = "vnode.json"
# Prefix of the host-side veth of every vnode (recognisable, removed with it).
VETH_PREFIX = "vcv-"
# Prefix of the tap of every virtual machine.
TAP_PREFIX = "vct-"
IFNAMSIZ = 15
QEMU = "qemu-system-x86_64"
# The line the guest's init writes to the serial console when sshd starts.
READY = "vcluster-vm-init: ready"
# Where QEMU hands the guest its files (fw_cfg; the guest's init reads them).
FW_CFG = {"host_key": "opt/vcluster/ssh_host_ed25519_key", "admin_keys": "opt/vcluster/admin_keys"}
# Acceleration: KVM where /dev/kvm boots a guest, else TCG (DESIGN.md section 7).
ACCEL = {"kvm": ["-accel", "kvm", "-cpu", "host"], "tcg": ["-accel", "tcg,tb-size=64", "-cpu", "max"]}


def mac_for(ip):
    """The vnode's MAC, derived from its overlay IP only: the same vnode has the
    same MAC on any host (locally administered, unicast: 02:56 + the 4 bytes)."""
    packed = ipaddress.IPv4Address(ip).packed
    return "02:56:" + ":".join("%02x" % b for b in packed)


def _ifname(prefix, name):
    if len(prefix) + len(name) <= IFNAMSIZ:
        return prefix + name
    return prefix + hashlib.sha256(name.encode()).hexdigest()[:IFNAMSIZ - len(prefix)]


def veth_name(name):
    """Host-side name of the vnode's veth: vcv-<name>, hashed when too long."""
    return _ifname(VETH_PREFIX, name)


def tap_name(name):
    """The virtual machine's tap on its host: vct-<name>, hashed when too long."""
    return _ifname(TAP_PREFIX, name)


def link_local(ip):
    """The vnode's IPv6 link-local address (EUI-64 of its MAC): its host reaches a virtual machine's sshd there,
    on the overlay bridge, without an address in the overlay subnet."""
    mac = [int(b, 16) for b in mac_for(ip).split(":")]
    eui = [mac[0] ^ 0x02] + mac[1:3] + [0xFF, 0xFE] + mac[3:]
    return str(ipaddress.IPv6Address(bytes([0xFE, 0x80] + [0] * 6 + eui)))


def vm_ssh_args(jump, name, ip, bridge, known_hosts):
    """``ansible_ssh_common_args`` of a virtual machine: SSH through its physical host (whose connection variables
    ``jump`` gives: ansible_host, ansible_user, ansible_port, ansible_ssh_private_key_file, ansible_ssh_common_args)
    to the guest's link-local address on the overlay bridge, its host key checked under the vnode's name in
    ``known_hosts``."""
    proxy = ["ssh", "-o", "BatchMode=yes"]
    if jump.get("ansible_ssh_private_key_file"):
        proxy += ["-i", str(jump["ansible_ssh_private_key_file"])]
    proxy += shlex.split(str(jump.get("ansible_ssh_common_args") or ""))
    if jump.get("ansible_port"):
        proxy += ["-p", str(jump["ansible_port"])]
    # %% is a literal % in a ProxyCommand (the scope of the link-local address)
    proxy += ["-W", "[%s%%%%%s]:22" % (link_local(ip), bridge),
              "%s@%s" % (jump.get("ansible_user") or "root", jump["ansible_host"])]
    return " ".join(["-o HostKeyAlias=%s" % name, "-o UserKnownHostsFile=%s" % shlex.quote(known_hosts),
                     "-o StrictHostKeyChecking=yes",
                     "-o ProxyCommand=%s" % shlex.quote(" ".join(shlex.quote(a) for a in proxy))])


def running_vms(hostvars, hosts):
    """The virtual machines the vnode role started or found on ``hosts``, from each host's registered
    ``vnode_result``: [{name, host, ip, bridge, host_key}] (those whose host key is known)."""
    vms = []
    for host in hosts:
        result = (hostvars.get(host) or {}).get("vnode_result") or {}
        for name, info in sorted((result.get("vnodes") or {}).items()):
            if info.get("backend") == "kvm" and info.get("host_key"):
                vms.append({"name": name, "host": host, "ip": info["ip"], "bridge": info["bridge"],
                            "host_key": info["host_key"]})
    return vms


def vm_files(root, name):
    """Paths of a virtual machine's files on its host."""
    base = "%s/%s" % (root, name)
    return {key: "%s/%s" % (base, leaf) for key, leaf in (
        ("dir", ""), ("config", "config"), ("disk", "disk.qcow2"), ("host_key", "ssh_host_ed25519_key"),
        ("admin_keys", "admin_keys"), ("qmp", "qmp.sock"), ("pid", "qemu.pid"), ("log", "qemu.log"),
        ("serial", "serial.log"))}


def qemu_argv(spec, root, image, accel):
    """QEMU's command line for the virtual machine ``spec`` ({name, ip, prefix, mtu, bridge, memory_mb, vcpus})
    kept under ``root``, booting the kernel of ``image`` (a directory with vmlinuz, initrd.img, disk.qcow2) on
    its own disk overlay, its NIC a tap on the overlay bridge with the vnode's MAC; ``accel``: kvm or tcg."""
    name, f = spec["name"], vm_files(root, spec["name"])
    append = " ".join([
        "root=/dev/vda", "rw", "console=ttyS0", "net.ifnames=0", "quiet", "init=/usr/local/sbin/vcluster-vm-init",
        "vcluster.name=%s" % name, "vcluster.ip=%s/%s" % (spec["ip"], spec["prefix"]), "vcluster.mtu=%s" % spec["mtu"]])
    return [QEMU, "-name", "%s,process=vcq-%s" % (name, name[:10]), "-nodefaults", "-no-user-config",
            "-display", "none"] + ACCEL[accel] + [
        "-m", str(spec["memory_mb"]), "-smp", str(spec["vcpus"]),
        "-kernel", image + "/vmlinuz", "-initrd", image + "/initrd.img", "-append", append,
        "-blockdev", "driver=file,filename=%s,node-name=file0" % f["disk"],
        "-blockdev", "driver=qcow2,file=file0,node-name=disk0",
        "-device", "virtio-blk-pci,drive=disk0,id=vda",
        "-netdev", "tap,id=net0,ifname=%s,script=no,downscript=no" % tap_name(name),
        "-device", "virtio-net-pci,netdev=net0,mac=%s" % mac_for(spec["ip"]),
        "-chardev", "file,id=serial0,path=%s,append=on" % f["serial"], "-serial", "chardev:serial0",
        "-qmp", "unix:%s,server=on,wait=off" % f["qmp"], "-pidfile", f["pid"],
        "-fw_cfg", "name=%s,file=%s" % (FW_CFG["host_key"], f["host_key"]),
        "-fw_cfg", "name=%s,file=%s" % (FW_CFG["admin_keys"], f["admin_keys"])]


def vm_image_dir(config):
    """The image directory a virtual machine's ``config`` (its QEMU command line, one argument per line) boots."""
    argv = config.splitlines()
    return argv[argv.index("-kernel") + 1].rsplit("/", 1)[0]


def config_text(spec, root, vm=None):
    """What the vnode's ``config`` file holds: LXC's configuration, or QEMU's command line one argument per line
    (``vm``: {image, accel} of the host's virtual machines)."""
    if spec.get("backend", "lxc") == "kvm":
        return "\n".join(qemu_argv(spec, root, vm["image"], vm["accel"])) + "\n"
    return lxc_config(spec, root)


def lxc_config(spec, root):
    """LXC configuration text for the vnode ``spec`` ({name, ip, prefix, mtu,
    bridge, net_up}) kept under ``root``. Only what CRIU can checkpoint: no AppArmor
    profile (the kernel has none and CRIU then refuses to restore), no ttys."""
    name = spec["name"]
    lines = [
        "# Made by vcluster (role vnode); changes are overwritten at the next deploy.",
        "lxc.include = /usr/share/lxc/config/common.conf",
        "lxc.arch = linux64",
        "lxc.uts.name = %s" % name,
        "lxc.rootfs.path = dir:%s/%s/rootfs" % (root, name),
        # lxc.init.cmd is split on spaces, not parsed by a shell: a script.
        "lxc.init.cmd = /usr/local/sbin/vcluster-init",
        "lxc.tty.max = 0",
        "lxc.console.path = none",
        # POSIX shared memory (MPI's shared-memory transport); CRIU saves tmpfs contents.
        "lxc.mount.entry = tmpfs dev/shm tmpfs rw,nosuid,nodev,mode=1777,create=dir 0 0",
        "lxc.log.file = %s/%s/lxc.log" % (root, name),
        "lxc.log.level = WARN",
        "lxc.net.0.type = veth",
        # Attached to the bridge by the script (see roles/vnode/files/vnode-net-up).
        "lxc.net.0.script.up = %s %s" % (spec["net_up"], spec["bridge"]),
        "lxc.net.0.veth.pair = %s" % veth_name(name),
        "lxc.net.0.name = eth0",
        "lxc.net.0.hwaddr = %s" % mac_for(spec["ip"]),
        "lxc.net.0.ipv4.address = %s/%s" % (spec["ip"], spec["prefix"]),
        "lxc.net.0.mtu = %s" % spec["mtu"],
        "lxc.net.0.flags = up",
    ]
    return "\n".join(lines) + "\n"


def marker(spec, image_id):
    """Content of vnode.json for ``spec`` built on image ``image_id``."""
    out = {"name": spec["name"], "ip": spec["ip"], "mac": mac_for(spec["ip"]), "image": image_id}
    if spec.get("backend", "lxc") != "lxc":
        out.update(backend=spec["backend"], memory_mb=spec.get("memory_mb"), vcpus=spec.get("vcpus"),
                   accel=spec.get("accel"), admin_keys=hashlib.sha256(
                       "\n".join(spec.get("admin_keys") or []).encode()).hexdigest()[:16])
    return out


def image_of(spec, image_id, vm=None):
    """The image id a vnode is made from: the container image's, or the virtual machines' image's."""
    return vm["image_id"] if spec.get("backend", "lxc") == "kvm" else image_id


def plan(wanted, present, image_id, root, recreate=(), vm=None):
    """Steps that give a host exactly the vnodes ``wanted``.

    ``wanted``: [{name, ip, prefix, mtu, bridge, net_up}] for this host.
    ``present``: {name: {marker: dict or None, config: str or None,
    mounted: bool, running: bool}} for every directory under ``root``
    that carries a vnode marker (others are not ours and are left alone).
    Returns a list of (step, name) with step in remove, stop, recreate,
    create, mount, write-config, start; in an order the module can run as is.
    ``recreate``: names to start afresh even when they run (vc_recreate).
    ``vm``: {image, image_id, accel} for the virtual machines (backend kvm) of ``wanted``; a virtual machine has
    nothing to mount (the module reports it mounted).
    """
    steps = []
    names = {spec["name"] for spec in wanted}
    for name in sorted(set(present) - names):
        steps.append(("remove", name))
    for spec in wanted:
        name = spec["name"]
        cur = present.get(name)
        config = config_text(spec, root, vm)
        ident = image_of(spec, image_id, vm)
        mount = [("mount", name)] if spec.get("backend", "lxc") == "lxc" else []
        if cur is None:
            steps += [("create", name)] + mount + [("write-config", name), ("start", name)]
            continue
        if (cur.get("marker") or {}).get("image") != ident or name in recreate:
            # Its changes were made against another base image: start afresh.
            steps += [("recreate", name)] + mount + [("write-config", name), ("start", name)]
            continue
        config_changed = cur.get("config") != config or cur.get("marker") != marker(spec, ident)
        if config_changed and cur.get("running"):
            steps.append(("stop", name))
        if not cur.get("mounted"):
            if cur.get("running") and not config_changed:
                steps.append(("stop", name))
            steps.append(("mount", name))
        if config_changed:
            steps.append(("write-config", name))
        if config_changed or not cur.get("mounted") or not cur.get("running"):
            steps.append(("start", name))
    return steps


def overlay_options(root, name, image):
    """mount -o argument of the vnode's root file system."""
    base = "%s/%s" % (root, name)
    return "lowerdir=%s,upperdir=%s/upper,workdir=%s/work" % (image, base, base)
