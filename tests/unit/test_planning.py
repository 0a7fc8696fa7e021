"""The planner (plugins/module_utils/planning.py): the exact restart
probability against brute-force enumeration and the Monte Carlo simulator,
site loss, the table, the checkpoint interval, plan() and scripts/plan."""

import itertools
import json
import math
import os
import subprocess
import sys
from fractions import Fraction

import pytest

from ansible_collections.vcluster.cluster.plugins.module_utils import ckpt, planning

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Many cells are compared at once: each at 99.9 % so that the whole grid is
# unlikely to miss by chance (the seeds are fixed, so the outcome is stable).
CONFIDENCE = 0.999


# --- brute force ------------------------------------------------------------

def brute_random(counts, k, f):
    """P(restart), random placement, by enumerating every placement (each
    vnode: every k-subset of the other hosts, equally likely) and every
    failed set of f hosts. Bitmasks for speed."""
    n = len(counts)
    origins = [h for h, c in enumerate(counts) for _ in range(c)]
    choices = [[sum(1 << p for p in combo) for combo in itertools.combinations([x for x in range(n) if x != h], k)]
               for h in origins]
    failed_sets = [sum(1 << h for h in combo) for combo in itertools.combinations(range(n), f)]
    good = total = 0
    for placed in itertools.product(*choices):
        for failed in failed_sets:
            total += 1
            good += not any(failed >> h & 1 and mask & ~failed == 0 for h, mask in zip(origins, placed))
    return Fraction(good, total)


def brute_spread_two_sites(sizes, k, f):
    """P(restart), spread placement, two sites, one vnode per host: a vnode's
    replicas are min(k, other site's size) uniform hosts of the other site and
    the rest uniform hosts of its own site (not itself)."""
    n = sum(sizes)
    site = [0] * sizes[0] + [1] * sizes[1]
    choices = []
    for h in range(n):
        other = [x for x in range(n) if site[x] != site[h]]
        home = [x for x in range(n) if site[x] == site[h] and x != h]
        away = min(k, len(other))
        choices.append([sum(1 << p for p in a + b) for a in itertools.combinations(other, away)
                        for b in itertools.combinations(home, k - away)])
    failed_sets = [sum(1 << h for h in combo) for combo in itertools.combinations(range(n), f)]
    good = total = 0
    for placed in itertools.product(*choices):
        for failed in failed_sets:
            total += 1
            good += not any(failed >> h & 1 and mask & ~failed == 0 for h, mask in enumerate(placed))
    return Fraction(good, total)


@pytest.mark.parametrize("n,k", [(4, 1), (4, 2), (5, 1), (5, 2)])
def test_exact_formula_matches_enumeration(n, k):
    for f in range(n + 1):
        expected = brute_random([1] * n, k, f)
        assert planning.restart_probability(n, k, f, exact=True) == expected, (n, k, f)
        assert planning.restart_probability_layout([1] * n, k, f, exact=True) == expected
        assert planning.restart_probability(n, k, f) == pytest.approx(float(expected), abs=1e-12)


@pytest.mark.parametrize("counts,k", [([2, 1, 0, 1], 1), ([2, 1, 0, 1], 2), ([1, 0, 3, 1, 0], 1)])
def test_layout_formula_matches_enumeration(counts, k):
    for f in range(len(counts) + 1):
        assert planning.restart_probability_layout(counts, k, f, exact=True) == brute_random(counts, k, f)


@pytest.mark.parametrize("sizes,k", [((2, 2), 1), ((2, 2), 2), ((2, 3), 1), ((2, 3), 2), ((3, 3), 1)])
def test_exact_spread_matches_enumeration(sizes, k):
    for f in range(sum(sizes) + 1):
        assert planning.restart_probability_spread(sizes, k, f, exact=True) == brute_spread_two_sites(sizes, k, f)


def test_known_values():
    assert planning.restart_probability(4, 1, 2, exact=True) == Fraction(4, 9)  # (1 - 1/3) ** 2
    assert planning.restart_probability(4, 1, 3, exact=True) == Fraction(1, 27)
    assert planning.restart_probability_spread([2, 2], 1, 2, exact=True) == Fraction(1, 2)
    assert planning.loss_probability(16, 3, 5) == Fraction(4, 455)
    assert planning.restart_probability(10 ** 6, 2, 1000) == pytest.approx(
        (1 - math.comb(999, 2) / math.comb(10 ** 6 - 1, 2)) ** 1000, rel=1e-12)


