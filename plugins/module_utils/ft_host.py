"""What one physical host does for a checkpoint or a restore: plain Python.

The module ``vcluster.cluster.ckpt_host`` is a thin wrapper over these
functions; they run on the host (in its network namespace, where its vnodes'
LXC monitors listen) and call LXC, CRIU (through ``lxc-checkpoint``) and tar
through ``run(argv, **kw) -> (rc, stdout, stderr)`` so the logic is testable
without containers.

A vnode's file system is an overlay: the shared base image (read-only) plus
its own layer ``<root>/<vnode>/upper``. A checkpoint saves that layer
incrementally: ``fs.tar`` holds what changed since the parent checkpoint
(``meta.json`` names it; none = a full save) and ``fs.list`` every path the
layer has, so a restore extracts the chain of saves oldest first and then
deletes what is not in the list (files deleted since the parent). Overlay
whiteouts (character devices 0/0) and opaque directories (xattr
``trusted.overlay.opaque``) are kept by tar like any other file.

``<root>/<vnode>/ft.json`` records which checkpoint the layer continues
from, and since when it changed ({"ckpt": id, "since_ns": time}); a dump
uses it as the parent when that checkpoint is here and the chain is short
enough, else it saves the layer in full.

A virtual machine (its vnode.json says backend kvm) goes through the same
functions, which hand it to ``vm``: freeze and thaw are QMP stop and cont;
its dump (``dump_vm``) is the qcow2 layer it wrote since the parent (or its
whole chain merged, without one) and its RAM and devices (``state``); its
restore (``restore_vm``) lays the chain out again and loads the state.
"""

import json
import os
import shutil
import subprocess
import tarfile
import time

from ansible_collections.vcluster.cluster.plugins.module_utils import ckpt as C
from ansible_collections.vcluster.cluster.plugins.module_utils import replication as R
from ansible_collections.vcluster.cluster.plugins.module_utils import vm as VM
from ansible_collections.vcluster.cluster.plugins.module_utils import vnode as V

FT_STATE = "ft.json"
FS_TAR = "fs.tar"
FS_LIST = "fs.list"
META = "meta.json"
IMAGES = "images"
# The store's directory for a migration's dump (<store>/<cluster>/migrate/<vnode>).
MIGRATE = "migrate"
TAR_XATTRS = ["--xattrs", "--xattrs-include=*", "--acls", "--numeric-owner"]


def local_run(argv, stdout=None, stderr=None):
    """Run a command here: (rc, stdout, stderr), or with ``stdout`` (a file),
    its output goes there. stdin is /dev/null (a restored LXC monitor must not
    keep the caller's pipes)."""
    if stdout is not None:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, check=False)
        return proc.returncode, "", ""
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


class HostError(RuntimeError):
    """An operation failed on this host (the message names the vnode and the step)."""


def _check(run, argv, what, **kw):
    rc, out, err = run(argv, **kw)
    if rc != 0:
        raise HostError("%s failed (rc %d): %s" % (what, rc, (err or out or "").strip()[-2000:]))
    return out


def lxc_state(run, root, name):
    rc, out, _ = run(["lxc-info", "-n", name, "-P", root, "-s", "-H"])
    return out.strip() if rc == 0 else "ABSENT"


