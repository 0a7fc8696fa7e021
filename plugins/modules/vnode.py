#!/usr/bin/python
"""Give a physical host exactly the vnodes (LXC containers, QEMU virtual machines) the inventory places on it."""

from __future__ import annotations

DOCUMENTATION = r"""
module: vnode
short_description: Reconcile a host's vnodes (LXC system containers and QEMU virtual machines)
description:
  - Makes the vnodes in I(vnodes) exist and run on this host, each with its fixed overlay IP and a MAC derived from
    it, attached to the overlay bridge I(bridge).
  - An C(lxc) vnode is an LXC system container whose root file system is an overlay of the shared base image
    I(image) (read-only) and the vnode's own layer.
  - A C(kvm) vnode is a QEMU virtual machine booting the kernel of I(vm_image) on its own qcow2 overlay of the
    image's disk, its NIC (virtio) a tap on the bridge, driven over QMP, its console in C(serial.log); it is
    ready when its init reports that sshd runs. Its SSH host key is made on the host and handed to the guest
    with I(admin_keys) through fw_cfg. Refused, before any change, when the host lacks the memory or CPUs.
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
  vm_image:
    description: Directory of the virtual machines' image (vmlinuz, initrd.img, disk.qcow2); needed for C(kvm) vnodes.
    type: path
  vm_image_id:
    description: Identity of I(vm_image) (a virtual machine made on another one is recreated).
    type: str
  vm_accel:
    description: QEMU's acceleration, C(kvm) where C(/dev/kvm) boots a guest, else C(tcg) (emulation).
    type: str
    choices: [kvm, tcg]
    default: tcg
  admin_keys:
    description: Public SSH keys that may log in to the virtual machines as root (the controller's, for Ansible).
    type: list
    elements: str
    default: []
  boot_timeout:
    description: Seconds a virtual machine may take to boot.
    type: int
    default: 300
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
  description: Per vnode of this host, C({backend, ip, mac, rootfs, veth}) for a container,
    C({backend, ip, mac, tap, bridge, link_local, host_key, accel}) for a virtual machine, with C(boot_s) (seconds
    from QEMU's start to the guest's sshd) when it was started.
  type: dict
  returned: always
"""

import json
import os
import shutil
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vcluster.cluster.plugins.module_utils import vm as VM
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
        if (marker or {}).get("backend") == "kvm":
            present[name] = {"marker": marker, "config": config, "mounted": True, "backend": "kvm",
                             "running": VM.pid_of(model.vm_files(root, name)) is not None}
            continue
        rc, out, _ = module.run_command(["lxc-info", "-n", name, "-P", root, "-s", "-H"])
        present[name] = {"marker": marker, "config": config, "mounted": mounted(os.path.join(base, "rootfs")),
                         "running": rc == 0 and out.strip() in ("RUNNING", "FROZEN", "FREEZING")}
    return present


def run(module, argv, what):
    rc, out, err = module.run_command(argv)
    if rc != 0:
        module.fail_json(msg="%s failed (rc %d): %s" % (what, rc, (err or out).strip()), cmd=argv)
    return out


def stop(module, root, name, backend="lxc"):
    if backend == "kvm":
        try:
            VM.stop(runner(module), name, model.vm_files(root, name), model.tap_name(name))
        except VM.VMError as e:
            module.fail_json(msg=str(e))
        return
    rc, out, _ = module.run_command(["lxc-info", "-n", name, "-P", root, "-s", "-H"])
    if rc == 0 and out.strip() != "STOPPED":
        run(module, ["lxc-stop", "-n", name, "-P", root, "-k"], "stopping vnode %s" % name)


def runner(module):
    def run(argv):
        return module.run_command(argv)
    return run