def test_monotone_in_f_and_k():
    for n in (8, 13, 64):
        for k in range(0, 5):
            ps = [planning.restart_probability(n, k, f, exact=True) for f in range(n + 1)]
            assert ps[0] == 1 and ps[-1] == 0
            assert all(a >= b for a, b in zip(ps, ps[1:])), (n, k)
            assert all(p == 1 for p in ps[:k + 1])
        for f in range(n + 1):
            ks = [planning.restart_probability(n, k, f, exact=True) for k in range(n)]
            assert all(a <= b for a, b in zip(ks, ks[1:])), (n, f)


# --- Monte Carlo --------------------------------------------------------------

def inside(mc, p):
    return mc["low"] <= p <= mc["high"]


def test_monte_carlo_agrees_with_exact_random():
    cells = []
    for n in (8, 32, 128):
        for k in (1, 2, 3):
            # around the 90 % point and further out, where P is neither 0 nor 1
            f0 = planning.max_failures(n, k, 0.9)
            cells += [(n, k, f) for f in sorted({f0 + 1, min(n, 2 * f0 + 1)})]
    for i, (n, k, f) in enumerate(cells):
        mc = planning.simulate(n, k, f, "random", trials=4000, seed=i, confidence=CONFIDENCE)
        exact = planning.restart_probability(n, k, f)
        assert 0 < exact < 1
        assert inside(mc, exact), (n, k, f, exact, mc)
    assert len(cells) >= 15


def test_monte_carlo_agrees_with_exact_spread():
    for i, (sizes, k, f) in enumerate([((4, 4), 1, 2), ((4, 4), 1, 3), ((4, 4), 2, 4), ((16, 16), 1, 4),
                                       ((16, 16), 2, 10), ((10, 12, 10), 1, 4), ((10, 12, 10), 2, 9)]):
        layout = planning.Layout.uniform(sum(sizes), list(sizes))
        exact = planning.restart_probability_spread(sizes, k, f)
        mc = planning.simulate(layout, k, f, "spread", trials=4000, seed=100 + i, confidence=CONFIDENCE)
        assert inside(mc, exact), (sizes, k, f, exact, mc)


def test_the_project_placement_function_agrees():
    """ckpt.place_replicas, the FT layer's placement, given as a function."""
    layout = planning.Layout.uniform(8, 2)
    sites, origins = layout.sites(), layout.vnodes
    for i, (policy, k, f, exact) in enumerate([
            ("random", 1, 3, planning.restart_probability(8, 1, 3)),
            ("spread", 1, 3, planning.restart_probability_spread([4, 4], 1, 3)),
            ("spread", 2, 5, planning.restart_probability_spread([4, 4], 2, 5))]):
        def place(rng, policy=policy, k=k):
            return ckpt.place_replicas(origins, sites, k, policy, seed=rng.getrandbits(64))
        mc = planning.simulate(layout, k, f, place, trials=1500, seed=200 + i, confidence=CONFIDENCE)
        assert inside(mc, exact), (policy, k, f, exact, mc)


def test_simulate_is_seeded_and_wilson_is_sane():
    a = planning.simulate(32, 1, 4, trials=500, seed=7)
    assert a == planning.simulate(32, 1, 4, trials=500, seed=7)
    assert a["low"] <= a["p"] <= a["high"] and a["confidence"] == 0.95
    assert planning.wilson(0, 100) == (0.0, pytest.approx(0.037, abs=1e-3))
    assert planning.wilson(100, 100) == (pytest.approx(0.963, abs=1e-3), 1.0)
    low, high = planning.wilson(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-4) and high == pytest.approx(0.5962, abs=1e-4)


# --- loss of a whole site -----------------------------------------------------

@pytest.mark.parametrize("n,k", [(4, 1), (8, 1), (8, 2), (64, 3), (9, 2)])
def test_spread_survives_a_whole_site_with_two_sites(n, k):
    layout = planning.Layout.uniform(n, 2)
    assert set(planning.site_loss(layout, k, "spread").values()) == {1.0}
    assert all(p < 1 for p in planning.site_loss(layout, k, "random").values())
    # the same holds for every concrete placement ckpt.place_replicas makes
    for seed in range(20):
        placed = ckpt.place_replicas(layout.vnodes, layout.sites(), k, "spread", seed=seed)
        assert set(planning.site_loss(layout, k, placed).values()) == {1.0}