def read_json(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def write_json(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)


def is_vm(root, name):
    """Whether the vnode under ``root`` is a virtual machine (its marker says backend kvm)."""
    return (read_json(os.path.join(root, name, V.MARKER)) or {}).get("backend") == "kvm"


# --- scanning the store ------------------------------------------------------

def running_vnodes(run, root):
    """{vnode: state} of the project's vnodes under ``root``: LXC's state of a container, RUNNING or STOPPED
    for a virtual machine (its QEMU runs or not)."""
    found = {}
    if root and os.path.isdir(root):
        for name in sorted(os.listdir(root)):
            marker = os.path.join(root, name, V.MARKER)
            if not os.path.isfile(marker):
                continue
            if (read_json(marker) or {}).get("backend") == "kvm":
                found[name] = "RUNNING" if VM.pid_of(V.vm_files(root, name)) else "STOPPED"
            else:
                found[name] = lxc_state(run, root, name)
    return found


def scan(store, cluster, verify=False, run=None, root=None):
    """What this host's store holds for ``cluster``: every checkpoint id seen,
    which are prepared/committed here, and per id and vnode the copy's
    meta (parent, origin, size) and, with ``verify`` (True: every copy; a
    list: the copies of those checkpoint ids), its problems; with
    ``root``, the vnodes present on the host and their state; the catalog."""
    top = os.path.join(store, cluster)
    result = {"ids": [], "committed": [], "prepared": [], "copies": {}, "incoming": [],
              "vnodes": running_vnodes(run, root) if run else {},
              "catalog": read_json(os.path.join(top, C.CATALOG)),
              "last_id": int((read_json(os.path.join(top, LAST_ID)) or {}).get("last_id", 0))}
    if not os.path.isdir(top):
        return result
    for entry in sorted(os.listdir(top)):
        path = os.path.join(top, entry)
        if entry.isdigit() and os.path.isdir(path):
            ckpt = int(entry)
            result["ids"].append(ckpt)
            for marker, key in ((C.COMMITTED, "committed"), (C.PREPARED, "prepared")):
                if os.path.exists(os.path.join(path, marker)):
                    result[key].append(ckpt)
                    members = marker_members(os.path.join(path, marker))
                    if members is not None:
                        result.setdefault("members", {})[str(ckpt)] = members
            copies = {}
            for vnode in sorted(os.listdir(path)):
                vdir = os.path.join(path, vnode)
                if not os.path.isdir(vdir):
                    continue
                if vnode.startswith("."):
                    result["incoming"].append("%s/%s" % (entry, vnode))
                    continue
                manifest = read_json(os.path.join(vdir, C.MANIFEST)) or {}
                info = {"complete": bool(manifest), "size": manifest.get("size", 0),
                        "parent": manifest.get("parent"), "origin": manifest.get("origin"),
                        "time": manifest.get("time"), "image": manifest.get("image"),
                        "ip": manifest.get("ip")}
                if verify is True or (verify and ckpt in verify):
                    info["problems"] = C.verify(vdir)
                copies[vnode] = info
            result["copies"][str(ckpt)] = copies
    result["ids"].sort()
    return result


# --- the checkpoint ----------------------------------------------------------

def freeze(run, root, vnodes):
    """Freeze every vnode (the barrier). Returns {vnode: seconds}."""
    took = {}
    for name in vnodes:
        start = time.monotonic()
        if is_vm(root, name):
            if VM.pid_of(V.vm_files(root, name)) is None:
                raise HostError("vnode %s is not running: deploy.yml starts it" % name)
            try:
                VM.freeze(V.vm_files(root, name), name)
            except VM.VMError as e:
                raise HostError(str(e)) from e
            took[name] = round(time.monotonic() - start, 4)
            continue
        state = lxc_state(run, root, name)
        if state not in ("RUNNING", "FROZEN"):
            raise HostError("vnode %s is %s, not running: deploy.yml starts it" % (name, state))
        if state == "RUNNING" and not freeze_cgroup(run, root, name):
            _check(run, ["lxc-freeze", "-n", name, "-P", root], "freezing vnode %s" % name)
        took[name] = round(time.monotonic() - start, 4)
    return took


def freeze_cgroup(run, root, name, timeout=10.0):
    """Freeze the vnode through its freezer cgroup and wait (polling every
    millisecond) until every process is frozen. lxc-freeze does the same but
    polls once a second: 1 s of the cluster's pause. False when the vnode has
    no freezer control here (the caller then uses lxc-freeze)."""
    control = freezer_file(run, root, name)
    if not control or not os.path.exists(control[0]):
        return False
    path, frozen, _thawed = control
    with open(path, "w") as f:
        f.write(frozen)
    deadline = time.monotonic() + timeout
    while True:
        if path.endswith("freezer.state"):
            with open(path) as f:
                done = f.read().strip() == "FROZEN"
        else:
            with open(os.path.join(os.path.dirname(path), "cgroup.events")) as f:
                done = "frozen 1" in f.read()
        if done:
            return True
        if time.monotonic() > deadline:
            raise HostError("vnode %s did not freeze within %d s" % (name, timeout))
        time.sleep(0.001)


def announce(run, root, name, address):
    """Make the overlay's bridges learn where the vnode is now: one ping from
    inside it (its ARP request and echo carry its MAC across every bridge)."""
    if is_vm(root, name):  # QEMU sends the VM's MAC itself
        try:
            VM.announce(V.vm_files(root, name), name)
            return True
        except VM.VMError:
            return False
    rc, _out, _err = run(["lxc-attach", "-n", name, "-P", root, "--clear-env", "--", "ping", "-c", "1", "-W", "1",
                          address])
    return rc == 0


def freezer_file(run, root, name, sys_cgroup="/sys/fs/cgroup"):
    """The freezer control of the vnode's cgroup: (path, frozen value, thawed
    value), or None. A vnode restored by CRIU comes back frozen in the v1
    freezer while LXC's monitor reports RUNNING: the state is read here."""
    rc, out, _ = run(["lxc-info", "-n", name, "-P", root, "-p", "-H"])
    if rc != 0 or not out.strip().isdigit():
        return None
    try:
        with open("/proc/%s/cgroup" % out.strip()) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        _id, controllers, path = line.split(":", 2)
        if "freezer" in controllers.split(","):
            return os.path.join(sys_cgroup, "freezer", path.lstrip("/"), "freezer.state"), "FROZEN", "THAWED"
    for line in lines:
        _id, controllers, path = line.split(":", 2)
        if _id == "0" and controllers == "":
            candidate = os.path.join(sys_cgroup, path.lstrip("/"), "cgroup.freeze")
            if os.path.exists(candidate):
                return candidate, "1", "0"
    return None


def thaw(run, root, vnodes):
    """Thaw every vnode that is frozen (missing ones are skipped: thaw must
    always be safe to call, also after a failure). Returns the vnodes thawed."""
    thawed = []
    for name in vnodes:
        if is_vm(root, name):
            files = V.vm_files(root, name)
            if VM.pid_of(files) is not None:
                try:
                    if VM.thaw(files, name, announce=True):
                        thawed.append(name)
                except VM.VMError as e:
                    raise HostError(str(e)) from e
            continue
        state = lxc_state(run, root, name)
        if state == "FROZEN":
            _check(run, ["lxc-unfreeze", "-n", name, "-P", root], "thawing vnode %s" % name)
            thawed.append(name)
        control = freezer_file(run, root, name) if state in ("RUNNING", "FROZEN") else None
        if control and os.path.exists(control[0]):
            with open(control[0]) as f:
                current = f.read().strip()
            if current != control[2]:
                with open(control[0], "w") as f:
                    f.write(control[2])
                if name not in thawed:
                    thawed.append(name)
    return thawed


def upper_paths(upper):
    """Every path of the layer, relative, parents before children."""
    paths = []
    for base, dirs, files in os.walk(upper):
        dirs.sort()
        rel = os.path.relpath(base, upper)
        for name in sorted(dirs) + sorted(files):
            paths.append(name if rel == "." else os.path.join(rel, name))
    return paths


def changed_paths(upper, paths, since_ns):
    """The paths whose inode changed (ctime) at or after ``since_ns``."""
    if since_ns is None:
        return list(paths)
    changed = []
    for rel in paths:
        try:
            if os.lstat(os.path.join(upper, rel)).st_ctime_ns >= since_ns:
                changed.append(rel)
        except FileNotFoundError:
            pass
    return changed


def choose_parent(store, cluster, vnode, state, max_chain):
    """The checkpoint the new save can be incremental to, or None (full)."""
    if not state or state.get("ckpt") is None or state.get("since_ns") is None:
        return None
    parent = int(state["ckpt"])
    chain = chain_of(store, cluster, vnode, parent)
    if chain is None or len(chain) >= max_chain:
        return None
    return parent


def chain_of(store, cluster, vnode, ckpt):
    """The ids whose fs saves rebuild ``vnode``'s layer at ``ckpt``, oldest
    first, or None when one is missing here."""
    chain = []
    seen = set()
    while ckpt is not None:
        if ckpt in seen:
            return None
        seen.add(ckpt)
        manifest = read_json(os.path.join(C.vnode_dir(store, cluster, ckpt, vnode), C.MANIFEST))
        if not manifest:
            return None
        chain.append(as_id(ckpt))
        ckpt = manifest.get("parent")
    return list(reversed(chain))


def as_id(ckpt):
    """A checkpoint id as an int; MIGRATE (a migration's dump) stays a name."""
    return int(ckpt) if str(ckpt).isdigit() else ckpt


def dump(run, store, cluster, ckpt, root, vnode, info, max_chain, host, stop=False):
    """Dump one frozen vnode into <store>/<cluster>/<ckpt>/<vnode>: CRIU images
    (the vnode stays frozen; with ``stop``, as for a migration, it is stopped
    after the dump), the layer's changes, meta, manifest last. ``ckpt`` MIGRATE
    is a migration's dump: always full, not a parent of later checkpoints."""
    base = os.path.join(root, vnode)
    upper = os.path.join(base, "upper")
    out = C.vnode_dir(store, cluster, ckpt, vnode)
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out, mode=0o700)
    migration = ckpt == MIGRATE
    state = {} if migration else (read_json(os.path.join(base, FT_STATE)) or {})
    parent = None if migration else choose_parent(store, cluster, vnode, state, max_chain)
    started = time.monotonic()
    stamp_ns = time.time_ns()
    if info.get("backend") == "kvm":
        return dump_vm(run, store, cluster, ckpt, root, vnode, info, host, out, parent, stop)
    images = os.path.join(out, IMAGES)
    os.makedirs(images, mode=0o700)
    # Without -s the vnode is left as it was (frozen: CRIU keeps the freezer state).
    _check(run, ["lxc-checkpoint", "-n", vnode, "-P", root, "-D", images] + (["-s"] if stop else []),
           "CRIU dump of vnode %s (log: %s/dump.log)" % (vnode, images))
    images_s = time.monotonic() - started
    paths = upper_paths(upper)
    changed = changed_paths(upper, paths, state.get("since_ns") if parent is not None else None)
    if parent is not None:
        # Paths the parent did not have (e.g. under a renamed directory: a
        # rename changes the directory's ctime, not its children's).
        known = read_list(os.path.join(C.vnode_dir(store, cluster, parent, vnode), FS_LIST))
        fresh = set(changed)
        changed += [p for p in paths if p not in known and p not in fresh]
        changed.sort(key=paths.index)
    with open(os.path.join(out, FS_LIST), "wb") as f:
        f.write(b"".join(p.encode("utf-8", "surrogateescape") + b"\0" for p in paths))
    listing = os.path.join(out, ".changed")
    with open(listing, "wb") as f:
        f.write(b"".join(p.encode("utf-8", "surrogateescape") + b"\0" for p in changed))
    _check(run, ["tar", "--create", "--file", os.path.join(out, FS_TAR), "--directory", upper, "--no-recursion",
                 "--null", "--files-from", listing, "--sparse"] + TAR_XATTRS,
           "saving the file-system changes of vnode %s" % vnode)
    os.unlink(listing)
    meta = dict(info, vnode=vnode, ckpt=as_id(ckpt), parent=parent, origin=host, time=round(time.time(), 3),
                fs_changed=len(changed), fs_paths=len(paths))
    write_json(os.path.join(out, META), meta)
    manifest = C.write_manifest(out, **meta)
    if not migration:
        # The layer now continues from this checkpoint (a failed checkpoint is
        # never a parent: choose_parent needs its manifest and it is deleted).
        write_json(os.path.join(base, FT_STATE), {"ckpt": int(ckpt), "since_ns": stamp_ns})
    return {"vnode": vnode, "size": manifest["size"], "parent": parent, "fs_changed": len(changed),
            "images_s": round(images_s, 3), "total_s": round(time.monotonic() - started, 3),
            "images_size": sum(v["size"] for k, v in manifest["files"].items() if k.startswith(IMAGES + "/")),
            "fs_size": manifest["files"].get(FS_TAR, {}).get("size", 0)}


