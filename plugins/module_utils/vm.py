"""Virtual machines (QEMU) as vnodes on their host: plain Python, no Ansible.

The module ``vcluster.cluster.vnode`` calls these for its kvm vnodes, and
``ft_host`` for their checkpoints, restores and migrations. They run on the host, in its network
namespace (the VM's tap joins the host's overlay bridge there), and call
commands through ``run(argv) -> (rc, stdout, stderr)`` like ``ft_host``.
The files of a VM are named by ``vnode.vm_files``; its command line by
``vnode.qemu_argv``.

QEMU is started with ``setsid -f`` (its own session, re-parented to init, its
output in ``qemu.log``: ``-daemonize`` would hide its errors) and is ready
when the guest's init writes ``vnode.READY`` to the serial console, which is
appended to ``serial.log`` across boots.
"""

import json
import os
import shlex
import shutil
import signal
import time

from ansible_collections.vcluster.cluster.plugins.module_utils import qmp as Q
from ansible_collections.vcluster.cluster.plugins.module_utils import vnode as V

# Memory the host keeps for itself besides its virtual machines (MiB).
HOST_RESERVE_MB = 256


class VMError(RuntimeError):
    """A step on a virtual machine failed (the message names the vnode)."""


def _check(run, argv, what):
    rc, out, err = run(argv)
    if rc != 0:
        raise VMError("%s failed (rc %d): %s" % (what, rc, (err or out or "").strip()[-1500:]))
    return out


def pid_of(files):
    """The PID of the VM's QEMU when it runs (its pidfile names a live QEMU of this VM), else None."""
    try:
        with open(files["pid"]) as f:
            pid = int(f.read().strip() or 0)
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv = f.read().split(b"\0")
    except (OSError, ValueError):
        return None
    return pid if pid > 0 and files["qmp"].encode() in b" ".join(argv) else None


def tail(path, limit=1500):
    """The end of a log file, for an error message."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - limit))
            return f.read().decode(errors="replace").strip()
    except OSError:
        return ""


def free_memory_mb(meminfo="/proc/meminfo"):
    """MemAvailable of the host, in MiB."""
    with open(meminfo) as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) // 1024
    return 0


def resource_errors(starting, free_mb, cpus):
    """Why the VMs ``starting`` ([{name, memory_mb, vcpus}]) cannot start on a host with ``free_mb`` MiB available
    and ``cpus`` CPUs: one line each, naming the vnode and the fix."""
    errors = []
    for spec in starting:
        if spec["vcpus"] > cpus:
            errors.append("vnode %s asks for %d vCPUs but its host has %d CPUs; set vcpus: %d or less on it in "
                          "vc_vnodes" % (spec["name"], spec["vcpus"], cpus, cpus))
    want = sum(spec["memory_mb"] for spec in starting)
    if starting and want > free_mb - HOST_RESERVE_MB:
        errors.append("vnode%s %s need%s %d MiB but the host has %d MiB available (keeping %d for itself); lower "
                      "memory_mb in vc_vnodes or place some on another host"
                      % ("s" if len(starting) > 1 else "", ", ".join(s["name"] for s in starting),
                         "" if len(starting) > 1 else "s", want, free_mb, HOST_RESERVE_MB))
    return errors


def prepare(run, files, name, image, admin_keys):
    """The VM's directory, disk (its first layer, made once), SSH host key (made once) and the admin keys file."""
    os.makedirs(files["dir"], mode=0o700, exist_ok=True)
    if not os.path.lexists(files["disk"]):
        point_disk(files, new_layer(run, files, name, image + "/disk.qcow2"))
    if not os.path.exists(files["host_key"]):
        _check(run, ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "root@" + name, "-f", files["host_key"]],
               "making the SSH host key of %s" % name)
    with open(files["admin_keys"], "w") as f:
        f.write("".join(key.strip() + "\n" for key in admin_keys))
    os.chmod(files["admin_keys"], 0o644)