def test_site_loss_values():
    layout = planning.Layout.uniform(4, 2)
    assert planning.site_loss(layout, 1, "random") == {"s0": pytest.approx(4 / 9), "s1": pytest.approx(4 / 9)}
    assert planning.site_loss(layout, 0, "spread") == {"s0": 0.0, "s1": 0.0}
    assert planning.site_loss(planning.Layout.uniform(4, 1), 3, "spread") == {"s0": 0.0}
    bad = {"v0": ["h1"], "v1": ["h2"], "v2": ["h0"], "v3": ["h0"]}
    assert planning.site_loss(layout, 1, bad) == {"s0": 0.0, "s1": 1.0}


# --- the table ----------------------------------------------------------------

NODES = [8, 16, 32, 64, 128, 256, 512, 1024, 2048]


def test_table_shape_and_values():
    rows = planning.table(NODES, [1, 2, 3], [0.9, 0.99, 0.999])
    assert len(rows) == 81
    assert [(r["nodes"], r["replicas"], r["target"]) for r in rows] == list(
        itertools.product(NODES, [1, 2, 3], [0.9, 0.99, 0.999]))
    cell = {(r["nodes"], r["replicas"], r["target"]): r["max_failures"] for r in rows}
    assert all(cell[(8, k, t)] == k for k in (1, 2, 3) for t in (0.9, 0.99, 0.999))
    # (451/455)**5 = 0.957 >= 0.9 > (445/455)**6 = 0.875
    assert cell[(16, 3, 0.9)] == 5
    # k = 1: P = (1 - (f-1)/(N-1))**f ~ exp(-f(f-1)/(N-1)): 15*14 = 210 <= 2047 ln(1/0.9) = 215.7 < 16*15
    assert cell[(2048, 1, 0.9)] == 15
    for (n, k, t), f in cell.items():
        assert planning.restart_probability(n, k, f, exact=True) >= Fraction(str(t))
        assert f == n or planning.restart_probability(n, k, f + 1, exact=True) < Fraction(str(t))
        assert f >= k
        assert cell.get((n, k + 1, t), f) >= f


def test_table_command_json():
    # Its run time (the 5 s target) is measured, not asserted: see docs/planning.md.
    proc = subprocess.run([os.path.join(ROOT, "scripts", "plan"), "--table", "--nodes", ",".join(map(str, NODES)),
                           "--replicas", "1,2,3", "--targets", "0.9,0.99,0.999", "--json"],
                          capture_output=True, text=True, check=True)
    data = json.loads(proc.stdout)
    assert list(data) == ["table"]
    assert data["table"] == planning.table(NODES, [1, 2, 3], [0.9, 0.99, 0.999])
    assert set(data["table"][0]) == {"nodes", "replicas", "target", "max_failures"}


def test_standalone_import():
    code = "import sys; sys.path.insert(0, %r); import planning; print(planning.max_failures(64, 2, 0.99))" % (
        os.path.join(ROOT, "plugins", "module_utils"))
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "4"


# --- checkpoint interval -----------------------------------------------------

def test_young_and_daly():
    assert planning.young_interval(10, 5000) == pytest.approx(316.2278, abs=1e-4)  # sqrt(100000)
    # x = C/2M = 0.001: 316.2278 * (1 + 0.0316228/3 + 0.001/9) - 10 = 316.2278 * 1.0106520 - 10
    assert planning.daly_interval(10, 5000) == pytest.approx(309.5963, abs=1e-3)
    assert planning.daly_interval(300, 100) == 100.0  # C >= 2M: the MTBF itself
    assert planning.young_interval(60, 86400) == pytest.approx(3220.0, abs=0.1)  # sqrt(2*60*86400) = 3219.94
    # 10/300 + (150 + 20)/5000 = 0.033333 + 0.034
    assert planning.waste(300, 10, 20, 5000) == pytest.approx(0.067333, abs=1e-6)
    with pytest.raises(ValueError):
        planning.young_interval(0, 100)


def test_interval_plan_divides_the_host_mtbf():
    iv = planning.interval_plan(10, 30, 8760, 6)
    assert iv["cluster_mtbf_s"] == 8760 * 3600 / 6
    assert iv["young_s"] == pytest.approx(math.sqrt(2 * 10 * 5256000))
    # Young's interval minimises the first-order waste; Daly's is within a hair of it
    assert iv["waste_young"] <= iv["waste_daly"] <= iv["waste_young"] * 1.001


# --- plan() ---------------------------------------------------------------------