def dump_vm(run, store, cluster, ckpt, root, vnode, info, host, out, parent, stop):
    """dump() of a stopped virtual machine: its disk since ``parent`` (all of it without one) and its RAM and
    devices (vm.save), its SSH host key and admin keys, meta, manifest last; with ``stop`` QEMU quits after."""
    started = time.monotonic()
    files = V.vm_files(root, vnode)
    image = V.vm_image_dir(read_text(files["config"]))
    try:
        saved = VM.save(run, files, vnode, out, parent is None, image + "/disk.qcow2")
        if stop:
            VM.stop(run, vnode, files, V.tap_name(vnode))
    except VM.VMError as e:
        raise HostError(str(e)) from e
    meta = dict(info, vnode=vnode, ckpt=as_id(ckpt), parent=parent, origin=host, time=round(time.time(), 3),
                disk_name=saved["disk_name"], disk_backing=saved["disk_backing"], vm_image=image)
    write_json(os.path.join(out, META), meta)
    manifest = C.write_manifest(out, **meta)
    if ckpt != MIGRATE:
        write_json(os.path.join(root, vnode, FT_STATE), {"ckpt": int(ckpt), "since_ns": time.time_ns()})
    return {"vnode": vnode, "size": manifest["size"], "parent": parent, "fs_changed": None,
            "images_s": saved["state_s"], "total_s": round(time.monotonic() - started, 3),
            "images_size": saved["state_size"], "fs_size": manifest["files"].get("disk.qcow2", {}).get("size", 0),
            "disk_s": saved["disk_s"]}