# --- the disk: a chain of qcow2 layers ------------------------------------
#
# The VM writes to its top layer; <dir>/disk.qcow2 is a symbolic link to it
# (QEMU's command line names the link). A checkpoint makes a new top layer
# (QMP blockdev-snapshot-sync onto a file made beforehand) and keeps the one
# below as it is at that instant: the checkpoint's disk save. Layers name
# their backing layer by its file name alone (relative: the chain can be laid
# out again in any VM directory); the first layer names the image's disk by
# its absolute path (the same on every host).

def new_layer(run, files, name, backing, size=None):
    """A new, empty layer backed by ``backing`` (a layer's file name, or the image's disk); returns its path."""
    path = os.path.join(files["dir"], "layer-%d.qcow2" % time.time_ns())
    argv = ["qemu-img", "create", "-q", "-f", "qcow2", "-b", backing, "-F", "qcow2"]
    if size is not None:  # the backing layer is open in QEMU: do not open it again
        argv += ["-u", path, str(size)]
    else:
        argv += [path]
    _check(run, argv, "making a disk layer of %s" % name)
    return path


def point_disk(files, layer):
    """Make disk.qcow2 name ``layer`` (atomically)."""
    tmp = files["disk"] + ".new"
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(os.path.basename(layer), tmp)
    os.rename(tmp, files["disk"])


def image_info(run, path):
    """qemu-img's description of a layer (also while QEMU has it open)."""
    rc, out, err = run(["qemu-img", "info", "-U", "--output=json", path])
    if rc != 0:
        raise VMError("reading the disk layer %s failed: %s" % (path, (err or out).strip()[-500:]))
    return json.loads(out)


def link_or_copy(src, dst):
    """A hard link (a layer is never written once it is below the top), else a copy."""
    if os.path.exists(dst):
        os.unlink(dst)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def qmp(files, timeout=30.0):
    """A QMP session with the VM's QEMU (a context manager)."""
    return Q.QMP(files["qmp"], timeout=timeout)


def _announce(q):
    # QEMU sends the VM's MAC (RARP) three times: the overlay's bridges learn where it runs now
    q.execute("announce-self", initial=50, max=550, rounds=3, step=100)


def announce(files, name):
    """Make the overlay's bridges learn where the running VM is (QMP announce-self)."""
    try:
        with qmp(files) as q:
            _announce(q)
    except (Q.QMPError, OSError) as e:
        raise VMError("announcing the virtual machine %s failed: %s" % (name, e)) from e


def freeze(files, name):
    """Stop the VM's CPUs (QMP stop); a VM already stopped stays so."""
    try:
        with qmp(files) as q:
            if q.status() == "running":
                q.stop()
    except (Q.QMPError, OSError) as e:
        raise VMError("freezing the virtual machine %s failed: %s" % (name, e)) from e


def thaw(files, name, announce=False):
    """Resume the VM (QMP cont) if it is stopped; with ``announce``, make the bridges learn where it runs
    (announce-self: QEMU sends its MAC). Returns True when it resumed it."""
    try:
        with qmp(files) as q:
            if q.status() in ("paused", "postmigrate", "prelaunch"):
                q.cont()
                if announce:
                    _announce(q)
                return True
    except (Q.QMPError, OSError) as e:
        raise VMError("resuming the virtual machine %s failed: %s" % (name, e)) from e
    return False


