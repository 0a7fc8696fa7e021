#!/usr/bin/python
"""Give a physical host exactly the vnodes (LXC containers) the inventory places on it."""

from __future__ import annotations

DOCUMENTATION = r"""
module: vnode
short_description: Reconcile a host's vnodes (LXC system containers)
description:
  - Makes the vnodes in I(vnodes) exist and run on this host, each an LXC system container whose root file system
    is an overlay of the shared base image I(image) (read-only) and the vnode's own layer, with its fixed overlay IP
    and a MAC derived from it, attached to the overlay bridge I(bridge).
  - Removes the vnodes of the project found under I(root) that are not in I(vnodes) (moved to another host or
    deleted from the inventory), with their layer and host-side veth.
  - A vnode built on another base image (its package list changed) is recreated; a changed configuration
    restarts it. Anything else running is left alone (idempotent).
  - Must run in the host's network namespace (it does over SSH); LXC commands use I(root) as the LXC path.
  - Supports check mode (reports the steps it would take).
options:
  vnodes:
    description: The vnodes of this host, each C({name, ip}).
    type: list
    elements: dict
    required: true
  root:
    description: Directory of the host's vnodes (also the LXC path).
    type: path
    required: true
  image:
    description: Directory of the base image (the overlay's lower layer).
    type: path
    required: true
  image_id:
    description: Identity of the base image (a vnode made on another one is recreated).
    type: str
    required: true
  prefix:
    description: Prefix length of the overlay subnet.
    type: int
    required: true
  mtu:
    description: MTU of the vnodes' interface.
    type: int
    required: true
  bridge:
    description: The overlay bridge the vnodes attach to.
    type: str
    default: vcbr0
  net_up:
    description: Script LXC calls to attach the host-side veth to the bridge (the role installs it).
    type: path
    required: true
  recreate:
    description: Vnodes of I(vnodes) to start afresh (new layer, processes lost) even when they run.
    type: list
    elements: str
    default: []
author: vcluster team
"""

EXAMPLES = r"""
- name: Run this host's vnodes
  vcluster.cluster.vnode:
    vnodes: [{name: vn-a1, ip: 10.241.0.11}]
    root: /var/lib/vcluster/vnodes
    image: /var/lib/vcluster/images/3f2a9c1b7d4e
    image_id: 3f2a9c1b7d4e
    prefix: 24
    mtu: 1400
    net_up: /usr/local/libexec/vcluster/vnode-net-up
"""

RETURN = r"""
steps:
  description: The steps taken (or, in check mode, that would be), as "step vnode".
  type: list
  returned: always
vnodes:
  description: Per vnode of this host, C({ip, mac, rootfs, veth}).
  type: dict
  returned: always
"""

import json
import os
import shutil

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vcluster.cluster.plugins.module_utils import vnode as model


def mounted(path):
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


def read_present(module, root):
    present = {}
    if not os.path.isdir(root):
        return present
    for name in sorted(os.listdir(root)):
        base = os.path.join(root, name)
        marker_file = os.path.join(base, model.MARKER)
        if not os.path.isfile(marker_file):
            continue  # not ours
        try:
            with open(marker_file) as f:
                marker = json.load(f)
        except ValueError:
            marker = None
        config = None
        if os.path.isfile(os.path.join(base, "config")):
            with open(os.path.join(base, "config")) as f:
                config = f.read()
        rc, out, _ = module.run_command(["lxc-info", "-n", name, "-P", root, "-s", "-H"])
        present[name] = {"marker": marker, "config": config, "mounted": mounted(os.path.join(base, "rootfs")),
                         "running": rc == 0 and out.strip() in ("RUNNING", "FROZEN", "FREEZING")}
    return present


def run(module, argv, what):
    rc, out, err = module.run_command(argv)
    if rc != 0:
        module.fail_json(msg="%s failed (rc %d): %s" % (what, rc, (err or out).strip()), cmd=argv)
    return out


def stop(module, root, name):
    rc, out, _ = module.run_command(["lxc-info", "-n", name, "-P", root, "-s", "-H"])
    if rc == 0 and out.strip() != "STOPPED":
        run(module, ["lxc-stop", "-n", name, "-P", root, "-k"], "stopping vnode %s" % name)