def read_text(path):
    with open(path) as f:
        return f.read()


def vnode_info(root, vnode):
    """What a dump records about the vnode: its base image, IP and MAC (vnode.json); for a virtual machine also
    its backend, memory, vCPUs and acceleration."""
    marker = read_json(os.path.join(root, vnode, "vnode.json")) or {}
    return {k: v for k, v in marker.items() if k in ("image", "ip", "mac", "backend", "memory_mb", "vcpus", "accel")}


def mark(store, cluster, ckpt, marker, members=None):
    """Write PREPARED or COMMITTED: {"time", "members": the hosts that dump}."""
    path = C.ckpt_dir(store, cluster, ckpt)
    os.makedirs(path, mode=0o700, exist_ok=True)
    with open(os.path.join(path, marker), "w") as f:
        json.dump({"time": time.time(), "members": sorted(members or [])}, f)
        f.flush()
        os.fsync(f.fileno())


def marker_members(path):
    """The members a marker names, or None (an older marker: just a time)."""
    data = read_json(path)
    return sorted(data["members"]) if isinstance(data, dict) and data.get("members") else None


def prepare(store, cluster, ckpt, vnodes, members=None):
    """Phase 1: every vnode of this host has a verified copy: PREPARED."""
    problems = []
    for vnode in vnodes:
        problems += ["%s: %s" % (vnode, p) for p in C.verify(C.vnode_dir(store, cluster, ckpt, vnode))]
    if problems:
        raise HostError("checkpoint %s is not complete here: %s" % (ckpt, "; ".join(problems)))
    mark(store, cluster, ckpt, C.PREPARED, members)