def unmount_and_delete(module, root, name, backend="lxc"):
    base = os.path.join(root, name)
    stop(module, root, name, backend)
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
            vm_image=dict(type="path"),
            vm_image_id=dict(type="str"),
            vm_accel=dict(type="str", choices=["kvm", "tcg"], default="tcg"),
            admin_keys=dict(type="list", elements="str", default=[], no_log=False),
            boot_timeout=dict(type="int", default=300),
        ),
        supports_check_mode=True,
    )
    p = module.params
    root = p["root"].rstrip("/")
    wanted = [{"name": v["name"], "ip": v["ip"], "prefix": p["prefix"], "mtu": p["mtu"], "bridge": p["bridge"],
               "net_up": p["net_up"], "backend": v.get("backend") or "lxc"} for v in p["vnodes"]]
    for spec, v in zip(wanted, p["vnodes"]):
        if spec["backend"] == "kvm":
            spec.update(memory_mb=int(v.get("memory_mb") or 512), vcpus=int(v.get("vcpus") or 1),
                        admin_keys=p["admin_keys"], accel=p["vm_accel"])
    by_name = {spec["name"]: spec for spec in wanted}
    vms = [spec for spec in wanted if spec["backend"] == "kvm"]
    vm = None
    if vms:
        if not p["vm_image"] or not p["vm_image_id"]:
            module.fail_json(msg="vnodes %s are virtual machines but vm_image and vm_image_id are not set; run the "
                                 "vnode role (it builds the image)" % ", ".join(s["name"] for s in vms))
        vm = {"image": p["vm_image"].rstrip("/"), "image_id": p["vm_image_id"], "accel": p["vm_accel"]}
    present = read_present(module, root)
    steps = model.plan(wanted, present, p["image_id"], root, recreate=set(p["recreate"]), vm=vm)
    info = {}
    for spec in wanted:
        name = spec["name"]
        one = {"backend": spec["backend"], "ip": spec["ip"], "mac": model.mac_for(spec["ip"])}
        if spec["backend"] == "kvm":
            files = model.vm_files(root, name)
            one.update(tap=model.tap_name(name), link_local=model.link_local(spec["ip"]), accel=p["vm_accel"],
                       bridge=p["bridge"],
                       host_key=VM.host_key(files, None if module.check_mode else runner(module)))
        else:
            one.update(veth=model.veth_name(name), rootfs="%s/%s/rootfs" % (root, name))
        info[name] = one
    result = dict(changed=bool(steps), steps=["%s %s" % s for s in steps], vnodes=info)
    starting = [by_name[name] for step, name in steps if step == "start" and by_name[name]["backend"] == "kvm"]
    errors = VM.resource_errors(starting, VM.free_memory_mb(), os.cpu_count() or 1)
    if errors:  # refused before any step: nothing changed
        module.fail_json(msg="; ".join(errors), **dict(result, changed=False))
    if module.check_mode or not steps:
        module.exit_json(**result)

    if any(step in ("create", "recreate", "mount") and by_name[name]["backend"] == "lxc" for step, name in steps) \
            and not os.path.isfile(os.path.join(p["image"], ".vcluster-image")):
        module.fail_json(msg="base image %s is missing or incomplete; run the vnode role (it builds it)" % p["image"])
    if vms and not os.path.isfile(os.path.join(vm["image"], ".vcluster-image")):
        module.fail_json(msg="virtual machine image %s is missing or incomplete; run the vnode role (it builds it)"
                         % vm["image"])
    os.makedirs(root, mode=0o700, exist_ok=True)
    vrun = runner(module)
    booting = []
    try:
        for step, name in steps:
            base = os.path.join(root, name)
            rootfs = os.path.join(base, "rootfs")
            backend = by_name[name]["backend"] if name in by_name else (present[name].get("backend") or "lxc")
            # a vnode changing backend is recreated: the old one goes as what it was
            old = present.get(name, {}).get("backend") or "lxc"
            if step == "remove":
                unmount_and_delete(module, root, name, old)
            elif step == "stop":
                stop(module, root, name, backend)
            elif step in ("create", "recreate"):
                if step == "recreate":
                    unmount_and_delete(module, root, name, old)
                if backend == "kvm":
                    VM.prepare(vrun, model.vm_files(root, name), name, vm["image"], p["admin_keys"])
                else:
                    for sub in ("upper", "work", "rootfs"):
                        os.makedirs(os.path.join(base, sub), mode=0o755, exist_ok=True)
            elif step == "mount":
                run(module, ["mount", "-t", "overlay", "overlay", "-o", model.overlay_options(root, name, p["image"]),
                             rootfs], "mounting the root file system of %s" % name)
            elif step == "write-config":
                spec = by_name[name]
                if backend == "kvm":
                    VM.prepare(vrun, model.vm_files(root, name), name, vm["image"], p["admin_keys"])
                with open(os.path.join(base, "config"), "w") as f:
                    f.write(model.config_text(spec, root, vm))
                with open(os.path.join(base, model.MARKER), "w") as f:
                    json.dump(model.marker(spec, model.image_of(spec, p["image_id"], vm)), f, sort_keys=True)
            elif step == "start" and backend == "kvm":
                spec, files = by_name[name], model.vm_files(root, name)
                VM.plug(vrun, name, model.tap_name(name), p["bridge"], p["mtu"])
                argv = model.qemu_argv(spec, root, vm["image"], vm["accel"])
                started = time.monotonic()
                booting.append((name, files, VM.launch(vrun, name, argv, files), started))
            elif step == "start":
                start_container(module, root, name)
        for name, files, offset, started in booting:  # they boot in parallel
            info[name]["boot_s"] = round(VM.wait_ready(name, files, offset, p["boot_timeout"], started=started), 2)
            info[name]["host_key"] = VM.host_key(files)
    except VM.VMError as e:
        module.fail_json(msg=str(e), **result)
    module.exit_json(**result)


def start_container(module, root, name):
    base = os.path.join(root, name)
    rootfs = os.path.join(base, "rootfs")
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


if __name__ == "__main__":
    main()
