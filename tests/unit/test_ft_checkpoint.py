"""checkpoint.yml's engine (plugins/module_utils/ft_checkpoint.py) with real
ops agents on this machine (python3 over a pipe instead of SSH) and no
containers: what it refuses, and that a refusal changes nothing. The whole
checkpoint, with vnodes, replicas and faults, is tested end to end
(tests/integration/test_ft.py, molecule/ft)."""

import json
import os
import shlex
import sys

import pytest

from ansible_collections.vcluster.cluster.plugins.module_utils import ckpt as C
from ansible_collections.vcluster.cluster.plugins.module_utils import ft_agent as A
from ansible_collections.vcluster.cluster.plugins.module_utils import ft_checkpoint as F


def local(_host):
    return ["sh", "-c", " ".join(shlex.quote(a) for a in (sys.executable, "-c", A.BOOT))]


def hosts(tmp_path, names=("h1", "h2")):
    out = {}
    for name in names:
        out[name] = {"store": str(tmp_path / name / "store"), "root": str(tmp_path / name / "vnodes"),
                     "lan_ip": "10.0.0.%d" % (len(out) + 1), "repl_key": "/k", "repl_known_hosts": "/kh"}
        os.makedirs(out[name]["root"])
    return out


def run(hs, vnodes, **kw):
    return F.checkpoint(hs, "demo", vnodes, {"s1": sorted(hs)}, 1, "spread", 3, 3, program=A.program(),
                        argv_of=kw.pop("argv_of", local), **kw)


def test_no_host_answers(tmp_path):
    with pytest.raises(F.NoHost, match=r"checkpoint.yml: no compute host answered \(h1, h2: down"):
        run(hosts(tmp_path), [{"name": "vn1", "host": "h1", "ip": "10.1.0.1"}], argv_of=lambda h: ["false"])


def test_a_vnode_that_does_not_run_is_refused_and_nothing_changes(tmp_path):
    hs = hosts(tmp_path)
    partial = os.path.join(hs["h2"]["store"], "demo", "5")
    os.makedirs(partial)  # an interrupted checkpoint: discarded only by a checkpoint that goes ahead
    with pytest.raises(C.CheckpointError, match="vn1"):
        run(hs, [{"name": "vn1", "host": "h1", "ip": "10.1.0.1"}])
    assert os.path.isdir(partial)


def test_nothing_to_checkpoint_without_vnodes(tmp_path):
    with pytest.raises(C.CheckpointError, match="vc_vnodes is empty"):
        run(hosts(tmp_path), [])


def test_check_mode_plans_and_changes_nothing(tmp_path, monkeypatch):
    hs = hosts(tmp_path)
    os.makedirs(os.path.join(hs["h2"]["store"], "demo", "5"))
    monkeypatch.setattr(C, "checkpoint_plan", lambda scans, vnodes: {"id": 6, "dumps": {"h1": ["vn1"]},
                                                                      "where": {"vn1": "h1"}})
    out = run(hs, [{"name": "vn1", "host": "h1", "ip": "10.1.0.1"}], check=True)
    assert out == {"check": True, "id": 6, "dumps": {"h1": ["vn1"]}, "discard": [5], "down": []}
    assert os.path.isdir(os.path.join(hs["h2"]["store"], "demo", "5"))


def test_peers_accept_what_was_pushed_to_them_grouped_by_checkpoint():
    done = [{"vnode": "vn1", "src": "a", "dst": "b", "ids": [3, 4]},
            {"vnode": "vn2", "src": "c", "dst": "b", "ids": [4]},
            {"vnode": "vn3", "src": "a", "dst": "c", "ids": [4], "error": "refused"}]
    assert F.accepts(done) == {"b": [{"ckpt": 3, "vnodes": ["vn1"]}, {"ckpt": 4, "vnodes": ["vn1", "vn2"]}]}


def test_gone_emulated_hosts_are_down_and_never_contacted(tmp_path):
    (tmp_path / "vcl-a-h1").write_text("")
    hs = {"a-h1": {}, "a-h2": {}, "real": {}}
    assert sorted(F.live_hosts(hs, ["a-h1", "a-h2"], "checkpoint.yml", netns_dir=str(tmp_path))) == ["a-h1", "real"]
    with pytest.raises(F.NoHost, match=r"^restore.yml: no compute host answered \(a-h1, a-h2: down"):
        F.live_hosts({"a-h1": {}, "a-h2": {}}, ["a-h1", "a-h2"], "restore.yml", netns_dir=str(tmp_path / "none"))


def test_the_controllers_catalog_is_private(tmp_path):
    F.write_catalog("demo", str(tmp_path), {"serial": 1})
    path = tmp_path / "demo" / "catalog.json"
    assert json.loads(path.read_text()) == {"serial": 1} and (path.stat().st_mode & 0o777) == 0o600