def abort(store, cluster, ckpt, force=False):
    """Delete checkpoint ``ckpt`` here unless it is committed here (with
    ``force``, also then: it was not committed on every member). Returns True
    when deleted."""
    path = C.ckpt_dir(store, cluster, ckpt)
    if os.path.exists(os.path.join(path, C.COMMITTED)) and not force:
        return False
    if os.path.isdir(path):
        delete(store, cluster, [ckpt])
        return True
    return False


LAST_ID = "last_id.json"


def delete(store, cluster, ids):
    """Delete checkpoints ``ids`` here; the highest id ever deleted is kept in
    last_id.json (scan reports it), so an id is never used twice."""
    deleted = []
    numeric = [int(i) for i in ids if str(i).isdigit()]
    if numeric and os.path.isdir(os.path.join(store, cluster)):
        last = read_json(os.path.join(store, cluster, LAST_ID)) or {}
        if max(numeric) > int(last.get("last_id", 0)):
            write_json(os.path.join(store, cluster, LAST_ID), {"last_id": max(numeric)})
    for ckpt in ids:
        path = C.ckpt_dir(store, cluster, ckpt)
        if os.path.isdir(path):
            # COMMITTED goes first: a half-deleted checkpoint never looks committed.
            for marker in (C.COMMITTED, C.PREPARED):
                if os.path.exists(os.path.join(path, marker)):
                    os.unlink(os.path.join(path, marker))
            shutil.rmtree(path)
            deleted.append(as_id(ckpt))
    return deleted


# --- receiving replicas ------------------------------------------------------

def write_catalog(store, cluster, catalog):
    """Write the catalog of ``cluster`` here; returns whether it changed."""
    os.makedirs(os.path.join(store, cluster), mode=0o700, exist_ok=True)
    path = os.path.join(store, cluster, C.CATALOG)
    if read_json(path) == catalog:
        return False
    write_json(path, catalog)
    return True


def push(copy, argv_of, run=None):
    """Push the copies of ``copy["vnode"]`` in the checkpoints ``copy["ids"]``
    (oldest first) to ``copy["dst"]``, delta against its copy of
    ``copy["basis"]`` (replication.chain_pushes); ``argv_of(ckpt, basis)``
    gives the command of one push (replication.push_argv, run here, or
    ckpt.push_command, run by the controller over SSH on the source).
    Returns dict(copy, seconds, sent) or dict(copy, error)."""
    run = run or subprocess.run
    start, sent = time.monotonic(), 0
    for ckpt, basis in R.chain_pushes(copy["ids"], copy["vnode"], copy.get("basis")):
        what = "copy of checkpoint %s of %s from %s to %s" % (ckpt, copy["vnode"], copy.get("src"), copy["dst"])
        try:
            argv = argv_of(ckpt, basis)
        except (R.ReplicationError, C.CheckpointError, KeyError) as exc:
            return dict(copy, error="%s: %s" % (what, exc))
        proc = run(argv, stdin=subprocess.DEVNULL, capture_output=True, check=False)
        if proc.returncode:
            err = proc.stderr.decode(errors="replace").strip()
            hint = ("; deploy.yml sets up the replication keys and host keys (run it after adding or rebuilding "
                    "a host)" if proc.returncode == 255 or "Permission denied" in err
                    or "Host key verification failed" in err else "")
            return dict(copy, error="%s failed (rc %d: %s)%s" % (what, proc.returncode, err[-500:], hint))
        sent += R.sent_bytes(proc.stdout.decode(errors="replace")) or 0
    return dict(copy, seconds=round(time.monotonic() - start, 3), sent=sent)


