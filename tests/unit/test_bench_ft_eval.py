"""scripts/bench-ft-eval without a cluster: its charts and report from a
results dict (made up here), --report-only, the parsing of the playbooks'
json reports (made up in the json callback's shape), the vnode layouts it
passes as extra-vars (valid for the inventory's checks, the MPI job gets one
rank per vnode) and the prestart probabilities (real, small)."""

import copy
import importlib.machinery
import importlib.util
import json
import os
import pathlib
import subprocess
import sys
from fractions import Fraction

import pytest

from ansible_collections.vcluster.cluster.plugins.filter import jobs as job_filter
from ansible_collections.vcluster.cluster.plugins.module_utils import ft_result as R
from ansible_collections.vcluster.cluster.plugins.module_utils import inventory

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "bench-ft-eval"
PNG = b"\x89PNG\r\n\x1a\n"


def load_script():
    loader = importlib.machinery.SourceFileLoader("bench_ft_eval", str(SCRIPT))
    spec = importlib.util.spec_from_loader("bench_ft_eval", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


bench = load_script()


# --- a made-up run ------------------------------------------------------------

def ckpt(ckpt_id, vnodes, per_mb, pause, dump=0.5, k=1, repl=7.5):
    """One checkpoint as Cluster.checkpoint records it."""
    mb = {v: round(per_mb + i * 0.2, 1) for i, v in enumerate(vnodes)}
    return {"id": ckpt_id, "pause_s": pause, "steps": {"freeze": 0.02, "dump": dump, "commit": 0.003, "thaw": 0.02},
            "size_mb": round(sum(mb.values()), 1), "vnode_mb": mb, "images_mb": {v: m - 5 for v, m in mb.items()},
            "dump_s": {v: 0.3 for v in vnodes}, "fs_changed": {v: 2 for v in vnodes},
            "copies": k * len(vnodes), "copy_s": [1.0] * k * len(vnodes), "replication_s": repl,
            "playbook_s": repl + 9}


def size_run(n, per_mb, pauses, restore_phase, restore_playbook):
    names = [v["name"] for v in bench.vnode_layout(n)]
    return {"vnodes": n, "ballast_mb": 180 // n, "layout": bench.vnode_layout(n),
            "checkpoints": [ckpt(i + 1, names, per_mb + (20 if i == 0 else 0), p) for i, p in enumerate(pauses)],
            "restore": {"ckpt": len(pauses), "phase_s": restore_phase, "vnode_s": {v: 0.41 for v in names},
                        "moved": "none", "target_s": 5.82, "playbook_s": restore_playbook}}


@pytest.fixture(name="results", scope="module")
def fixture_results():
    vn4 = [v["name"] for v in bench.vnode_layout(4)]
    return {
        "machine": {"cpus": 2, "kernel": "6.18.0-test", "date": "2026-11-28"},
        "size": {"date": "2026-11-28", "ballast_total_mb": 180, "checkpoints": 2, "seconds": 540,
                 "job": {"size": 1024, "steps": 100000, "every": 100, "sleep": 0.03, "ballast": None},
                 "runs": [size_run(2, 151.3, [1.11, 1.23], 3.31, 15.2), size_run(4, 92.6, [1.42, 1.38], 4.27, 17.9),
                          size_run(8, 61.9, [2.07, 2.21], 6.73, 24.6)]},
        "replication": {"date": "2026-11-28", "vnodes": 4, "seconds": 95,
                        "job": {"size": 1024, "steps": 100000, "every": 100, "sleep": 0.03, "ballast": 45},
                        "runs": [dict(ckpt(3 + k, vn4, 92.6, 1.4, k=k, repl=r), k=k)
                                 for k, r in ((1, 7.89), (2, 20.32), (3, 30.88))]},
        "interval": {"date": "2026-11-28", "vnodes": 4, "seconds": 600,
                     "job": {"size": 1024, "steps": 2400, "every": 500, "sleep": 0.03, "ballast": 45},
                     "baselines_s": [88.0, 90.0], "baselines_heat_s": [86.0, 88.0],
                     "runs": [{"interval_s": i, "job_s": s, "heat_s": s - 2, "checkpoints": n, "after_end": 0,
                               "at_s": [i * j for j in range(1, n + 1)], "effective_interval_s": e,
                               "pauses_s": [1.5 + 0.1 * j for j in range(n)], "replication_s": [7.0] * n,
                               "playbook_s": [16.0] * n, "size_mb": [370.0] * n}
                              for i, s, n, e in ((15.0, 104.4, 5, 17.2), (30.0, 95.3, 3, 30.0),
                                                 (60.0, 91.8, 1, None))]},
        "prestart": bench.prestart((8, 2), trials=200),
    }


def check_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG, path
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use("Agg")
    import matplotlib.image  # pylint: disable=import-outside-toplevel
    image = matplotlib.image.imread(str(path))
    assert image.shape[0] > 200 and image.shape[1] > 400, (path, image.shape)


def test_render_writes_every_chart_and_the_numbers(results, tmp_path):
    text = bench.render(copy.deepcopy(results), str(tmp_path))
    assert (tmp_path / "ft-eval.md").read_text() == text
    for name in bench.CHARTS.values():
        check_png(tmp_path / name)
        assert "](%s)" % name in text  # embedded in the report
    assert "2026-11-28, 2 CPUs, kernel 6.18.0-test" in text
    # size: per vnode (mean, min-max over the vnodes of the last checkpoint), whole checkpoint, pauses
    assert "| 2 | 90 MB | 151.4 (151.3-151.5) |" in text
    assert "| 8 | 22 MB | 62.6 (61.9-63.3) |" in text
    assert "1.17 (1.11-1.23)" in text and "2.14 (2.07-2.21)" in text
    # restore phase, whole playbook, slowest vnode, target
    assert "| 4 | 4.27 | 17.90 | 0.41 | 5.82 |" in text
    assert "| 8 | 6.73 | 24.60 | 0.41 | 5.82 |" in text
    # replication against k
    assert "| 2 | 8 | " in text and "| 20.32 |" in text and "| 30.88 |" in text
    # interval: baselines' mean 89.0 s, overhead of 104.4 s = +17.3 %, of 91.8 s = +3.1 %
    assert "88.0, 90.0 s (mean 89.0 s, spread 2.2 %)" in text
    assert "| 15 s | 5 | 17.2 | 104.4 | +17.3 % | 1.70 (1.50-1.90) |" in text
    assert "| 60 s | 1 | - | 91.8 | +3.1 % | 1.50 (1.50-1.50) |" in text
    assert "| none | 0 | - | 89.0 | - | - | - |" in text
    # prestart: the embedded default's exact values (docs/planning.md: 4/9 random, 1/2 spread at f = 2)
    assert "| 2 | 0.4444 | 1 | 0.5000 | 1 |" in text
    assert "random k=1: 1 / 1 / 1" in text


def test_render_writes_only_the_parts_it_has(results, tmp_path):
    only = {"machine": results["machine"], "prestart": results["prestart"]}
    text = bench.render(only, str(tmp_path))
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["ft-eval-prestart.png"]
    assert "## P(restart)" in text and "## Checkpoint size" not in text and "## Overhead" not in text


def test_report_only_regenerates_charts_and_report(results, tmp_path):
    (tmp_path / "ft-eval.json").write_text(json.dumps(results))
    proc = subprocess.run([sys.executable, str(SCRIPT), "--report-only", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "| 4 | 4.27 | 17.90 | 0.41 | 5.82 |" in (tmp_path / "ft-eval.md").read_text()
    for name in bench.CHARTS.values():
        check_png(tmp_path / name)
    assert json.loads((tmp_path / "ft-eval.json").read_text()) == results  # read, not rewritten


def test_summary_lines(results):
    lines = bench.summary(copy.deepcopy(results))
    assert lines[0].startswith("2 vnodes: 151.4 MB per vnode")
    assert any(line.startswith("replication: k=1 7.89 s (4 copies), k=2 20.32 s (8 copies)") for line in lines)
    assert any("15 s 104.4 s (+17.3 %, 5 ckpt)" in line for line in lines)


# --- the playbooks' json reports ------------------------------------------------

def report(*tasks):
    """An ansible.posix.json report: tasks given as (name, {host: result})."""
    return {"plays": [{"play": {"name": "x"}, "tasks": [{"task": {"name": name}, "hosts": hosts}
                                                        for name, hosts in tasks]}], "stats": {}}


def test_parse_checkpoint_report():
    result = R.checkpoint(7, {"pause": 0.91, "steps": {"freeze": 0.01, "dump": 0.8}, "dumps": {
        "a-h1": [{"vnode": "vn-a1", "size": 80_000_000, "images_size": 74_000_000, "total_s": 0.4, "fs_changed": 3}],
        "b-h1": [{"vnode": "vn-b1", "size": 75_000_000, "images_size": 70_000_000, "total_s": 0.3, "fs_changed": 1}]}},
        {"vnodes": {"vn-a1": {}, "vn-b1": {}}, "size": 155_000_000},
        [{"vnode": "vn-a1", "src": "a-h1", "dst": "b-h2", "ids": [7], "seconds": 3.1},
         {"vnode": "vn-b1", "src": "b-h1", "dst": "a-h2", "ids": [6, 7], "seconds": 4.2}], 10.0, 16.94, 17.0)
    c = bench.parse_checkpoint(dict(report(), global_custom_stats={"vc_ft_result": result}))
    assert c == {"id": 7, "pause_s": 0.91, "steps": {"freeze": 0.01, "dump": 0.8}, "size_mb": 155.0,
                 "vnode_mb": {"vn-a1": 80.0, "vn-b1": 75.0}, "images_mb": {"vn-a1": 74.0, "vn-b1": 70.0},
                 "dump_s": {"vn-a1": 0.4, "vn-b1": 0.3}, "fs_changed": {"vn-a1": 3, "vn-b1": 1},
                 "copies": 2, "copy_s": [3.1, 4.2], "replication_s": 6.94}
    with pytest.raises(bench.BenchError):
        bench.parse_checkpoint(report())  # no result: the verb failed before it made one


def test_parse_restore_report():
    plan = {"vn-a1": {"host": "a-h1", "moved": False}, "vn-b1": {"host": "b-h1", "moved": False}}
    result = R.restore(6, plan, ["a-h1", "b-h1"], [], 10.0, 13.26, {"load": {
        "a-h1": [{"vnode": "vn-a1", "total_s": 0.43}], "b-h1": [{"vnode": "vn-b1", "total_s": 0.38}]}})
    assert bench.parse_restore(dict(report(), global_custom_stats={"vc_ft_result": result})) == {
        "ckpt": 6, "phase_s": 3.26, "vnode_s": {"vn-a1": 0.43, "vn-b1": 0.38}, "moved": "none", "target_s": 5.86}
    with pytest.raises(bench.BenchError):
        bench.parse_restore(dict(report(), global_custom_stats={"vc_ft_result": dict(result, verb="checkpoint")}))


def test_parse_job_reports():
    started = report(("Check that the cluster has vnodes and the job exists",
                      {"localhost": {"ansible_facts": {"__vc_job": {"np": 8}}}}),
                     ("Start the job under vcjob in the head vnode", {"localhost": {"stdout": json.dumps(
                         {"id": 12, "status": "running"})}}))
    assert bench.parse_started(started) == (12, 8)
    out = "step 500 checksum 0x1.8p+3\nfinal checksum 0x1.8p+3\nheat: size 1024, 2400 steps, 4 ranks, 86.20 s " \
          "(35.9 ms/step), checksum 12.0\n"
    state = bench.parse_job(report(("Read the job (waiting for its end with wait=true, progress every 10 s)", {
        "localhost": {"stdout": json.dumps({"id": 12, "status": "succeeded", "rc": 0, "start": 100.0,
                                            "end": 188.5, "output": out})}})))
    assert (state["status"], state["ranks"], state["heat_s"], state["end"] - state["start"]) == \
        ("succeeded", 4, 86.2, 88.5)


# --- the vnode layouts (extra-vars) ---------------------------------------------

def local_inventory():
    """hostvars and groups of inventories/local as the validate action sees
    them (ansible-inventory --list; vc_store_dir rendered by hand)."""
    exe = ROOT / ".venv" / "bin" / "ansible-inventory"
    proc = subprocess.run([str(exe) if exe.exists() else "ansible-inventory", "-i", str(ROOT / "inventories" / "local"),
                           "--list"], capture_output=True, text=True, timeout=120, check=True, cwd=ROOT)
    data = json.loads(proc.stdout)
    hostvars = data["_meta"]["hostvars"]

    def members(group):
        entry = data.get(group, {})
        return set(entry.get("hosts", [])).union(*[members(c) for c in entry.get("children", [])])

    groups = {g: sorted(members(g)) for g in data if g != "_meta"}
    groups["all"] = sorted(hostvars)
    for host, hv in hostvars.items():
        hv["vc_store_dir"] = "%s/hosts/%s/disk" % (hv["testbed_state_dir"], host)
    return hostvars, groups, sorted(data["sites"]["children"])


@pytest.mark.parametrize("n", [2, 4, 8])
def test_vnode_layouts_are_valid_extra_vars(n):
    hostvars, groups, sites = local_inventory()
    layout = bench.vnode_layout(n)
    for hv in hostvars.values():  # extra-vars: the same value for every host
        hv["vc_vnodes"] = copy.deepcopy(layout)
        hv["vc_ft_replicas"] = 3  # the largest k of the replication runs
    model = inventory.build_model(hostvars, groups, sites)
    assert inventory.validate(model) == []
    assert len(model["vnodes"]) == n and model["vnodes"][0]["name"] == "vn-a1"
    per_host = [sum(v["host"] == h for v in layout) for h in ("a-h1", "a-h2", "b-h1", "b-h2")]
    assert per_host == {2: [1, 0, 1, 0], 4: [1, 1, 1, 1], 8: [2, 2, 2, 2]}[n]  # one per site, per host, two per host
    job = job_filter.vc_job("heat", None, layout, {"size": 1024, "steps": 10, "ballast": 45})
    assert job["np"] == n


def test_four_vnodes_are_the_inventorys_own():
    hostvars, _groups, _sites = local_inventory()
    assert bench.vnode_layout(4) == hostvars["a-h1"]["vc_vnodes"]


@pytest.mark.parametrize("bad", [0, 1, 3, 20])
def test_vnode_layout_refuses_odd_or_too_many(bad):
    with pytest.raises(ValueError):
        bench.vnode_layout(bad)


def test_prestart_matches_the_exact_formulas():
    out = bench.prestart((8, 2), trials=300)
    default, large = out["layouts"]
    assert (default["hosts"], default["vnodes"], large["hosts"], len(large["sites"])) == (4, 4, 8, 2)
    curve = {(c["placement"], c["k"]): c for c in default["curves"]}
    assert curve["random", 1]["p"][2] == pytest.approx(float(Fraction(4, 9)))
    assert curve["spread", 1]["p"][2] == pytest.approx(0.5)
    assert curve["spread", 2]["p"][3] == 0 and curve["random", 2]["p"][3] == pytest.approx(float(Fraction(8, 27)))
    for lay in out["layouts"]:
        for c in lay["curves"]:
            assert c["p"][0] == 1 and c["p"][-1] == 0
            assert all(a >= b - 1e-12 for a, b in zip(c["p"], c["p"][1:]))  # non-increasing in f
            if c["placement"] == "spread":
                assert all(0 <= m[1] <= m[0] <= m[2] <= 1 for m in c["mc"])


def test_script_is_executable():
    assert os.access(SCRIPT, os.X_OK)
