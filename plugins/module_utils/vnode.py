"""Virtual nodes as LXC system containers: plain Python, no Ansible.

A vnode lives in ``<root>/<name>/`` on the physical host that runs it (``root``
is also the LXC path, so LXC finds ``<root>/<name>/config``)::

    config      LXC configuration (rendered by ``lxc_config``)
    upper/      the vnode's own changes (overlayfs upper dir)
    work/       overlayfs work dir
    rootfs/     the merged view: base image (lower, read-only) + upper
    vnode.json  what the vnode was made from (marker; image id, IP, MAC)

``plan`` compares what the inventory wants on a host with what is there and
returns the steps that reconcile them; the module runs them.
"""

import ipaddress
import hashlib

MARKER = "vnode.json"
# Prefix of the host-side veth of every vnode (recognisable, removed with it).
VETH_PREFIX = "vcv-"
IFNAMSIZ = 15


def mac_for(ip):
    """The vnode's MAC, derived from its overlay IP only: the same vnode has the
    same MAC on any host (locally administered, unicast: 02:56 + the 4 bytes)."""
    packed = ipaddress.IPv4Address(ip).packed
    return "02:56:" + ":".join("%02x" % b for b in packed)


def veth_name(name):
    """Host-side name of the vnode's veth: vcv-<name>, hashed when too long."""
    if len(VETH_PREFIX) + len(name) <= IFNAMSIZ:
        return VETH_PREFIX + name
    return VETH_PREFIX + hashlib.sha256(name.encode()).hexdigest()[:IFNAMSIZ - len(VETH_PREFIX)]


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
    return {"name": spec["name"], "ip": spec["ip"], "mac": mac_for(spec["ip"]), "image": image_id}


def plan(wanted, present, image_id, root, recreate=()):
    """Steps that give a host exactly the vnodes ``wanted``.

    ``wanted``: [{name, ip, prefix, mtu, bridge, net_up}] for this host.
    ``present``: {name: {marker: dict or None, config: str or None,
    mounted: bool, running: bool}} for every directory under ``root``
    that carries a vnode marker (others are not ours and are left alone).
    Returns a list of (step, name) with step in remove, stop, recreate,
    create, mount, write-config, start; in an order the module can run as is.
    ``recreate``: names to start afresh even when they run (vc_recreate).
    """
    steps = []
    names = {spec["name"] for spec in wanted}
    for name in sorted(set(present) - names):
        steps.append(("remove", name))
    for spec in wanted:
        name = spec["name"]
        cur = present.get(name)
        config = lxc_config(spec, root)
        if cur is None:
            steps += [("create", name), ("mount", name), ("write-config", name), ("start", name)]
            continue
        if (cur.get("marker") or {}).get("image") != image_id or name in recreate:
            # Its changes were made against another base image: start afresh.
            steps += [("recreate", name), ("mount", name), ("write-config", name), ("start", name)]
            continue
        config_changed = cur.get("config") != config or cur.get("marker") != marker(spec, image_id)
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
