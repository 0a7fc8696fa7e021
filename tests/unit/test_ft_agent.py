"""The checkpoint agent and its coordinator (plugins/module_utils/ft_agent.py),
with real agent processes on this machine (plain python3 over a pipe instead
of SSH) and no containers: hosts without vnodes, or with a vnode LXC does not
know (its freeze fails), show the protocol's commit and abort paths; serve()
with a fake LXC shows the dead-man switch."""

import io
import json
import os
import shlex
import sys
import time

import pytest

from ansible_collections.vcluster.cluster.plugins.module_utils import ckpt as C
from ansible_collections.vcluster.cluster.plugins.module_utils import ft_agent as A
from ansible_collections.vcluster.cluster.plugins.module_utils import ft_host as H


def local(_host):
    """An agent on this machine, started the way ssh starts it (one shell command)."""
    return ["sh", "-c", " ".join(shlex.quote(a) for a in (sys.executable, "-c", A.BOOT))]


def hosts(tmp_path, vnodes):
    out = {}
    for name, names in vnodes.items():
        out[name] = {"store": str(tmp_path / name / "store"), "root": str(tmp_path / name / "vnodes"),
                     "vnodes": names}
        os.makedirs(out[name]["root"])
    return out


def test_bundle_runs_the_agent_from_its_source_alone(tmp_path):
    report = A.coordinate(hosts(tmp_path, {"h1": [], "h2": []}), A.program(), "demo", 1, 3, argv_of=local)
    assert report["committed"] is True and report["failures"] == []
    assert set(report["steps"]) == {"freeze", "dump", "commit", "thaw"}
    assert report["pause"] >= report["steps"]["dump"]
    for name in ("h1", "h2"):
        top = tmp_path / name / "store" / "demo" / "1"
        assert (top / C.PREPARED).exists() and (top / C.COMMITTED).exists()


def test_a_failure_on_one_host_aborts_everywhere(tmp_path):
    # h2's vnode is unknown to LXC (or LXC is absent): its freeze fails
    report = A.coordinate(hosts(tmp_path, {"h1": [], "h2": ["ghost"]}), A.program(), "demo", 4, 3, argv_of=local)
    assert report["committed"] is False
    assert any(f.startswith("h2: HostError: vnode ghost is") for f in report["failures"]), report
    assert "abort" in report["steps"] and "thaw" in report["steps"] and "dump" not in report["steps"]
    for name in ("h1", "h2"):
        assert not (tmp_path / name / "store" / "demo" / "4").exists()


def test_an_agent_that_cannot_start_changes_nothing(tmp_path):
    def broken(host):
        return ["sh", "-c", "exit 3"] if host.get("root", "").endswith("h2/vnodes") else local(host)
    report = A.coordinate(hosts(tmp_path, {"h1": [], "h2": []}), A.program(), "demo", 2, 3, argv_of=broken)
    assert report["committed"] is False
    assert report["failures"][0] == "not started (nothing was frozen)"
    assert report["steps"] == {}
    assert not (tmp_path / "h1" / "store" / "demo" / "2").exists()


class FakeLxc:
    """lxc-info/-freeze/-unfreeze for vnodes that exist, all RUNNING at first."""

    def __init__(self, names):
        self.state = {n: "RUNNING" for n in names}
        self.calls = []

    def __call__(self, argv, **_kw):
        self.calls.append(argv[0])
        name = argv[argv.index("-n") + 1]
        if argv[0] == "lxc-info":
            if "-p" in argv:
                return 1, "", ""
            return 0, self.state[name] + "\n", ""
        if argv[0] == "lxc-freeze":
            self.state[name] = "FROZEN"
        elif argv[0] == "lxc-unfreeze":
            self.state[name] = "RUNNING"
        return 0, "", ""


def test_the_agent_thaws_and_deletes_when_the_coordinator_vanishes(tmp_path):
    lxc = FakeLxc(["vn1"])
    config = {"store": str(tmp_path / "store"), "root": str(tmp_path / "vnodes"), "cluster": "demo", "ckpt": 9,
              "vnodes": ["vn1"], "host": "h1"}
    os.makedirs(os.path.join(config["store"], "demo", "9", "vn1"))  # a partial dump
    out = io.BytesIO()
    inp = io.BytesIO(b'{"op": "freeze"}\n')  # then the session ends
    state = A.serve(inp, out, lxc, config)
    answers = [json.loads(line) for line in out.getvalue().splitlines()]
    assert answers[0]["ready"] is True and answers[1]["ok"] is True
    assert state == {"committed": False, "exited": False, "gone": "the session ended"}
    assert lxc.state["vn1"] == "RUNNING" and "lxc-unfreeze" in lxc.calls
    assert not (tmp_path / "store" / "demo" / "9").exists()
    log = (tmp_path / "store" / "demo" / A.AGENT_LOG).read_text()
    assert "checkpoint 9: coordinator gone (the session ended); deleted (not committed); thawed vn1" in log