def unmount_and_delete(module, root, name):
    base = os.path.join(root, name)
    stop(module, root, name)
    if mounted(os.path.join(base, "rootfs")):
        run(module, ["umount", os.path.join(base, "rootfs")], "unmounting the root file system of %s" % name)
    if os.path.exists("/sys/class/net") and module.run_command(["ip", "link", "show", model.veth_name(name)])[0] == 0:
        module.run_command(["ip", "link", "del", model.veth_name(name)])  # a stale veth blocks a later start
    shutil.rmtree(base, ignore_errors=False)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            vnodes=dict(type="list", elements="dict", required=True),
            root=dict(type="path", required=True),
            image=dict(type="path", required=True),
            image_id=dict(type="str", required=True),
            prefix=dict(type="int", required=True),
            mtu=dict(type="int", required=True),
            bridge=dict(type="str", default="vcbr0"),
            net_up=dict(type="path", required=True),
            recreate=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    p = module.params
    root = p["root"].rstrip("/")
    wanted = [{"name": v["name"], "ip": v["ip"], "prefix": p["prefix"], "mtu": p["mtu"], "bridge": p["bridge"],
               "net_up": p["net_up"]} for v in p["vnodes"]]
    by_name = {spec["name"]: spec for spec in wanted}
    present = read_present(module, root)
    steps = model.plan(wanted, present, p["image_id"], root, recreate=set(p["recreate"]))
    info = {spec["name"]: {"ip": spec["ip"], "mac": model.mac_for(spec["ip"]), "veth": model.veth_name(spec["name"]),
                           "rootfs": "%s/%s/rootfs" % (root, spec["name"])} for spec in wanted}
    result = dict(changed=bool(steps), steps=["%s %s" % s for s in steps], vnodes=info)
    if module.check_mode or not steps:
        module.exit_json(**result)

    needs_image = any(step in ("create", "recreate", "mount") for step, _name in steps)
    if needs_image and not os.path.isfile(os.path.join(p["image"], ".vcluster-image")):
        module.fail_json(msg="base image %s is missing or incomplete; run the vnode role (it builds it)" % p["image"])
    os.makedirs(root, mode=0o700, exist_ok=True)
    for step, name in steps:
        base = os.path.join(root, name)
        rootfs = os.path.join(base, "rootfs")
        if step == "remove":
            unmount_and_delete(module, root, name)
        elif step == "stop":
            stop(module, root, name)
        elif step in ("create", "recreate"):
            if step == "recreate":
                unmount_and_delete(module, root, name)
            for sub in ("upper", "work", "rootfs"):
                os.makedirs(os.path.join(base, sub), mode=0o755, exist_ok=True)
        elif step == "mount":
            run(module, ["mount", "-t", "overlay", "overlay", "-o", model.overlay_options(root, name, p["image"]),
                         rootfs], "mounting the root file system of %s" % name)
        elif step == "write-config":
            spec = by_name[name]
            with open(os.path.join(base, "config"), "w") as f:
                f.write(model.lxc_config(spec, root))
            with open(os.path.join(base, model.MARKER), "w") as f:
                json.dump(model.marker(spec, p["image_id"]), f, sort_keys=True)
        elif step == "start":
            key = os.path.join(rootfs, "etc/ssh/ssh_host_ed25519_key")
            if not os.path.exists(key):  # the vnode's own host key, in its own layer
                run(module, ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "root@" + name, "-f", key],
                    "making the SSH host key of %s" % name)
            if module.run_command(["ip", "link", "show", model.veth_name(name)])[0] == 0:
                module.run_command(["ip", "link", "del", model.veth_name(name)])
            # on every CPU (what Ansible starts may be pinned to some; the vnode would inherit it)
            run(module, ["taskset", "-c", "0-%d" % ((os.cpu_count() or 1) - 1), "lxc-start", "-n", name, "-P", root,
                         "-d"], "starting vnode %s (log: %s/lxc.log)" % (name, base))
            run(module, ["lxc-wait", "-n", name, "-P", root, "-s", "RUNNING", "-t", "30"],
                "waiting for vnode %s to run" % name)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