def save(run, files, name, out, full, image_disk):
    """Save the stopped VM into the directory ``out``: its disk as it is now (disk.qcow2: the layer written since
    the previous checkpoint, or with ``full`` every layer merged above the image's disk) and its RAM and devices
    (state, QEMU's migration stream). The VM goes on with a new top layer. Returns what the checkpoint's meta
    records: {disk_name, disk_backing, disk_s, state_s, state_size}."""
    started = time.monotonic()
    top = os.path.realpath(files["disk"])
    info = image_info(run, top)
    layer = new_layer(run, files, name, os.path.basename(top), info["virtual-size"])
    try:
        with qmp(files, timeout=600) as q:
            q.snapshot_disk(q.top_node("vda"), layer, existing=True)
            point_disk(files, layer)
            saved = os.path.join(out, "disk.qcow2")
            backing = info.get("backing-filename")
            if full and backing != image_disk:
                merge(run, files, name, top, image_disk, saved)
                backing = image_disk
            else:
                link_or_copy(top, saved)
            disk_s = time.monotonic() - started
            state = os.path.join(out, "state")
            q.save_state(Q.exec_save_uri(state))
    except (Q.QMPError, OSError) as e:
        raise VMError("saving the virtual machine %s failed: %s" % (name, e)) from e
    for path in key_files(files):
        shutil.copy2(path, os.path.join(out, os.path.basename(path)))
    return {"disk_name": os.path.basename(top), "disk_backing": backing, "disk_s": round(disk_s, 3),
            "state_s": round(time.monotonic() - started - disk_s, 3), "state_size": os.path.getsize(state)}


def merge(run, files, name, top, image_disk, dest):
    """``dest``: the layer ``top`` with every layer below it merged in, on the image's disk (a copy made in the
    VM's directory, where the chain's relative names resolve; the chain itself is not touched)."""
    merged = os.path.join(files["dir"], ".full-%s" % os.path.basename(top))
    shutil.copy2(top, merged)
    try:
        _check(run, ["qemu-img", "rebase", "-U", "-f", "qcow2", "-b", image_disk, "-F", "qcow2", merged],
               "merging the disk layers of %s" % name)
        os.rename(merged, dest)
    finally:
        if os.path.exists(merged):
            os.unlink(merged)


def lay_out(run, files, name, saves, image_disk):
    """Lay the VM's disk out again from checkpoint saves: ``saves`` [(directory of a save, its disk_name)], oldest
    first (the first one backed by the image's disk), each linked under its own name, and a new top layer."""
    os.makedirs(files["dir"], mode=0o700, exist_ok=True)
    for directory, disk_name in saves:
        link_or_copy(os.path.join(directory, "disk.qcow2"), os.path.join(files["dir"], disk_name))
    point_disk(files, new_layer(run, files, name, saves[-1][1] if saves else image_disk))
    last = saves[-1][0]
    for path in key_files(files):
        if os.path.exists(os.path.join(last, os.path.basename(path))):
            shutil.copy2(os.path.join(last, os.path.basename(path)), path)
    os.chmod(files["host_key"], 0o600)
    host_key(files, run)  # the .pub, from the private key (a checkpoint may lack it)


def load(run, name, argv, files, state, timeout=600):
    """Start QEMU with ``argv`` waiting for a saved state, load ``state`` into it, leave it stopped ("paused")."""
    launch(run, name, argv + ["-S", "-incoming", "defer"], files)
    deadline = time.monotonic() + 30
    while not os.path.exists(files["qmp"]):
        if time.monotonic() > deadline or (os.path.exists(files["pid"]) and pid_of(files) is None):
            raise VMError("QEMU of %s did not start: %s" % (name, tail(files["log"], 600) or "no output"))
        time.sleep(0.02)
    try:
        with qmp(files, timeout=timeout) as q:
            q.migrate_incoming(Q.exec_load_uri(state))
            q.wait_status(("paused",), timeout=timeout)
    except (Q.QMPError, OSError) as e:
        raise VMError("loading the saved state of %s failed: %s (QEMU: %s)" % (name, e, tail(files["log"], 400)))


def key_files(files):
    """The VM's files a checkpoint carries besides its disk and state: its SSH host key (the guest has it on its
    disk anyway; QEMU hands it over again on a restore) and the admin keys."""
    return [files["host_key"], files["host_key"] + ".pub", files["admin_keys"]]


