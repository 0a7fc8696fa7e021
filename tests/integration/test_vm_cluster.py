"""Virtual machines as vnodes, end to end, on the mixed cluster of
molecule/vnode-kvm/inventory (two sites; on each compute host one LXC
container and one QEMU virtual machine): a long deterministic MPI job (heat)
runs across all four; two checkpoints; the host of a virtual machine is killed
and restore.yml brings the VM back at the other site, its clock right; then,
while a second job runs, a VM is migrated to the other site, checkpointed (a
full, merged save), and its host is killed in the middle of the next
checkpoint's dump: that checkpoint is aborted and the restore goes back to the
merged one. Each job's result is byte-identical to a failure-free run's. destroy.yml leaves no QEMU, tap or
namespace behind. (The Molecule scenario vnode-kvm checks deploy, idempotence,
IPs, MACs and NPB across containers and VMs.)"""

import ipaddress
import json
import os
import pathlib
import re
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PLAYBOOK = str(pathlib.Path(sys.executable).parent / "ansible-playbook")
INVENTORY = str(ROOT / "molecule" / "vnode-kvm" / "inventory")
STATE_DIR = "/var/lib/vcluster/molecule-vnode-kvm"
FT_DIR = "/var/lib/vcluster/ft/mkv"
KEY = STATE_DIR + "/controller/id_ed25519"
VNODES = {"mk-vn1": ("mk-h1", "10.229.0.11"), "mk-vm1": ("mk-h1", "10.229.0.12"),
          "mk-vn2": ("mk-h2", "10.229.0.21"), "mk-vm2": ("mk-h2", "10.229.0.22")}
HEAT = {"size": 64, "steps": 1500, "every": 100, "sleep": 0.05}  # about 100 s across the four vnodes (TCG)

pytestmark = pytest.mark.slow


def playbook(*args, timeout=1800):
    proc = subprocess.run([PLAYBOOK, "-i", INVENTORY, *args], cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout, check=False)
    return proc.returncode, proc.stdout


def placement():
    with open(FT_DIR + "/catalog.json") as f:
        return json.load(f).get("placement") or {}


def link_local(ip):
    mac = [2, 0x56] + [int(b) for b in ip.split(".")]
    return str(ipaddress.IPv6Address(bytes([0xFE, 0x80] + [0] * 6 + [mac[0] ^ 2] + mac[1:3] + [0xFF, 0xFE]
                                           + mac[3:])))


def in_vm(vm, command):
    """A command in a VM, over SSH from the host it runs on (host key checked)."""
    host = placement().get(vm, VNODES[vm][0])
    return subprocess.run(["nsenter", "--net=/run/netns/vcl-" + host, "ssh", "-i", KEY, "-o", "BatchMode=yes",
                           "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=%s/vm_known_hosts" % FT_DIR,
                           "-o", "HostKeyAlias=" + vm, "root@%s%%vcbr0" % link_local(VNODES[vm][1]), command],
                          capture_output=True, text=True, timeout=120, check=False)


def qemu_pid(vm, host):
    try:
        pid = int(pathlib.Path(STATE_DIR, "hosts", host, "vnodes", vm, "qemu.pid").read_text())
        return pid if b"qemu-system" in pathlib.Path("/proc/%d/cmdline" % pid).read_bytes() else None
    except (OSError, ValueError):
        return None


def start_job():
    rc, out = playbook("run.yml", "-e", "job=heat", "-e", json.dumps({"params": HEAT}))
    assert rc == 0, out[-5000:]
    return int(re.search(r"Job (\d+) \(heat", out).group(1))


def result_of(job):
    rc, out = playbook("jobs.yml", "-e", "id=%d" % job, "-e", "wait=true", "-e", "timeout=900")
    assert rc == 0 and "heat: succeeded" in out, out[-5000:]
    host = placement().get("mk-vn1", "mk-h1")
    got = subprocess.run(["nsenter", "--net=/run/netns/vcl-" + host, "lxc-attach", "-n", "mk-vn1", "-P",
                          "%s/hosts/%s/vnodes" % (STATE_DIR, host), "--clear-env", "--", "cat",
                          "/var/lib/vcjob/%d/result.txt" % job], capture_output=True, text=True, check=False)
    assert got.returncode == 0, got.stderr
    return got.stdout


def checkpoint():
    rc, out = playbook("checkpoint.yml")
    assert rc == 0, out[-8000:]
    with open(FT_DIR + "/results/checkpoint.json") as f:
        done = json.load(f)
    assert done["committed"], done
    return done


@pytest.fixture(scope="module", name="reference")
def fixture_reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("heat") / "result.txt"
    subprocess.run(["/usr/bin/python3", str(ROOT / "roles/mpi/files/workloads/heat.py"), "--size",
                    str(HEAT["size"]), "--steps", str(HEAT["steps"]), "--every", str(HEAT["every"]), "--result",
                    str(out)], check=True, capture_output=True, timeout=300)
    return out.read_text()


@pytest.fixture(scope="module", name="cluster")
def fixture_cluster():
    rc, out = playbook("destroy.yml")
    assert rc == 0, out[-5000:]
    rc, out = playbook("deploy.yml")
    assert rc == 0, out[-8000:]
    yield
    rc, out = playbook("destroy.yml")
    assert rc == 0, out[-5000:]