def test_the_lease_runs_out_on_a_silent_session_that_stays_open(tmp_path):
    # A partition: the session neither ends nor speaks. The agent acts after the lease, not never.
    lxc = FakeLxc(["vn1"])
    config = {"store": str(tmp_path / "store"), "root": str(tmp_path / "vnodes"), "cluster": "demo", "ckpt": 5,
              "vnodes": ["vn1"], "host": "h1", "lease": 0.5, "beat": 0.1}
    os.makedirs(os.path.join(config["store"], "demo", "5", "vn1"))
    rfd, wfd = os.pipe()
    os.write(wfd, b'{"op": "freeze"}\n')
    out = io.BytesIO()
    start = time.monotonic()
    inp = os.fdopen(rfd, "rb")
    state = A.serve(inp, out, lxc, config)
    took = time.monotonic() - start
    os.close(wfd)  # the reader thread sees EOF and lets go of inp
    time.sleep(0.2)
    inp.close()
    assert state["gone"].startswith("no word from the coordinator for") and 0.5 <= took < 3, (state, took)
    assert lxc.state["vn1"] == "RUNNING"
    assert not (tmp_path / "store" / "demo" / "5").exists()
    assert any(json.loads(line).get("beat") for line in out.getvalue().splitlines())


class Broken(io.RawIOBase):
    """A stdout whose reader is gone: every write fails (EPIPE)."""

    def write(self, _b):
        raise BrokenPipeError(32, "Broken pipe")


def test_a_broken_stdout_does_not_kill_the_agent_before_it_undoes(tmp_path):
    lxc = FakeLxc(["vn1"])
    config = {"store": str(tmp_path / "store"), "root": str(tmp_path / "vnodes"), "cluster": "demo", "ckpt": 6,
              "vnodes": ["vn1"], "host": "h1", "lease": 30}
    os.makedirs(os.path.join(config["store"], "demo", "6", "vn1"))
    rfd, wfd = os.pipe()
    os.write(wfd, b'{"op": "freeze"}\n')
    inp = os.fdopen(rfd, "rb")
    state = A.serve(inp, Broken(), lxc, config)
    os.close(wfd)
    time.sleep(0.2)
    inp.close()
    assert state["gone"].startswith("the session is broken")
    assert lxc.state["vn1"] == "RUNNING" and not (tmp_path / "store" / "demo" / "6").exists()


@pytest.mark.parametrize("stop_at, kept", [("freeze", False), ("dump", False), ("commit", True), ("thaw", True)])
def test_a_coordinator_that_dies_at_any_step_leaves_no_partial_checkpoint(tmp_path, stop_at, kept):
    # Real agent processes; the coordinator stops talking after sending stop_at (its process lives on, as a
    # controller whose link died; a killed one closes the sessions, which the agent sees at once).
    hs = hosts(tmp_path, {"h1": [], "h2": []})
    report = A.coordinate(hs, A.program(), "demo", 7, 3, argv_of=local, lease=1.0, stop_at=stop_at)
    assert report["vanished_at"] == stop_at
    time.sleep(2.5)
    scans = {h: H.scan(hs[h]["store"], "demo") for h in hs}
    assert C.committed_ids(scans) == ([7] if kept else [])
    assert C.partial_ids(scans) == []
    for h in hs:
        log = (tmp_path / h / "store" / "demo" / A.AGENT_LOG).read_text()
        assert "checkpoint 7: coordinator gone (the session ended)" in log, log


def test_commit_on_some_members_only_is_never_counted_and_discarded(tmp_path):
    # The coordinator dies between the first and the last COMMITTED mark: h1 committed, h2 never heard.
    hs = hosts(tmp_path, {"h1": [], "h2": []})
    sessions, failures = A.start(hs, A.program(), {h: {"store": hs[h]["store"], "root": hs[h]["root"],
                                                       "cluster": "demo", "ckpt": 8, "vnodes": [],
                                                       "members": sorted(hs)} for h in hs}, local, 1.0)
    assert failures == []
    for op in ("freeze", "dump"):
        assert A.step(sessions, op, 30, 1.0)[1] == []
    assert A.step(sessions[:1], "commit", 30, 1.0)[1] == []
    for s in sessions:
        s.close()
    time.sleep(1.5)
    scans = {h: H.scan(hs[h]["store"], "demo") for h in hs}
    assert scans["h1"]["committed"] == [8] and scans["h1"]["members"] == {"8": ["h1", "h2"]}
    assert scans["h2"]["ids"] == []  # deleted by its agent: not committed there
    assert C.committed_ids(scans) == [] and C.partial_ids(scans) == [8]
    H.delete(hs["h1"]["store"], "demo", C.partial_ids(scans))
    assert not (tmp_path / "h1" / "store" / "demo" / "8").exists()