def host_key(files, run=None):
    """The VM's public SSH host key ('ssh-ed25519 AAAA...'), read from its .pub or, with ``run``, derived from
    the private key when the .pub is missing; None when there is no key yet."""
    pub = files["host_key"] + ".pub"
    if not os.path.exists(pub) and run is not None and os.path.exists(files["host_key"]):
        with open(pub, "w") as f:
            f.write(_check(run, ["ssh-keygen", "-y", "-f", files["host_key"]], "reading an SSH host key"))
    if not os.path.exists(pub):
        return None
    with open(pub) as f:
        return " ".join(f.read().split()[:2])


def plug(run, name, tap, bridge, mtu):
    """A fresh tap for the VM on the overlay bridge."""
    if run(["ip", "link", "show", tap])[0] == 0:
        run(["ip", "link", "del", tap])
    _check(run, ["ip", "tuntap", "add", "dev", tap, "mode", "tap"], "making the tap of %s" % name)
    _check(run, ["ip", "link", "set", "dev", tap, "mtu", str(mtu), "master", bridge, "up"],
           "attaching the tap of %s to %s" % (name, bridge))


def launch(run, name, argv, files, cpus=None):
    """Start QEMU in the background in its own session; returns the serial log's size before it started (the
    ready line comes after it)."""
    try:
        offset = os.path.getsize(files["serial"])
    except OSError:
        offset = 0
    for leftover in ("pid", "qmp"):
        if os.path.exists(files[leftover]):
            os.unlink(files[leftover])
    cpus = cpus or os.cpu_count() or 1
    with open(files["log"], "ab") as log:
        log.write(("--- %s: %s\n" % (time.strftime("%F %T"), " ".join(argv))).encode())
    # on every CPU (what Ansible starts may be pinned to some; QEMU would inherit it)
    shell = 'exec "$@" >>%s 2>&1 </dev/null' % shlex.quote(files["log"])
    _check(run, ["setsid", "-f", "taskset", "-c", "0-%d" % (cpus - 1), "sh", "-c", shell, "qemu"] + argv,
           "starting the virtual machine %s (log: %s)" % (name, files["log"]))
    return offset


def wait_ready(name, files, offset, timeout, poll=0.25, started=None):
    """Wait until the guest's init reports ready on the serial console; raise with the console's and QEMU's last
    lines when QEMU exits or ``timeout`` passes."""
    started = started or time.monotonic()
    seen_pid = False
    while True:
        try:
            with open(files["serial"], "rb") as f:
                f.seek(offset)
                if V.READY.encode() in f.read():
                    return time.monotonic() - started
        except OSError:
            pass
        alive = pid_of(files) is not None
        seen_pid = seen_pid or alive
        waited = time.monotonic() - started
        if (seen_pid and not alive) or (not seen_pid and waited > 10):
            raise VMError("the virtual machine %s stopped while booting; QEMU said: %s; console: %s"
                          % (name, tail(files["log"], 600) or "nothing", tail(files["serial"], 600) or "nothing"))
        if waited > timeout:
            raise VMError("the virtual machine %s did not finish booting in %d s (its console, %s, ends with: %s)"
                          % (name, timeout, files["serial"], tail(files["serial"], 600) or "nothing"))
        time.sleep(poll)


def _gone(files, pid, seconds):
    deadline = time.monotonic() + seconds
    while pid_of(files) == pid:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def stop(run, name, files, tap, grace=5.0):
    """Stop the VM (QMP quit, else SIGTERM, then SIGKILL, ``grace`` seconds each) and remove its tap. QEMU
    flushes its disk as it quits."""
    pid = pid_of(files)
    if pid is not None:
        if os.path.exists(files["qmp"]):
            try:
                with qmp(files, timeout=grace) as q:
                    q.quit()
            except (Q.QMPError, OSError):
                pass
        for sig in (None, signal.SIGTERM, signal.SIGKILL):
            if sig is not None:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    break
            if _gone(files, pid, grace):
                break
        else:
            raise VMError("the virtual machine %s (PID %d) does not stop" % (name, pid))
    for leftover in ("pid", "qmp"):
        if os.path.exists(files[leftover]):
            os.unlink(files[leftover])
    if run(["ip", "link", "show", tap])[0] == 0:
        run(["ip", "link", "del", tap])
