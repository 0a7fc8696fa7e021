"""Periodic and requested checkpoints: the request files a vnode's job writes
(ft_host), the watch agent over a real pipe (ft_agent), the client script
run for real with sh, and the service's decisions and records (ft_service)."""

import json
import os
import pathlib
import shlex
import subprocess
import sys
import threading
import time

import pytest

from ansible_collections.vcluster.cluster.plugins.module_utils import ckpt as C
from ansible_collections.vcluster.cluster.plugins.module_utils import ft_agent as A
from ansible_collections.vcluster.cluster.plugins.module_utils import ft_host as H
from ansible_collections.vcluster.cluster.plugins.module_utils import ft_result as R
from ansible_collections.vcluster.cluster.plugins.module_utils import ft_service as S
from ansible_collections.vcluster.cluster.plugins.module_utils import planning

CLIENT = pathlib.Path(__file__).resolve().parents[2] / "roles" / "ft" / "files" / "vcluster-checkpoint"


def request(root, vnode, token):
    d = root / vnode / "rootfs" / H.REQUEST_DIR
    d.mkdir(parents=True, exist_ok=True)
    (d / (token + H.REQUEST_SUFFIX)).write_text("1\n")
    return d


def local(_host):
    return ["sh", "-c", " ".join(shlex.quote(a) for a in (sys.executable, "-c", A.BOOT))]


# --- request files -------------------------------------------------------------

def test_pending_requests_lists_valid_tokens_of_every_vnode(tmp_path):
    request(tmp_path, "vn-a1", "vn-a1-1-2")
    d = request(tmp_path, "vn-b1", "vn-b1-3-4")
    (d / ".vn-b1-5.tmp").write_text("")           # being written
    (d / "../evil.req").write_text("")             # not in the directory
    (d / "x y.req").write_text("")                 # not a token
    (tmp_path / "vn-c1" / "rootfs").mkdir(parents=True)  # no request directory
    assert H.pending_requests(str(tmp_path)) == [{"vnode": "vn-a1", "token": "vn-a1-1-2"},
                                                 {"vnode": "vn-b1", "token": "vn-b1-3-4"}]
    assert H.pending_requests(str(tmp_path / "nonexistent")) == []


def test_answer_request_writes_the_id_and_removes_the_request(tmp_path):
    d = request(tmp_path, "vn-a1", "t1")
    assert H.answer_request(str(tmp_path), "vn-a1", "t1", 7) is True
    assert (d / "t1.ckpt").read_text() == "7\n" and not (d / "t1.req").exists()
    assert H.answer_request(str(tmp_path), "vn-a1", "t1", 7) is False  # answered already
    assert H.answer_request(str(tmp_path), "vn-a1", "../t1", 7) is False
    assert H.answer_request(str(tmp_path), "gone", "t1", 7) is False


def test_a_request_directory_that_leaves_the_vnode_is_ignored(tmp_path):
    outside = tmp_path / "host-dir"
    outside.mkdir()
    (outside / "t.req").write_text("")
    parent = tmp_path / "vnodes" / "vn1" / "rootfs" / os.path.dirname(H.REQUEST_DIR)
    parent.mkdir(parents=True)
    os.symlink(str(outside), str(parent / os.path.basename(H.REQUEST_DIR)))
    assert H.pending_requests(str(tmp_path / "vnodes")) == []
    assert H.answer_request(str(tmp_path / "vnodes"), "vn1", "t", 1) is False
    assert os.listdir(outside) == ["t.req"]


# --- the watch agent, a real process over a pipe ----------------------------------

def test_watch_answers_honoured_requests_and_reports_new_ones(tmp_path):
    root = tmp_path / "h1"
    old = request(root, "vn-a1", "old")
    request(root, "vn-a2", "new")
    result = A.watch_requests({"h1": {"root": str(root)}}, A.program(), 30, {"old": 4}, settle=0.2, argv_of=local)
    assert result["requests"] == [{"vnode": "vn-a2", "token": "new", "host": "h1"}]
    assert result["answered"] == [{"vnode": "vn-a1", "token": "old", "ckpt": 4, "host": "h1"}]
    assert result["down"] == {}
    assert (old / "old.ckpt").read_text() == "4\n"


def test_watch_returns_soon_after_a_request_arrives(tmp_path):
    root = tmp_path / "h1"
    (root / "vn-a1" / "rootfs").mkdir(parents=True)
    threading.Timer(1.0, request, (root, "vn-a1", "late")).start()
    t0 = time.monotonic()
    result = A.watch_requests({"h1": {"root": str(root)}}, A.program(), 60, {}, settle=0.2, argv_of=local)
    assert result["requests"] == [{"vnode": "vn-a1", "token": "late", "host": "h1"}]
    assert time.monotonic() - t0 < 30  # not the whole wait