def incoming_dir(store, cluster, ckpt, vnode):
    return os.path.join(C.ckpt_dir(store, cluster, ckpt), ".incoming-" + vnode)


def accept(store, cluster, ckpt, vnode):
    """Verify a received copy (in its incoming dir) and move it into place.
    Returns [] or the problems (the incoming copy is then deleted)."""
    incoming = incoming_dir(store, cluster, ckpt, vnode)
    src = os.path.join(incoming, vnode)
    problems = C.verify(src) if os.path.isdir(src) else ["nothing was received"]
    if not problems:
        final = C.vnode_dir(store, cluster, ckpt, vnode)
        if os.path.isdir(final):
            shutil.rmtree(final)
        os.rename(src, final)
    shutil.rmtree(incoming, ignore_errors=True)
    return problems


# --- restore -----------------------------------------------------------------

def stop_vnode(run, root, name, veth):
    """Stop and unmount a vnode instance, keep nothing of it but its config dir."""
    if is_vm(root, name):
        try:
            VM.stop(run, name, V.vm_files(root, name), V.tap_name(name))
        except VM.VMError as e:
            raise HostError(str(e)) from e
        return
    state = lxc_state(run, root, name)
    if state == "FROZEN":
        run(["lxc-unfreeze", "-n", name, "-P", root])
    if state not in ("STOPPED", "ABSENT"):
        _check(run, ["lxc-stop", "-n", name, "-P", root, "-k"], "stopping vnode %s" % name)
    rootfs = os.path.join(root, name, "rootfs")
    if is_mounted(rootfs):
        _check(run, ["umount", rootfs], "unmounting the root file system of %s" % name)
    if run(["ip", "link", "show", veth])[0] == 0:
        run(["ip", "link", "del", veth])


def stop_all(run, root, keep):
    """Stop every vnode of the project under ``root``; remove those not in
    ``keep`` (restored elsewhere). Returns the vnodes stopped or removed."""
    done = []
    for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        if os.path.isfile(os.path.join(root, name, V.MARKER)):
            if name in keep:
                stop_vnode(run, root, name, V.veth_name(name))
            else:
                remove_vnode(run, root, name, V.veth_name(name))
            done.append(name)
    return done


def remove_vnode(run, root, name, veth):
    stop_vnode(run, root, name, veth)
    if os.path.isdir(os.path.join(root, name)):
        shutil.rmtree(os.path.join(root, name))


def is_mounted(path):
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


def read_list(path):
    """The paths of an fs.list (NUL-separated)."""
    with open(path, "rb") as f:
        return {p.decode("utf-8", "surrogateescape") for p in f.read().split(b"\0") if p}


def clear_type_changes(archive, upper):
    """Remove what a save replaces by another kind of file (a directory that
    became a file, a file that became a directory): tar cannot extract over it."""
    with tarfile.open(archive) as tar:
        for member in tar:
            path = os.path.join(upper, member.name)
            if not os.path.lexists(path):
                continue
            is_dir = os.path.isdir(path) and not os.path.islink(path)
            if is_dir and not member.isdir():
                shutil.rmtree(path)
            elif not is_dir and member.isdir():
                os.unlink(path)


def rebuild_layer(run, store, cluster, ckpt, vnode, upper):
    """Rebuild the vnode's layer at ``ckpt`` from its chain of saves."""
    chain = chain_of(store, cluster, vnode, ckpt)
    if chain is None:
        raise HostError("the file-system chain of %s at checkpoint %s is incomplete on this host" % (vnode, ckpt))
    if os.path.isdir(upper):
        shutil.rmtree(upper)
    os.makedirs(upper, mode=0o755)
    for cid in chain:
        clear_type_changes(os.path.join(C.vnode_dir(store, cluster, cid, vnode), FS_TAR), upper)
        _check(run, ["tar", "--extract", "--file", os.path.join(C.vnode_dir(store, cluster, cid, vnode), FS_TAR),
                     "--directory", upper, "--same-permissions"] + TAR_XATTRS,
               "restoring the file-system save %s of vnode %s" % (cid, vnode))
    keep = read_list(os.path.join(C.vnode_dir(store, cluster, ckpt, vnode), FS_LIST))
    for rel in reversed(upper_paths(upper)):
        if rel not in keep:
            path = os.path.join(upper, rel)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
    return chain