def test_the_coordinator_counts_a_silent_host_down_within_the_lease(tmp_path):
    def mute(host):  # answers "ready", then nothing ever again (a host whose link died)
        if host["root"].endswith("h2/vnodes"):
            return ["sh", "-c", 'echo \'{"ready": true}\'; cat >/dev/null']
        return local(host)
    start = time.monotonic()
    report = A.coordinate(hosts(tmp_path, {"h1": [], "h2": []}), A.program(), "demo", 3, 3, argv_of=mute,
                          lease=1.0)
    assert time.monotonic() - start < 20
    assert report["committed"] is False
    assert any(f.startswith("h2: silent for") for f in report["failures"]), report
    assert not (tmp_path / "h1" / "store" / "demo" / "3").exists()


def test_a_committed_checkpoint_survives_the_coordinator_vanishing(tmp_path):
    lxc = FakeLxc([])
    config = {"store": str(tmp_path / "store"), "root": str(tmp_path / "vnodes"), "cluster": "demo", "ckpt": 3,
              "vnodes": [], "host": "h1"}
    out = io.BytesIO()
    A.serve(io.BytesIO(b'{"op": "freeze"}\n{"op": "dump"}\n{"op": "commit"}\n'), out, lxc, config)
    assert (tmp_path / "store" / "demo" / "3" / C.COMMITTED).exists()


def test_an_unknown_step_is_refused():
    out = io.BytesIO()
    A.serve(io.BytesIO(b'{"op": "explode"}\n{"op": "exit"}\n'), out, FakeLxc([]),
            {"store": "/nonexistent", "root": "/nonexistent", "cluster": "demo", "ckpt": 1, "vnodes": []})
    answers = [json.loads(line) for line in out.getvalue().splitlines()]
    assert answers[1] == {"ok": False, "error": "HostError: unknown step 'explode'"}
    assert answers[2]["result"] == "bye"


@pytest.mark.parametrize("vnode, to, message", [
    ("nosuch", "b1", "vnode=nosuch is not a vnode of the inventory; give one of vn1, vn2 (e.g. -e vnode=vn1)"),
    ("", "b1", "vnode=(missing) is not a vnode of the inventory"),
    ("vn1", "gw", "to=gw is not a live host that runs vnodes; give one of a1, b1 (e.g. -e to=a1)"),
    ("vn1", "dead", "to=dead is not a live host that runs vnodes"),
    ("vn1", "a1", "vnode vn1 already runs on a1; nothing to do"),
    ("vn2", "a1", "cannot migrate: vnode vn2 is not running on any live host"),
])
def test_migrate_plan_refuses_bad_requests(vnode, to, message):
    scans = {"a1": {"vnodes": {"vn1": "RUNNING"}}, "b1": {"vnodes": {}}}
    vnodes = [{"name": "vn1", "host": "a1", "ip": "10.0.0.1"}, {"name": "vn2", "host": "b1", "ip": "10.0.0.2"}]
    with pytest.raises(C.CheckpointError) as err:
        C.migrate_plan(scans, vnodes, vnode, to, ["a1", "b1", "dead"])
    assert message in str(err.value)


def test_migrate_plan_moves_the_vnode():
    scans = {"a1": {"vnodes": {"vn1": "RUNNING"}}, "b1": {"vnodes": {}}}
    vnodes = [{"name": "vn1", "host": "a1", "ip": "10.0.0.1"}]
    plan = C.migrate_plan(scans, vnodes, "vn1", "b1", ["a1", "b1"])
    assert plan == {"vnode": "vn1", "ip": "10.0.0.1", "src": "a1", "dst": "b1", "where": {"vn1": "b1"}, "basis": None}
    # the target's newest intact copy of the vnode is the basis the dump is sent against
    scans["b1"]["copies"] = {"3": {"vn1": {"complete": True}}, "5": {"vn1": {"complete": True, "problems": ["x"]}},
                             "4": {"vn1": {"complete": True}}, "migrate": {"vn1": {"complete": True}}}
    assert C.migrate_plan(scans, vnodes, "vn1", "b1", ["a1", "b1"])["basis"] == 4


def test_a_checkpoint_runs_over_open_ops_sessions_which_stay_open(tmp_path):
    """coordinate(shared=...): the ops agents' sessions run the pause ("begin"
    .. "end") and answer ops again afterwards: one session start per host for
    the whole verb."""
    hs = hosts(tmp_path, {"h1": [], "h2": []})
    sessions, failures = A.start(hs, A.program(), {h: dict(c, mode="ops", cluster="demo") for h, c in hs.items()},
                                 local, A.LEASE)
    assert failures == []
    shared = {s.host: s for s in sessions}
    report = A.coordinate(hs, A.program(), "demo", 3, 3, lease=A.LEASE, shared=shared)
    assert report["committed"] is True and report["failures"] == [], report
    results, failures = A.step(sessions, "scan", 30)
    assert failures == [] and all(r["result"]["committed"] == [3] for r in results.values())
    A.step(sessions, "exit", 30)
    for s in sessions:
        s.close()
        assert s.proc.returncode == 0