def test_watch_with_nothing_to_do_waits_and_reports_a_host_it_cannot_reach(tmp_path):
    def argv(host):
        return ["sh", "-c", "exit 255"] if host["root"].endswith("h2") else local(host)
    (tmp_path / "h1").mkdir()
    t0 = time.monotonic()
    result = A.watch_requests({"h1": {"root": str(tmp_path / "h1")}, "h2": {"root": str(tmp_path / "h2")}},
                              A.program(), 1.0, {}, argv_of=argv)
    assert result["requests"] == [] and list(result["down"]) == ["h2"]
    assert time.monotonic() - t0 >= 1.0


# --- the client inside the vnode, run with sh ------------------------------------

def test_the_client_prints_the_id_it_is_answered_with(tmp_path):
    # The client's fixed directory is redirected into tmp_path by rewriting it (the script itself is run).
    d = tmp_path / "requests"
    script = tmp_path / "client"
    script.write_text(CLIENT.read_text().replace("/var/lib/vcluster/ckpt-requests", str(d)))
    proc = subprocess.Popen(["sh", str(script), "--timeout", "30"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 10
    while not (d.exists() and [n for n in os.listdir(d) if n.endswith(".req")]) and time.monotonic() < deadline:
        time.sleep(0.05)
    [req] = [n for n in os.listdir(d) if n.endswith(".req")]
    (d / req.replace(".req", ".ckpt")).write_text("12\n")
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert out == "12\n" and os.listdir(d) == [req]  # the answer is consumed; the request is the service's to remove
    assert H.valid_token(req[:-4])


def test_the_client_gives_up_after_its_timeout(tmp_path):
    d = tmp_path / "requests"
    script = tmp_path / "client"
    script.write_text(CLIENT.read_text().replace("/var/lib/vcluster/ckpt-requests", str(d)))
    proc = subprocess.run(["sh", str(script), "--timeout", "1"], capture_output=True, text=True, timeout=30,
                          check=False)
    assert proc.returncode == 1 and "no answer within 1 s" in proc.stderr
    assert os.listdir(d) == []


# --- the service's decisions ---------------------------------------------------------

def test_interval_from_the_command_line_the_inventory_or_daly():
    assert S.choose_interval({"interval_s": 600}, 4, 45) == (45.0, "command line (--interval)")
    assert S.choose_interval({"interval_s": 600}, 4) == (600.0, "inventory (vc_ft_interval_s)")
    seconds, source = S.choose_interval({"checkpoint_cost_s": 2, "restart_cost_s": 10, "host_mtbf_h": 24}, 4)
    assert seconds == pytest.approx(planning.interval_plan(2, 10, 24, 4)["daly_s"])
    assert source.startswith("Daly, C = 2 s, R = 10 s, host MTBF 24 h x 4 hosts") and "defaults" not in source
    _seconds, source = S.choose_interval({}, 4)
    assert "defaults: vc_ft_checkpoint_cost_s, vc_ft_restart_cost_s, vc_ft_host_mtbf_h" in source


def test_schedule_after_success_and_failure():
    state = S.new_state("demo", 60.0, "given", 1000.0, 42, "/inv")
    assert not S.due(state, 1059.0) and S.due(state, 1060.0)
    S.record(state, 1061.0, "periodic", 5, 12.3, 0, "")
    assert state["next_due"] == 1121.0 and state["checkpoints"] == 1 and state["last"]["ckpt"] == 5
    S.record(state, 1130.0, "periodic", None, 3.0, 2, "another checkpoint, restore or migration runs")
    assert state["next_due"] == 1130.0 + S.RETRY_S and state["failures"] == 1
    reqs = [{"token": "t1", "vnode": "vn-a1"}]
    S.record(state, 1170.0, "requested by vn-a1", 6, 10.0, 2, "copies are missing", reqs)
    assert state["requests_honoured"] == 1 and state["last"]["requests"] == ["t1"]
    assert [h["ckpt"] for h in state["history"]] == [5, None, 6]


def test_history_and_answers_are_bounded():
    state = S.new_state("demo", 60.0, "given", 0.0, 1, "/inv")
    for i in range(S.HISTORY + 5):
        S.record(state, float(i), "periodic", i, 1.0, 0, "")
    assert len(state["history"]) == S.HISTORY and state["history"][-1]["ckpt"] == S.HISTORY + 4
    record = {}
    for i in range(S.ANSWERS + 3):
        record = S.honour(record, [{"token": "t%d" % i, "vnode": "v"}], i, float(i))
    assert len(record["answers"]) == S.ANSWERS and "t0" not in record["answers"]
    assert record["answers"]["t%d" % (S.ANSWERS + 2)] == S.ANSWERS + 2


def test_committed_id_is_read_from_the_runs_result(tmp_path):
    assert S.committed_id(str(tmp_path), 100.0) is None
    R.write(str(tmp_path), {"verb": "checkpoint", "id": 12, "committed": True, "finished": 150.0})
    assert S.committed_id(str(tmp_path), 100.0) == 12
    assert S.committed_id(str(tmp_path), 200.0) is None  # the result of an earlier run


def test_failure_reason_from_the_events():
    failed = {"event": "runner_on_failed", "event_data": {"task": "Lock", "host": "localhost",
                                                          "res": {"msg": "the lock\n  is held"}}}
    ignored = {"event": "runner_on_failed", "event_data": {"ignore_errors": True, "res": {"msg": "ignored"}}}
    ok = {"event": "runner_on_ok", "event_data": {"res": {"msg": "fine"}}}
    assert S.failure_reason([ok, failed, ignored, ok]) == "the lock is held"
    assert S.failure_reason([{"event": "runner_on_unreachable", "event_data": {"task": "Scan", "host": "a-h1",
                                                                               "res": {}}}]) \
        == "task Scan failed on a-h1"
    out = "PLAY [Validate]\n[ERROR]: Inventory is invalid (1 problem):\n - host a-h1: vc_lan_ip is not set\n"
    assert S.failure_reason([], out) == "[ERROR]: Inventory is invalid (1 problem): - host a-h1: vc_lan_ip is not set"
    assert S.failure_reason([], out, one_line=False).splitlines() == [
        "[ERROR]: Inventory is invalid (1 problem):", " - host a-h1: vc_lan_ip is not set"]
    assert S.failure_reason([], "") == "no output"


def test_status_text_says_what_runs_and_what_happened():
    assert "not running (never started" in S.status_text(None, False, 0.0)
    state = S.new_state("demo", 600.0, "inventory (vc_ft_interval_s)", 1000.0, 42, "/inv")
    S.record(state, 1600.0, "requested by vn-a1", 3, 11.5, 0, "", [{"token": "t", "vnode": "vn-a1"}])
    record = S.honour({}, [{"token": "t", "vnode": "vn-a1"}], 3, 1600.0)
    text = S.status_text(state, True, 1700.0, record)
    assert "running (pid 42" in text and "interval: 10.0 min (inventory (vc_ft_interval_s))" in text
    assert "next checkpoint due in 8.3 min" in text
    assert "last: checkpoint 3 committed, 1.7 min ago (requested by vn-a1, 11.5 s)" in text
    assert "request t from vn-a1: checkpoint 3" in text
    assert "not running" in S.status_text(state, False, 1700.0)


def test_pid_alive_needs_the_service_command_line():
    assert S.pid_alive(os.getpid(), marker=os.path.basename(sys.executable)) is True
    assert S.pid_alive(os.getpid()) is False  # pytest is not the service
    assert S.pid_alive(None) is False


def test_state_files_are_private(tmp_path):
    path = tmp_path / "d" / "service.json"
    S.write_json(str(path), {"a": 1})
    assert json.loads(path.read_text()) == {"a": 1} and (path.stat().st_mode & 0o777) == 0o600
    assert S.read_json(str(tmp_path / "none"), {}) == {}


def test_a_request_does_not_hurry_the_retry_of_a_failed_attempt():
    state = S.new_state("demo", 600.0, "given", 0.0, 1, "/inv")
    reqs = [{"token": "t", "vnode": "vn-a1"}]
    assert S.should_checkpoint(state, 10.0, reqs) and not S.should_checkpoint(state, 10.0, [])
    S.record(state, 10.0, "requested by vn-a1", None, 5.0, 2, "a vnode is not running")
    assert not S.should_checkpoint(state, 20.0, reqs)       # retrying: wait for next_due
    assert S.should_checkpoint(state, 10.0 + S.RETRY_S, reqs)
    S.record(state, 50.0, "requested by vn-a1", 3, 5.0, 0, "", reqs)
    assert S.should_checkpoint(state, 60.0, reqs)           # a success ends the retrying


@pytest.mark.parametrize("args, message", [
    (["start", "--interval", "5"], "--interval must be at least 10 seconds"),
    (["run", "--cluster", "demo"], "start and run read the inventory (-i), not --cluster"),
    (["restart"], "invalid choice: 'restart'"),
])
def test_the_command_refuses_bad_arguments(args, message):
    script = pathlib.Path(__file__).resolve().parents[2] / "scripts" / "ft-service"
    proc = subprocess.run([str(script), *args], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr


def test_status_and_stop_of_a_service_that_never_ran(tmp_path):
    script = pathlib.Path(__file__).resolve().parents[2] / "scripts" / "ft-service"
    common = ["--cluster", "nosuch", "--controller-dir", str(tmp_path)]
    out = subprocess.run([str(script), "status", *common], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "periodic checkpoints: not running (never started for this cluster)"
    out = subprocess.run([str(script), "status", "--json", *common], capture_output=True, text=True, timeout=60,
                         check=True)
    assert json.loads(out.stdout) == {"cluster": "nosuch", "running": False, "state": None, "requests": []}
    out = subprocess.run([str(script), "stop", *common], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "periodic checkpoints of cluster nosuch: not running"
    assert os.listdir(tmp_path) == []  # nothing written
