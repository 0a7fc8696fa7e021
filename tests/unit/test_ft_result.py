"""Results of the fault-tolerance verbs as data (plugins/module_utils/ft_result.py)."""

import os
import stat

import pytest

from ansible_collections.vcluster.cluster.plugins.module_utils import ft_result as R

REPORT = {"pause": 0.7412, "steps": {"freeze": 0.01, "dump": 0.6911, "commit": 0.02},
          "dumps": {"a-h1": [{"vnode": "vn-a1", "size": 100, "images_size": 90, "fs_size": 10, "fs_changed": 3,
                              "parent": 4, "total_s": 0.6}], "b-h1": []}}
ENTRY = {"vnodes": {"vn-a1": {}, "vn-b1": {}}, "size": 147_000_000}
COPIES = [{"vnode": "vn-a1", "src": "a-h1", "dst": "b-h2", "ids": [5], "basis": 4, "seconds": 3.2, "sent": 12_500_000},
          {"vnode": "vn-b1", "src": "b-h1", "dst": "a-h2", "ids": [5], "error": "b-h1: connection refused"}]


def checkpoint():
    return R.checkpoint(5, REPORT, ENTRY, COPIES, 100.0, 106.94, 107.5, deleted=["2", 1], warnings=[],
                        missing=["b-h1: connection refused"])


def test_checkpoint_result_and_its_line():
    r = checkpoint()
    assert r == {"verb": "checkpoint", "id": 5, "committed": True, "pause_s": 0.741, "dump_s": 0.691,
                 "steps": {"freeze": 0.01, "dump": 0.691, "commit": 0.02}, "vnodes": ["vn-a1", "vn-b1"],
                 "size": 147000000,
                 "dumps": {"vn-a1": {"host": "a-h1", "size": 100, "images_size": 90, "fs_size": 10, "fs_changed": 3,
                                     "parent": 4, "seconds": 0.6}},
                 "replicas": [{"vnode": "vn-a1", "src": "a-h1", "dst": "b-h2", "seconds": 3.2, "ids": [5], "basis": 4,
                               "sent": 12500000}],
                 "sent": 12500000,
                 "replication_s": 6.94, "deleted": [1, 2], "warnings": [], "missing": ["b-h1: connection refused"],
                 "finished": 107.5}
    assert R.line(r) == ("checkpoint 5 committed: pause 0.74 s (freeze to thaw; dumps 0.69 s), 2 vnodes, 147.0 MB, "
                         "replicas vn-a1->b-h2 in 6.94 s (12.5 MB sent host to host), deleted 1,2")
    assert R.line(dict(r, warnings=["k=2 but 1 peer"], deleted=[])).endswith("host to host); WARNING k=2 but 1 peer")


def test_restore_result_and_its_line():
    plan = {"vn-a1": {"host": "b-h2", "moved": True}, "vn-b1": {"host": "b-h1", "moved": False}}
    report = {"steps": {"load": 2.5, "resume": 0.1}, "load": {"b-h2": [{"vnode": "vn-a1", "total_s": 2.4, "fs_s": 1}]}}
    r = R.restore("6", plan, ["b-h2", "b-h1"], ["a-h2:6/vn-a1"], 10.0, 13.26, report)
    assert r["loads"] == {"vn-a1": {"host": "b-h2", "seconds": 2.4, "fs_s": 1}} and r["steps"]["load"] == 2.5
    assert r["placement"] == {"vn-a1": "b-h2", "vn-b1": "b-h1"} and r["moved"] == {"vn-a1": "b-h2"}
    assert (r["id"], r["hosts"], r["phase_s"], r["skipped_copies"]) == (6, ["b-h1", "b-h2"], 3.26, 1)
    assert R.line(r) == ("restored checkpoint 6 in 3.26 s (2 hosts, 2 vnodes, moved: vn-a1 -> b-h2; skipped "
                         "damaged copies: 1); the cluster runs.")


def test_migrate_result_and_its_line():
    r = R.migrate("vn-a1", "a-h1", "b-h1", "10.241.0.11", {"total_s": 0.81, "size": 98_700_000}, 20.0, 22.5, 18.0,
                  "a-h1")
    assert (r["downtime_s"], r["total_s"], r["dump_s"]) == (2.5, 4.5, 0.81)
    assert R.line(r) == ("vn-a1 moved from a-h1 to b-h1 with its IP 10.241.0.11: stopped for 2.50 s (dump 0.81 s, "
                         "98.7 MB), 4.50 s in all. It stays there (also through deploy.yml); rebalance.yml moves it "
                         "back to a-h1, live.")
    assert R.line(dict(r, home="b-h1")).endswith("4.50 s in all.")  # moved home: nothing to add


def test_written_privately_and_read_back_only_when_new_enough(tmp_path):
    r = checkpoint()
    target = R.write(str(tmp_path), r)
    assert target == str(tmp_path / "results" / "checkpoint.json")
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert R.read(str(tmp_path), "checkpoint") == r
    assert R.read(str(tmp_path), "checkpoint", since=107.5) == r
    assert R.read(str(tmp_path), "checkpoint", since=108) is None  # an older run's result
    assert R.read(str(tmp_path), "restore") is None
    (tmp_path / "results" / "restore.json").write_text("{not json")
    assert R.read(str(tmp_path), "restore") is None
    with pytest.raises(ValueError):
        R.path(str(tmp_path), "deploy")
    with pytest.raises(ValueError):
        R.line({"verb": "deploy"})