def restore_vnode(run, store, cluster, ckpt, root, vnode, spec, image, config, marker, veth, bridge):
    """Make the vnode run from checkpoint ``ckpt`` on this host, FROZEN.

    ``config``/``marker``: the LXC configuration and vnode.json for this host.
    CRIU's dump was taken frozen, so the restored processes stay frozen until
    ``thaw``: the cluster resumes as a whole."""
    started = time.monotonic()
    base = os.path.join(root, vnode)
    remove_vnode(run, root, vnode, veth)
    for sub in ("work", "rootfs"):
        os.makedirs(os.path.join(base, sub), mode=0o755, exist_ok=True)
    chain = rebuild_layer(run, store, cluster, ckpt, vnode, os.path.join(base, "upper"))
    fs_s = time.monotonic() - started
    _check(run, ["mount", "-t", "overlay", "overlay", "-o",
                 "lowerdir=%s,upperdir=%s/upper,workdir=%s/work" % (image, base, base),
                 os.path.join(base, "rootfs")], "mounting the root file system of %s" % vnode)
    with open(os.path.join(base, "config"), "w") as f:
        f.write(config)
    write_json(os.path.join(base, "vnode.json"), marker)
    images = os.path.join(C.vnode_dir(store, cluster, ckpt, vnode), IMAGES)
    log = os.path.join(base, "restore.log")
    # The restored LXC monitor keeps the caller's stdout/stderr: give it a
    # file, never a pipe (a reader would wait for EOF forever).
    with open(log, "w") as out:
        rc, _o, _e = run(["lxc-checkpoint", "-r", "-n", vnode, "-P", root, "-D", images], stdout=out, stderr=out)
    if rc != 0:
        with open(log) as f:
            tail = f.read()[-1500:]
        raise HostError("CRIU restore of vnode %s from checkpoint %s failed (rc %d; %s/restore.log, %s/restore.log "
                        "in the images): %s" % (vnode, ckpt, rc, base, images, tail.strip()))
    for name in ("restore.log", "stats-restore"):  # CRIU's log and statistics of this restore: not data
        if os.path.exists(os.path.join(images, name)):
            shutil.move(os.path.join(images, name), os.path.join(base, "criu-" + name))
    # LXC does not run lxc.net.0.script.up on a restore: attach the veth.
    _check(run, ["ip", "link", "set", veth, "master", bridge, "up"], "attaching %s to %s" % (veth, bridge))
    # The next checkpoint is incremental to this one (a migrated vnode's is full).
    write_json(os.path.join(base, FT_STATE), {"ckpt": None if ckpt == MIGRATE else int(ckpt),
                                               "since_ns": time.time_ns()})
    state = lxc_state(run, root, vnode)
    return {"vnode": vnode, "chain": chain, "fs_s": round(fs_s, 3), "total_s": round(time.monotonic() - started, 3),
            "state": state}


def restore_one(run, store, cluster, ckpt, root, vnode, net):
    """Restore ``vnode`` ({name, ip}) from checkpoint ``ckpt`` here, frozen,
    on the base image its checkpoint was made on. ``net``: {prefix, mtu,
    bridge, net_up, image_dir, image_suite}."""
    name = vnode["name"]
    spec = {"name": name, "ip": vnode["ip"], "prefix": int(net["prefix"]), "mtu": int(net["mtu"]),
            "bridge": net.get("bridge") or "vcbr0", "net_up": net["net_up"]}
    meta = read_json(os.path.join(C.vnode_dir(store, cluster, ckpt, name), META)) or {}
    if meta.get("backend") == "kvm":
        return restore_vm(run, store, cluster, ckpt, root, spec, meta)
    image_id = meta.get("image")
    image = os.path.join(net.get("image_dir") or "/var/lib/vcluster/images",
                         "%s-%s" % (net.get("image_suite") or "bookworm", image_id))
    if not image_id or not os.path.isfile(os.path.join(image, ".vcluster-image")):
        raise HostError("the base image %s of %s (checkpoint %s) is not on this host: deploy.yml builds it"
                        % (image, name, ckpt))
    return restore_vnode(run, store, cluster, ckpt, root, name, spec, image, V.lxc_config(spec, root),
                         V.marker(spec, image_id), V.veth_name(name), spec["bridge"])