def model(placement="spread", replicas=1, sites=("site_a", "site_b")):
    """The embedded default's model as build_model makes it (the fields plan reads)."""
    hosts, vnodes = {}, []
    for site in sites:
        letter = site[-1]
        hosts["%s-gw" % letter] = {"site": site, "gateway": True}
        for i in (1, 2):
            hosts["%s-h%d" % (letter, i)] = {"site": site, "gateway": False}
            vnodes.append({"name": "vn-%s%d" % (letter, i), "host": "%s-h%d" % (letter, i), "ip": "10.241.0.1"})
    return {"cluster": "demo",
            "sites": {s: {"hosts": sorted(h for h in hosts if hosts[h]["site"] == s)} for s in sites},
            "hosts": hosts, "vnodes": vnodes,
            "ft": {"replicas": replicas, "placement": placement, "retention": 3}}


def test_plan_for_the_embedded_default():
    result = planning.plan(model(), trials=3000, confidence=CONFIDENCE)
    assert result["pool"]["hosts"] == 4 and result["pool"]["excluded"] == ["a-gw", "b-gw"]
    assert [r["failures"] for r in result["failures"]] == [1, 2, 3, 4]
    assert [r["random"]["exact"] for r in result["failures"]] == ["1", "4/9", "1/27", "0"]
    assert [r["spread"]["exact"] for r in result["failures"]] == ["1", "1/2", "0", "0"]
    for row in result["failures"]:
        assert row["spread"]["low"] <= row["spread"]["p_exact"] <= row["spread"]["high"]
    assert result["inventory"] == {"replicas": 1, "placement": "spread", "site_loss": {"site_a": 1.0, "site_b": 1.0},
                                   "survives_site_loss": True}
    assert result["site_loss"]["random"]["site_a"] == pytest.approx(4 / 9)
    rec = result["recommended"]
    assert (rec["replicas"], rec["placement"], rec["survives_site_loss"], rec["target"]) == (1, "spread", True, 0.99)
    iv = result["interval"]
    assert iv["defaults"] == list(planning.DEFAULTS) and iv["hosts"] == 6
    assert iv["young_s"] == pytest.approx(math.sqrt(2 * 10.0 * 8760 * 3600 / 6))
    json.dumps(result)


def test_plan_with_random_placement_and_given_costs():
    result = planning.plan(model("random"), {"vc_ft_checkpoint_cost_s": "4", "vc_ft_restart_cost_s": 12,
                                            "vc_ft_host_mtbf_h": 1000}, trials=500)
    assert result["inventory"]["survives_site_loss"] is False
    assert result["recommended"]["placement"] == "spread" and result["recommended"]["replicas"] == 1
    iv = result["interval"]
    assert iv["defaults"] == [] and iv["checkpoint_cost_s"] == 4.0
    assert iv["young_s"] == pytest.approx(math.sqrt(2 * 4 * 1000 * 3600 / 6))


def test_plan_single_site_and_bad_models():
    result = planning.plan(model(sites=("site_a",)), trials=200)
    rec = result["recommended"]
    assert rec["considers_site_loss"] is False and rec["replicas"] == 1
    assert result["inventory"]["survives_site_loss"] is False
    with pytest.raises(ValueError, match="vc_ft_replicas"):
        planning.plan(model(replicas=4))
    with pytest.raises(ValueError, match="vc_ft_placement"):
        planning.plan(model("nearest"))
    with pytest.raises(ValueError, match="vc_ft_host_mtbf_h"):
        planning.plan(model(), {"vc_ft_host_mtbf_h": "soon"}, trials=10)


def test_plan_playbook_prints_and_writes_the_same_plan_as_the_script(tmp_path):
    # plan.yml is the playbook form of scripts/plan (real ansible-playbook; no cluster needed)
    out = tmp_path / "plan.json"
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "plan.yml", "-e",
                           "out=%s" % out, "-e", "target=0.999"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    flat = " ".join(proc.stdout.split())
    assert "survives the loss of any one whole site with P = 1" in flat, proc.stdout[-3000:]
    result = json.loads(out.read_text())
    assert result["cluster"] == "demo" and result["recommended"]["target"] == 0.999
    assert [r["random"]["exact"] for r in result["failures"]] == ["1", "4/9", "1/27", "0"]
    script = json.loads(subprocess.run([os.path.join(ROOT, "scripts", "plan"), "--json", "--target", "0.999"],
                                       capture_output=True, text=True, timeout=120, check=True).stdout)
    assert script == result


def test_plan_filter_refuses_a_model_it_cannot_plan():
    from ansible.errors import AnsibleFilterError  # pylint: disable=import-outside-toplevel
    from ansible_collections.vcluster.cluster.plugins.filter import planning as planning_filter  # noqa
    with pytest.raises(AnsibleFilterError, match="plan: vc_ft_replicas"):
        planning_filter.vc_ft_plan(model(replicas=4))
