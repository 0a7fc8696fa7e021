"""Fault tolerance end to end on the embedded default: a long deterministic MPI
job (heat) runs across both sites; checkpoints are taken; hosts are killed
(scripts/fault) between checkpoints, during a dump, during replication and
during a restore; restore.yml brings the cluster back from the copies on the
surviving hosts and the job's result file is byte-identical to a failure-free
run's. Bad requests are refused with a clear message and change nothing.

The failure-free reference is the same job run on the controller with one rank:
heat.py's result does not depend on the number of ranks (see its docstring)."""

import json
import os
import pathlib
import re
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent
PLAYBOOK = str(BIN / "ansible-playbook")
STATE_DIR = "/var/lib/vcluster/testbed"
CATALOG = "/var/lib/vcluster/ft/demo/catalog.json"
RESULTS = "/var/lib/vcluster/ft/demo/results"
LOCK = "/run/lock/vcluster-demo.ft"
VNODES = {"vn-a1": "a-h1", "vn-a2": "a-h2", "vn-b1": "b-h1", "vn-b2": "b-h2"}
VNODE_ENV = ["env", "HOME=/root", "PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
# About 60-90 s on the cluster; a second on the controller.
HEAT = {"size": 512, "steps": 2500, "every": 250, "sleep": 0.03}
# A job that outlives a series of faults (about 4 min on the cluster).
HEAT_LONG = dict(HEAT, steps=7000)
FAULT = str(ROOT / "scripts/fault")

pytestmark = pytest.mark.slow


def playbook(*args, timeout=1800):
    proc = subprocess.run([PLAYBOOK, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout, check=False)
    return proc.returncode, proc.stdout


def background(*args):
    log = open("/tmp/vcluster-test-ft-%d.log" % time.monotonic_ns(), "w+")  # pylint: disable=consider-using-with
    proc = subprocess.Popen([PLAYBOOK, *args], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, text=True)
    return proc, log


def finish(proc, log, timeout=600):
    rc = proc.wait(timeout=timeout)
    log.seek(0)
    return rc, log.read()


def fault(host, when="now", timeout=120):
    proc = subprocess.run([str(ROOT / "scripts/fault"), "kill", host, "--when", when, "--timeout", str(timeout)],
                          capture_output=True, text=True, timeout=timeout + 30, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def placement():
    """Where the catalog says each vnode runs ({} before the first checkpoint)."""
    try:
        with open(CATALOG) as f:
            return json.load(f).get("placement") or {}
    except FileNotFoundError:
        return {}


def in_vnode(vnode, *cmd, timeout=60):
    host = placement().get(vnode, VNODES[vnode])
    return subprocess.run(["nsenter", "--net=/run/netns/vcl-" + host, "lxc-attach", "-n", vnode, "-P",
                           "%s/hosts/%s/vnodes" % (STATE_DIR, host), "--clear-env", "--", *VNODE_ENV, *cmd],
                          capture_output=True, text=True, timeout=timeout, check=False)


def vnode_states():
    states = {}
    for vnode in VNODES:
        for host in sorted(set(VNODES.values())):
            if not os.path.exists("/run/netns/vcl-" + host):
                continue
            out = subprocess.run(["nsenter", "--net=/run/netns/vcl-" + host, "lxc-info", "-n", vnode, "-P",
                                  "%s/hosts/%s/vnodes" % (STATE_DIR, host), "-s", "-H"],
                                 capture_output=True, text=True, check=False).stdout.strip()
            if out and out != "STOPPED":
                states[vnode] = (host, out)
    return states


def lock_holder():
    try:
        with open(LOCK) as f:
            return json.load(f)["pid"]
    except (OSError, ValueError, KeyError):
        return None


def store_listing():
    """Every file of every live host's checkpoint store (path, size)."""
    files = []
    for host in sorted(set(VNODES.values())):
        top = pathlib.Path(STATE_DIR, "hosts", host, "disk", "demo")
        if top.is_dir():
            files += sorted((str(p), p.stat().st_size) for p in top.rglob("*") if p.is_file()
                            and p.name != "restore.log")
    return files


def failure_free(tmp_path_factory, params):
    out = tmp_path_factory.mktemp("heat") / "result.txt"
    subprocess.run(["/usr/bin/python3", str(ROOT / "roles/mpi/files/workloads/heat.py"), "--size",
                    str(params["size"]), "--steps", str(params["steps"]), "--every", str(params["every"]), "--result",
                    str(out)], check=True, capture_output=True, timeout=300)
    return out.read_text()


@pytest.fixture(scope="module", name="reference")
def fixture_reference(tmp_path_factory):
    return failure_free(tmp_path_factory, HEAT)


@pytest.fixture(scope="module", name="reference_long")
def fixture_reference_long(tmp_path_factory):
    return failure_free(tmp_path_factory, HEAT_LONG)


def deploy(*extra):
    """A fresh cluster (destroy + deploy: a killed host comes back empty)."""
    rc, out = playbook("destroy.yml")
    assert rc == 0, out[-5000:]
    rc, out = playbook("deploy.yml", *extra)
    assert rc == 0, out[-8000:]


def start_job(params=None):
    rc, out = playbook("run.yml", "-e", "job=heat", "-e", json.dumps({"params": params or HEAT}))
    assert rc == 0, out[-5000:]
    return int(re.search(r"Job (\d+) \(heat", out).group(1))


def result(verb, since):
    """The result (data) the verb left on the controller, if it finished after ``since``."""
    try:
        with open(os.path.join(RESULTS, verb + ".json")) as f:
            found = json.load(f)
    except FileNotFoundError:
        return None
    return found if found["finished"] >= since else None


def checkpoint(*extra):
    since = time.time()
    rc, out = playbook("checkpoint.yml", *extra)
    assert rc == 0, out[-8000:]
    done = result("checkpoint", since)
    assert done and done["committed"] and "checkpoint %d committed: pause" % done["id"] in out, out[-8000:]
    return done["id"], out


def result_of(job, timeout=600):
    rc, out = playbook("jobs.yml", "-e", "id=%d" % job, "-e", "wait=true", "-e", "timeout=%d" % timeout)
    assert rc == 0 and "heat: succeeded" in out, out[-5000:]
    got = in_vnode("vn-a1", "cat", "/var/lib/vcjob/%d/result.txt" % job)
    assert got.returncode == 0, got.stderr
    return got.stdout


def test_random_k1_one_host_lost_job_result_identical(reference):
    deploy("-e", "vc_ft_placement=random")
    job = start_job()
    time.sleep(5)
    first, _ = checkpoint("-e", "vc_ft_placement=random")
    time.sleep(5)
    second, out = checkpoint("-e", "vc_ft_placement=random")
    assert second > first
    peers = json.load(open(CATALOG))["checkpoints"][str(second)]["vnodes"]["vn-a1"]["copies"]
    assert "a-h1" in peers and len(peers) == 2, peers  # origin + k=1 replica
    fault("a-h1")  # the head vnode's host
    rc, out = playbook("restore.yml", "-e", "vc_ft_placement=random")
    assert rc == 0, out[-8000:]
    assert "restoring checkpoint %d; hosts down: a-h1" % second in out
    moved_to = placement()["vn-a1"]
    assert moved_to != "a-h1" and moved_to in peers, (moved_to, peers)
    assert all(state == "RUNNING" for _h, state in vnode_states().values())
    assert result_of(job) == reference


def mgmt_bytes():
    """Bytes through the controller's link to the management network, both ways."""
    top = pathlib.Path("/sys/class/net/vcl-demo/statistics")
    return sum(int((top / name).read_text()) for name in ("rx_bytes", "tx_bytes"))


def as_replication(host, peer, *cmd):
    """``cmd`` run on ``host`` over SSH to ``peer``'s LAN address with
    ``host``'s replication key (the controller reaches ``host`` as Ansible does)."""
    hosts = {"a-h1": ("10.240.0.12", "10.240.1.11"), "b-h1": ("10.240.0.22", "10.240.2.11")}
    inner = ["ssh", "-i", "%s/hosts/%s/etc/ft/replication_ed25519" % (STATE_DIR, host), "-o", "BatchMode=yes",
             "-o", "StrictHostKeyChecking=yes", "-o",
             "UserKnownHostsFile=%s/hosts/%s/etc/ft/replication_known_hosts" % (STATE_DIR, host),
             "root@" + hosts[peer][1], *cmd]
    return subprocess.run(["ssh", "-o", "BatchMode=yes", "-i", STATE_DIR + "/controller/id_ed25519", "-o",
                           "UserKnownHostsFile=%s/known_hosts" % STATE_DIR, "-o", "StrictHostKeyChecking=yes",
                           "root@" + hosts[host][0], " ".join(inner)], capture_output=True, text=True, timeout=60,
                          check=False)


def test_spread_k1_whole_site_lost_job_result_identical(reference):
    """Also: replication is host to host (the controller's link carries a
    small fraction of the bytes pushed), delta (the second checkpoint sends
    less than its size), and a peer's replication key runs no shell."""
    deploy()
    job = start_job()
    ballast = in_vnode("vn-a1", "dd", "if=/dev/urandom", "of=/root/ballast", "bs=1M", "count=40")
    assert ballast.returncode == 0, ballast.stderr
    time.sleep(5)
    before = mgmt_bytes()
    first, _ = checkpoint()
    via_controller = mgmt_bytes() - before
    pushed = result("checkpoint", 0)
    assert pushed["id"] == first and pushed["sent"] > 40e6, pushed
    assert via_controller < 0.1 * pushed["sent"], (via_controller, pushed["sent"])
    time.sleep(5)
    second, _ = checkpoint()
    delta = result("checkpoint", 0)
    assert delta["id"] == second and all(r["basis"] == first for r in delta["replicas"]), delta
    assert delta["sent"] < 0.5 * delta["size"], delta
    shell = as_replication("a-h1", "b-h1", "sh", "-c", "id")
    assert shell.returncode != 0 and "uid=" not in shell.stdout and "rrsync" in shell.stderr, shell
    shell = as_replication("b-h1", "a-h1", "cat", "/etc/shadow")
    assert shell.returncode != 0 and "root:" not in shell.stdout, shell
    catalog = json.load(open(CATALOG))["checkpoints"][str(second)]["vnodes"]
    for vnode in ("vn-a1", "vn-a2"):  # spread: the copy is at the other site
        assert [h for h in catalog[vnode]["copies"] if h.startswith("b-")], catalog
    rc, out = playbook("checkpoints.yml", "-e", "verify=true")
    assert rc == 0 and "DAMAGED" not in out, out[-5000:]
    flat = re.sub(r"\s+", " ", out)  # the output callback may wrap long lines
    for ckpt in (second - 1, second):  # one line per checkpoint: id, time, size, vnode@hosts(+parent)
        assert re.search(r"checkpoint %d \d{4}-\d\d-\d\d \d\d:\d\d:\d\d [0-9.]+ MB vn-a1@a-h1,b-h\d" % ckpt, flat), \
            out[-5000:]
    fault("a-h1")
    fault("a-h2")
    rc, out = playbook("restore.yml")
    assert rc == 0, out[-8000:]
    where = placement()
    assert all(host.startswith("b-") for host in where.values()), where
    assert result_of(job) == reference


def test_bad_requests_are_refused_and_change_nothing():
    deploy()
    job = start_job()
    checkpoint()
    before_store, before_states = store_listing(), vnode_states()
    for args, message in [
            (["-e", "ckpt=999"], "ckpt=999 does not exist or is not committed; committed: 1"),
            (["-e", "ckpt=abc"], "-e ckpt=abc: ckpt must be a checkpoint id (an integer >= 1) or latest"),
            (["-e", "ckp=1"], "-e ckp: restore.yml takes ckpt; did you mean ckpt?"),
    ]:
        rc, out = playbook("restore.yml", *args)
        assert rc != 0 and message in out, out[-5000:]
    rc, out = playbook("checkpoint.yml", "-e", '{"vc_ft_replicas": 4}')
    assert rc != 0 and ("vc_ft_replicas 4 is not smaller than the number of hosts that hold checkpoints (4, "
                        "gateways hold none)") in out, out[-5000:]
    # restore while a checkpoint runs: refused by the lock
    proc, log = background("checkpoint.yml")
    deadline = time.monotonic() + 60
    while lock_holder() != proc.pid and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lock_holder() == proc.pid
    rc, out = playbook("restore.yml")
    assert rc != 0 and "restore refused: checkpoint (ansible-playbook PID" in out, out[-5000:]
    rc2, out2 = finish(proc, log)
    assert rc2 == 0, out2[-5000:]
    after = [f for f in store_listing() if "/demo/2/" not in f[0] and not f[0].endswith("catalog.json")]
    assert after == [f for f in before_store if not f[0].endswith("catalog.json")]
    assert vnode_states() == before_states
    playbook("jobs.yml", "-e", "id=%d" % job, "-e", "wait=true")


def test_vnode_migrates_to_the_other_site_while_the_job_runs(reference):
    deploy()
    job = start_job()
    time.sleep(5)
    for args, message in [
            (["-e", "vnode=nosuch", "-e", "to=b-h1"], "vnode=nosuch is not a vnode of the inventory; give one of"),
            (["-e", "vnode=vn-a2", "-e", "to=b-gw"], "to=b-gw is not a live host that runs vnodes; give one of"),
            (["-e", "vnode=vn-a2", "-e", "to=a-h2"], "vnode vn-a2 already runs on a-h2; nothing to do"),
    ]:
        rc, out = playbook("migrate.yml", *args)
        assert rc != 0 and message in out, out[-5000:]
    since = time.time()
    rc, out = playbook("migrate.yml", "-e", "vnode=vn-a2", "-e", "to=b-h1")
    assert rc == 0 and "vn-a2 moved from a-h2 to b-h1 with its IP 10.241.0.12" in out, out[-8000:]
    moved = result("migrate", since)
    assert moved and (moved["src"], moved["dst"], moved["home"]) == ("a-h2", "b-h1", "a-h2"), moved
    assert 0 < moved["downtime_s"] <= moved["total_s"] and moved["size"] > 0, moved
    assert placement()["vn-a2"] == "b-h1"
    assert vnode_states()["vn-a2"] == ("b-h1", "RUNNING")
    addr = in_vnode("vn-a2", "ip", "-o", "addr", "show", "eth0").stdout
    assert "10.241.0.12/24" in addr, addr
    assert result_of(job) == reference


def test_host_killed_during_a_dump_aborts_that_checkpoint_only(reference):
    deploy()
    job = start_job()
    time.sleep(5)
    good, _ = checkpoint()
    proc, log = background("checkpoint.yml")
    fault("b-h1", when="dump")
    rc, out = finish(proc, log)
    assert rc != 0 and "aborted and deleted" in out, out[-5000:]
    catalog = json.load(open(CATALOG))
    assert sorted(catalog["checkpoints"]) == [str(good)]
    for host in ("a-h1", "a-h2", "b-h2"):  # no partial checkpoint left on a live host
        top = pathlib.Path(STATE_DIR, "hosts", host, "disk", "demo")
        assert sorted(p.name for p in top.iterdir() if p.is_dir()) == [str(good)]
    # the others were thawed: the job still runs there (restore brings b-h1's vnode back)
    assert {v: s for v, (h, s) in vnode_states().items()} == {"vn-a1": "RUNNING", "vn-a2": "RUNNING",
                                                               "vn-b2": "RUNNING"}
    rc, out = playbook("restore.yml")
    assert rc == 0 and "restoring checkpoint %d; hosts down: b-h1" % good in out, out[-8000:]
    assert result_of(job) == reference


def test_host_killed_during_replication_loses_no_committed_checkpoint(reference):
    deploy()
    job = start_job()
    time.sleep(5)
    good, _ = checkpoint()
    # random placement may give some host no replica to receive: kill one that
    # received one last time (a vnode keeps its peers while they live)
    with open(CATALOG) as f:
        vnodes = json.load(f)["checkpoints"][str(good)]["vnodes"]
    peers = sorted({h for v in vnodes.values() for h in v["copies"] if h != v["origin"]})
    assert peers, vnodes
    since = time.time()
    proc, log = background("checkpoint.yml")
    fault("b-h2" if "b-h2" in peers else peers[0], when="replicate")
    rc, out = finish(proc, log)
    committed = result("checkpoint", since)
    rc, out = playbook("restore.yml")
    if rc != 0:
        # The newest checkpoint was committed but not every copy was made: refused by name, nothing changed,
        # and the previous one restores.
        assert committed and "checkpoint %d cannot be restored: no verified copy on a live host for" \
            % committed["id"] in out, out[-5000:]
        rc, out = playbook("restore.yml", "-e", "ckpt=%d" % good)
    assert rc == 0, out[-8000:]
    assert result_of(job) == reference


def test_host_killed_during_restore_then_restore_again(reference):
    deploy()
    job = start_job()
    time.sleep(5)
    ckpt, _ = checkpoint()
    proc, log = background("restore.yml")
    fault("b-h1", when="restore")
    rc, out = finish(proc, log)
    assert rc != 0, out[-5000:]
    rc, out = playbook("restore.yml")
    assert rc == 0 and "hosts down: b-h1" in out, out[-8000:]
    assert result_of(job) == reference
    # A copy a restore used is still a verified copy (CRIU writes its log and statistics next to the images).
    rc, out = playbook("restore.yml")
    assert rc == 0 and "damaged" not in out, out[-8000:]
    # A copy rots on its host (same size, same mtime, other bytes): the restore skips it, the peer that holds the
    # other copy pushes it there (it was the basis: its damage does not spread), and the copy is whole again.
    with open(CATALOG) as f:
        vnodes = json.load(f)["checkpoints"][str(ckpt)]["vnodes"]
    vnode, home = next((v, i["origin"]) for v, i in sorted(vnodes.items()) if i["origin"] != "b-h1"
                       and [h for h in i["copies"] if h not in (i["origin"], "b-h1")])
    images = pathlib.Path(STATE_DIR, "hosts", home, "disk", "demo", str(ckpt), vnode, "images")
    page = sorted(images.glob("pages-*.img"), key=lambda p: p.stat().st_size)[-1]
    stat = page.stat()
    with open(page, "r+b") as f:
        f.seek(4096)
        f.write(b"rot" * 100)
    os.utime(page, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    rc, out = playbook("restore.yml")
    text = flat(out)
    assert rc == 0 and "skipped a damaged copy: %s: checkpoint %d of %s" % (home, ckpt, vnode) in text, out[-8000:]
    assert "%s: on %s, copy fetched from" % (vnode, home) in text, out[-8000:]
    rc, out = playbook("restore.yml")
    assert rc == 0 and "damaged" not in out, out[-8000:]
    rc, out = playbook("destroy.yml")
    assert rc == 0, out[-5000:]
    # Every FT verb on a destroyed cluster fails, saying why (it did nothing).
    for verb, args in [("checkpoint.yml", []), ("restore.yml", ["-e", "ckpt=7"]), ("restore.yml", []),
                       ("migrate.yml", ["-e", "vnode=vn-a1", "-e", "to=b-h1"]), ("rebalance.yml", []),
                       ("checkpoints.yml", [])]:
        rc, out = playbook(verb, *args)
        assert rc != 0 and "%s: no compute host answered (a-h1, a-h2, b-h1, b-h2: down" % verb in flat(out), \
            (verb, out[-3000:])


def flat(text):
    """Playbook output with its lines joined (the output callback wraps long messages)."""
    return re.sub(r"\s+", " ", text)


def controller_killed(step, verb):
    """Run ``verb`` and kill the controller (the playbook and all it started) at ``step``."""
    proc = subprocess.run([str(ROOT / "scripts/fault-controller"), step, "--timeout", "300", "--", PLAYBOOK, verb],
                          cwd=ROOT, capture_output=True, text=True, timeout=400, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return time.monotonic()


def frozen_vnodes():
    """The vnodes whose freezer cgroup is not THAWED."""
    return sorted(p.parent.name for p in pathlib.Path("/sys/fs/cgroup/freezer").glob("lxc.payload.vn-*/freezer.state")
                  if p.read_text().strip() != "THAWED")


def wait_running(since, within=10.0):
    """Every vnode RUNNING and thawed within ``within`` seconds of ``since``."""
    while True:
        states, frozen = vnode_states(), frozen_vnodes()
        if sorted(states) == sorted(VNODES) and all(s == "RUNNING" for _h, s in states.values()) and not frozen:
            return time.monotonic() - since
        assert time.monotonic() - since < within, (states, frozen)
        time.sleep(0.2)


def partial_checkpoints():
    """Checkpoint directories on a live host's store that are not committed there or not in the catalog."""
    with open(CATALOG) as f:
        listed = set(json.load(f)["checkpoints"])
    out = []
    for host in sorted(set(VNODES.values())):
        top = pathlib.Path(STATE_DIR, "hosts", host, "disk", "demo")
        for d in sorted(top.iterdir()) if top.is_dir() else []:
            if d.is_dir() and d.name.isdigit() and (not (d / "COMMITTED").exists() or d.name not in listed):
                out.append("%s:%s" % (host, d.name))
    return out


def test_controller_killed_at_every_step_a_partition_then_redeploys_the_job_result_is_identical(reference_long):
    """One long job through: the controller dying (SIGKILL of the playbook and all it started) at each step of a
    checkpoint and of a restore - every vnode runs, thawed, within 10 s, with nobody's help, and the next
    checkpoint and restore work and leave no partial checkpoint; a host's links cut during its dump and back
    12 s later; then placement is state - deploy.yml after a restore moved a vnode (and after a migration) keeps
    it where it runs, brings the repaired host back empty, a second deploy changes nothing, and rebalance.yml
    moves the vnodes home, live."""
    deploy()
    job = start_job(HEAT_LONG)
    time.sleep(5)
    checkpoint()
    took = {}
    for verb, step in [("checkpoint.yml", s) for s in ("freeze", "dump", "prepare", "commit", "thaw", "replicate")] \
            + [("restore.yml", "load"), ("restore.yml", "resume")]:
        took[step] = round(wait_running(controller_killed(step, verb)), 2)
    print("every vnode running and thawed after the controller's death at:", took)
    last, _ = checkpoint()
    assert partial_checkpoints() == []
    since = time.time()
    rc, out = playbook("restore.yml")
    assert rc == 0 and "restored checkpoint %d" % last in out, out[-5000:]
    restored = result("restore", since)
    assert restored and restored["id"] == last and sorted(restored["placement"]) == sorted(VNODES), restored
    assert sorted(restored["loads"]) == sorted(VNODES) and 0 < restored["phase_s"], restored

    # A partition: b-h1's links are cut while it dumps, and come back 12 s later.
    proc, log = background("checkpoint.yml")
    cut = subprocess.run([FAULT, "cut", "b-h1", "--when", "dump", "--for", "12"], capture_output=True, text=True,
                         timeout=400, check=False)
    assert cut.returncode == 0, cut.stdout + cut.stderr
    rc, out = finish(proc, log)
    if rc != 0:  # the host fell silent during the pause: aborted everywhere, b-h1's agent thawed by itself
        assert "b-h1: silent for" in out, out[-5000:]
    wait_running(time.monotonic())
    agent_log = pathlib.Path(STATE_DIR, "hosts", "b-h1", "disk", "demo", "agent.log").read_text()
    assert rc == 0 or "no word from the coordinator" in agent_log, agent_log
    checkpoint()
    assert partial_checkpoints() == []

    # Placement is state.
    fault("a-h1")
    rc, out = playbook("restore.yml")
    assert rc == 0, out[-8000:]
    moved = placement()["vn-a1"]
    assert moved != "a-h1"
    rc, out = playbook("deploy.yml")
    assert rc == 0, out[-8000:]
    assert "vn-a1: on %s (runs there, the inventory says a-h1: kept" % moved in flat(out), out[-8000:]
    assert placement()["vn-a1"] == moved and vnode_states()["vn-a1"] == (moved, "RUNNING")
    rc, out = playbook("deploy.yml")
    assert rc == 0, out[-8000:]
    changed = {h: n for h, n in re.findall(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)", out, re.M) if n != "0"}
    assert changed == {}, out[-8000:]
    # The repaired host, empty, takes a vnode by migration; the next deploy keeps it there.
    rc, out = playbook("migrate.yml", "-e", "vnode=vn-b2", "-e", "to=a-h1")
    assert rc == 0, out[-8000:]
    rc, out = playbook("deploy.yml")
    assert rc == 0 and placement()["vn-b2"] == "a-h1", out[-8000:]
    assert vnode_states()["vn-b2"] == ("a-h1", "RUNNING")
    rc, out = playbook("rebalance.yml")
    assert rc == 0, out[-8000:]
    assert placement() == VNODES and {v: h for v, (h, _s) in vnode_states().items()} == VNODES
    assert result_of(job, timeout=900) == reference_long


def service(*args, timeout=700):
    proc = subprocess.run([str(ROOT / "scripts/ft-service"), *args], capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def service_state():
    return json.loads(service("status", "--json"))


def wait_for(what, check, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(2)
    raise AssertionError("%s: not within %d s: %s" % (what, timeout, service("status")))


def test_periodic_and_requested_checkpoints_a_request_is_honoured_once(reference):
    deploy()
    job = start_job()
    assert "started" in service("start", "--interval", "600")
    try:
        # A job asks from inside vn-b1 and is answered with the id of the checkpoint that honoured it.
        got = in_vnode("vn-b1", "vcluster-checkpoint", "--timeout", "300", timeout=330)
        assert got.returncode == 0, got.stderr
        asked = int(got.stdout)
        catalog = json.load(open(CATALOG))
        assert str(asked) in catalog["checkpoints"] and set(catalog["checkpoints"][str(asked)]["vnodes"]) == \
            set(VNODES)
        state = service_state()
        assert state["running"] and state["state"]["last"]["ckpt"] == asked
        assert state["state"]["last"]["reason"] == "requested by vn-b1"
        # A request still waiting when its checkpoint is saved: after a restore to that checkpoint the
        # requester gets the same id again, and no other checkpoint is taken for it. The requester is a job of
        # its own (vcjob detaches it from lxc-attach: CRIU cannot save a process tied to the outside).
        started = in_vnode("vn-a2", "vcjob", "start", "ask", "--", "vcluster-checkpoint", "--timeout", "600")
        assert started.returncode == 0, started.stderr
        answer = "/var/lib/vcjob/%d/out" % json.loads(started.stdout)["id"]
        honoured = wait_for("the background request", lambda: in_vnode("vn-a2", "cat", answer).stdout.strip())
        assert int(honoured) > asked
        assert "stopped" in service("stop")
        rc, out = playbook("restore.yml", "-e", "ckpt=%s" % honoured)
        assert rc == 0, out[-8000:]
        assert in_vnode("vn-a2", "cat", answer).stdout == ""  # restored: waiting again
        assert "started" in service("start", "--interval", "600")
        assert wait_for("the answer after the restore",
                        lambda: in_vnode("vn-a2", "cat", answer).stdout.strip()) == honoured
        state = service_state()
        assert state["state"]["checkpoints"] == 0, state  # the new service took none: answered from the record
        text = service("status")
        assert "periodic checkpoints of cluster demo: running" in text and "interval: 10.0 min" in text, text
    finally:
        service("stop")
    assert "not running" in service("status")
    assert result_of(job) == reference


def test_periodic_checkpoints_at_the_interval():
    # deploy.yml starts the service (vc_ft_periodic), destroy.yml stops it
    deploy("-e", '{"vc_ft_periodic": true, "vc_ft_interval_s": 20}')
    assert "running" in service("status")
    try:
        state = wait_for("two periodic checkpoints",
                         lambda: (lambda s: s if s["state"]["checkpoints"] >= 2 else None)(service_state()),
                         timeout=240)
        done = [h for h in state["state"]["history"] if h["ckpt"] is not None]
        assert all(h["reason"] == "periodic" for h in done) and done[1]["ckpt"] > done[0]["ckpt"]
        assert done[1]["time"] - done[0]["time"] >= 20
        assert "interval: 20 s (command line (--interval))" in service("status")
    finally:
        rc, out = playbook("destroy.yml")
    assert rc == 0 and "periodic checkpoints of cluster demo: stopped" in out, out[-5000:]
    assert not os.path.exists("/var/lib/vcluster/ft/demo")