def restore_vm(run, store, cluster, ckpt, root, spec, meta):
    """restore_one() of a virtual machine: its disk laid out again from the chain of saves (linked, not copied),
    QEMU started on this host with the same devices and the saved RAM and devices loaded, stopped until thaw."""
    started = time.monotonic()
    name, image = spec["name"], meta.get("vm_image") or ""
    if not os.path.isfile(os.path.join(image, ".vcluster-image")):
        raise HostError("the virtual machines' image %s of %s (checkpoint %s) is not on this host: deploy.yml "
                        "builds it on every host of a cluster with virtual machines" % (image, name, ckpt))
    chain = chain_of(store, cluster, name, ckpt)
    if chain is None:
        raise HostError("the disk chain of %s at checkpoint %s is incomplete on this host" % (name, ckpt))
    remove_vnode(run, root, name, V.veth_name(name))
    saves = [(C.vnode_dir(store, cluster, cid, name),
              (read_json(os.path.join(C.vnode_dir(store, cluster, cid, name), META)) or {}).get("disk_name"))
             for cid in chain]
    files = V.vm_files(root, name)
    try:
        VM.lay_out(run, files, name, saves, image + "/disk.qcow2")
        fs_s = time.monotonic() - started
        with open(files["admin_keys"]) as f:
            admin_keys = [line.strip() for line in f if line.strip()]
        spec = dict(spec, backend="kvm", memory_mb=meta.get("memory_mb") or 512, vcpus=meta.get("vcpus") or 1,
                    accel=meta.get("accel") or "tcg", admin_keys=admin_keys)
        config = V.config_text(spec, root, {"image": image, "accel": spec["accel"]})
        with open(files["config"], "w") as f:
            f.write(config)
        write_json(os.path.join(root, name, V.MARKER), V.marker(spec, meta.get("image")))
        VM.plug(run, name, V.tap_name(name), spec["bridge"], spec["mtu"])
        VM.load(run, name, config.splitlines(), files, os.path.join(C.vnode_dir(store, cluster, ckpt, name),
                                                                    "state"))
    except VM.VMError as e:
        raise HostError("restoring the virtual machine %s from checkpoint %s failed: %s" % (name, ckpt, e)) from e
    write_json(os.path.join(root, name, FT_STATE), {"ckpt": None if ckpt == MIGRATE else int(ckpt),
                                                    "since_ns": time.time_ns()})
    return {"vnode": name, "chain": chain, "fs_s": round(fs_s, 3), "total_s": round(time.monotonic() - started, 3),
            "state": "FROZEN"}


# --- checkpoints requested from inside a vnode -------------------------------
#
# A job asks for a checkpoint with /usr/local/bin/vcluster-checkpoint inside
# its vnode: it writes <token>.req into REQUEST_DIR and waits for
# <token>.ckpt, which holds the id of the checkpoint that honoured it. Plain
# files, not a FIFO or a socket: the waiting process is frozen and dumped by
# the very checkpoint it asked for, and CRIU cannot dump a process holding one
# end of a pipe or socket whose other end is outside its container. The host
# sees the files through the vnode's mounted root file system.

REQUEST_DIR = "var/lib/vcluster/ckpt-requests"
REQUEST_SUFFIX = ".req"
ANSWER_SUFFIX = ".ckpt"


def valid_token(token):
    return bool(token) and len(token) <= 128 and token[0] not in ".-" and \
        all(c.isalnum() or c in "._-" for c in token)


def request_dir(root, vnode):
    """The vnode's request directory seen from the host, or None when it is
    not there or leaves the vnode's root (a symbolic link made inside the
    vnode is resolved against the host's root: never followed)."""
    rootfs = os.path.join(root, vnode, "rootfs")
    path = os.path.join(rootfs, REQUEST_DIR)
    if not os.path.isdir(path) or os.path.realpath(path) != os.path.join(os.path.realpath(rootfs), REQUEST_DIR):
        return None
    return path


def pending_requests(root):
    """Every request waiting in the vnodes under ``root``: [{vnode, token}]."""
    out = []
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return out
    for vnode in names:
        path = request_dir(root, vnode)
        if path is None:
            continue
        try:
            files = sorted(os.listdir(path))
        except OSError:
            continue
        for name in files:
            token = name[:-len(REQUEST_SUFFIX)]
            if name.endswith(REQUEST_SUFFIX) and valid_token(token):
                out.append({"vnode": vnode, "token": token})
    return out


def answer_request(root, vnode, token, ckpt):
    """Write the answer (the checkpoint id) where the requester waits for it,
    then remove the request. False when the vnode or its request is gone."""
    path = request_dir(root, vnode)
    if path is None or not valid_token(token):
        return False
    request = os.path.join(path, token + REQUEST_SUFFIX)
    if not os.path.lexists(request):
        return False
    tmp = os.path.join(path, ".%s.tmp" % token)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w") as f:
        f.write("%d\n" % int(ckpt))
    os.rename(tmp, os.path.join(path, token + ANSWER_SUFFIX))
    os.unlink(request)
    return True