def test_vm_host_killed_restored_at_the_other_site_then_a_vm_migrates_results_identical(cluster, reference):
    job = start_job()
    time.sleep(8)
    first = checkpoint()
    time.sleep(5)
    second = checkpoint()
    assert second["id"] > first["id"]
    # A VM's checkpoint: its disk since the previous one (a small qcow2 layer) and its RAM and devices.
    saved = pathlib.Path(STATE_DIR, "hosts", "mk-h2", "disk", "mkv", str(second["id"]), "mk-vm2")
    meta = json.loads((saved / "meta.json").read_text())
    assert meta["backend"] == "kvm" and meta["parent"] == first["id"], meta
    assert (saved / "state").stat().st_size > 1 << 20 and (saved / "disk.qcow2").stat().st_size < 64 << 20
    assert (saved / "ssh_host_ed25519_key").stat().st_mode & 0o077 == 0

    kill = subprocess.run([str(ROOT / "scripts/fault"), "kill", "mk-h2", "--state-dir", STATE_DIR],
                          capture_output=True, text=True, timeout=120, check=False)
    assert kill.returncode == 0, kill.stdout + kill.stderr
    rc, out = playbook("restore.yml")
    assert rc == 0, out[-8000:]
    assert "restoring checkpoint %d; hosts down: mk-h2" % second["id"] in out, out[-5000:]
    assert placement()["mk-vm2"] == "mk-h1" and qemu_pid("mk-vm2", "mk-h1"), placement()
    assert result_of(job) == reference
    # The restored VM's clock is the host's again (it resumed behind by the time it spent saved).
    guest = in_vm("mk-vm2", "date +%s")
    assert guest.returncode == 0, guest.stderr
    assert abs(int(guest.stdout) - time.time()) < 5, guest.stdout
    serial = pathlib.Path(STATE_DIR, "hosts", "mk-h1", "vnodes", "mk-vm2", "serial.log").read_text(errors="replace")
    assert "clock set from the RTC" in serial

    # The killed host comes back empty; the restored vnodes go on where they run (the VMs are not restarted);
    # then a VM moves to it, across the sites, while a job runs.
    pids = {vm: qemu_pid(vm, "mk-h1") for vm in ("mk-vm1", "mk-vm2")}
    rc, out = playbook("deploy.yml")
    assert rc == 0, out[-8000:]
    assert {vm: qemu_pid(vm, "mk-h1") for vm in ("mk-vm1", "mk-vm2")} == pids
    job = start_job()
    time.sleep(8)
    rc, out = playbook("migrate.yml", "-e", "vnode=mk-vm1", "-e", "to=mk-h2")
    assert rc == 0 and "mk-vm1 moved from mk-h1 to mk-h2 with its IP 10.229.0.12" in out, out[-8000:]
    assert qemu_pid("mk-vm1", "mk-h2") and not qemu_pid("mk-vm1", "mk-h1")
    eth0 = in_vm("mk-vm1", "ip -o link show eth0; ip -o addr show eth0")
    assert "02:56:0a:e5:00:0c" in eth0.stdout and "10.229.0.12/24" in eth0.stdout, eth0.stdout + eth0.stderr
    # A migrated VM's next save is its whole disk merged into one layer on the image (no parent here).
    third = checkpoint()
    saved = pathlib.Path(STATE_DIR, "hosts", "mk-h2", "disk", "mkv", str(third["id"]), "mk-vm1")
    meta = json.loads((saved / "meta.json").read_text())
    assert meta["parent"] is None and meta["disk_backing"].endswith("/disk.qcow2"), meta
    # The VM's host dies in the middle of its dump: that checkpoint is aborted everywhere, the others thaw,
    # and the restore goes back to the merged save.
    dump_fault = subprocess.Popen([str(ROOT / "scripts/fault"), "kill", "mk-h2", "--when", "dump", "--timeout", "120",
                                   "--state-dir", STATE_DIR], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True)
    time.sleep(1)
    rc, out = playbook("checkpoint.yml")
    killed = dump_fault.communicate(timeout=180)[0]
    assert dump_fault.returncode == 0 and "killed mk-h2 at dump" in killed, killed
    assert rc != 0 and "aborted and deleted" in out, out[-5000:]
    with open(FT_DIR + "/catalog.json") as f:
        assert str(third["id"] + 1) not in json.load(f)["checkpoints"]
    rc, out = playbook("restore.yml")
    assert rc == 0 and "restoring checkpoint %d; hosts down: mk-h2" % third["id"] in out, out[-8000:]
    assert placement()["mk-vm1"] == "mk-h1" and qemu_pid("mk-vm1", "mk-h1")
    assert result_of(job) == reference


def test_destroy_leaves_no_vm_tap_or_namespace(cluster):
    rc, out = playbook("destroy.yml")
    assert rc == 0, out[-5000:]
    procs = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert not [line for line in procs.splitlines() if "qemu-system" in line and "mk-vm" in line]
    assert not [n for n in os.listdir("/run/netns") if n.startswith("vcl-mk-")] if os.path.isdir("/run/netns") \
        else True
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    assert "vct-mk-" not in links
