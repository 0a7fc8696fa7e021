"""Planning for the fault-tolerance layer: plain Python 3, standard library only.

What the planner answers, before any checkpoint is taken:

* the probability that the cluster can be **restarted** from its latest
  checkpoint after ``f`` hosts fail at once, for ``k`` replicas and a replica
  placement (``random``, ``spread`` or any placement given as a function);
* the same under the loss of one **whole site**;
* the table "largest f such that P(restart) >= t";
* the **checkpoint interval** (Young, Daly) and the expected waste;
* ``plan(model)``: all of it for an inventory model
  (``inventory.build_model``), with a recommended k and placement.

The model
---------
A *pool* of hosts that hold checkpoints and may fail, grouped in sites; every
vnode runs on a host of the pool and its checkpoint is kept on that host (its
*origin*) plus ``k`` replicas on ``k`` distinct other hosts of the pool. A
failure event takes down a set ``F`` of ``f`` hosts, all ``f``-subsets of the
pool equally likely, independently of where the replicas are. The cluster can
restart when every vnode still has at least one copy on a surviving host.
For the table and the formulas below every host runs one vnode (``N`` hosts,
``N`` vnodes), as in the seed paper.

Placements (the same rules as ``ckpt.place_replicas``):

* ``random``: the k replicas of each vnode go to a uniformly random k-subset of
  the other ``N - 1`` hosts, independently for every vnode;
* ``spread``: hosts at the *other* sites first, round-robin over those sites
  (in a random order of the sites), a uniformly random not yet chosen host in
  each; only when the other sites are exhausted, hosts of the origin's own
  site. With k >= 1 and at least two sites every vnode has a copy outside its
  own site, so the loss of one whole site loses no checkpoint.

Exact P(restart) for ``random`` (one vnode per host)
---------------------------------------------------
Condition on the failed set ``F`` (``|F| = f``). A vnode whose host survives
keeps its own copy. A vnode whose host ``h`` is in ``F`` is lost exactly when
all its k replicas lie in ``F \\ {h}``, which has ``f - 1`` hosts; its replica
set is a uniform k-subset of the ``N - 1`` other hosts, so::

    q(f) = P(vnode lost | its host failed) = C(f-1, k) / C(N-1, k)

(0 when f - 1 < k). Given ``F`` the vnodes' placements are independent, so the
``f`` vnodes on failed hosts survive together with probability
``(1 - q(f))**f``. That does not depend on which hosts ``F`` holds, hence::

    P(restart | N, k, f) = (1 - C(f-1, k) / C(N-1, k)) ** f

It is 1 for f <= k, 0 for f = N (and for k = 0, f >= 1), and non-increasing
in f (q grows with f and so does the exponent) and non-decreasing in k.
With several vnodes per host, or hosts without vnodes, the same conditioning
gives ``P = E_F[(1 - q(f)) ** m(F)]`` with ``m(F)`` the number of vnodes on
the failed hosts; ``restart_probability_layout`` evaluates it exactly as the
coefficient of ``x**f`` in ``prod_h (1 + x * (1 - q(f)) ** c_h)`` divided by
``C(N, f)`` (``c_h`` vnodes on host ``h``).

``spread`` has an exact form too when every host runs one vnode
(``restart_probability_spread``): condition on how many failed hosts each site
has (multivariate hypergeometric); a vnode at site s is lost with probability
``avg over site orders of prod_sites C(f_s', c_s') / C(n_s', c_s')``, where
``c_s'`` replicas go to site s' by the round-robin rule and the origin's own
site counts without the origin (``n_s - 1`` hosts, ``f_s - 1`` failed). Any
placement is also handled by the Monte Carlo simulator ``simulate``.

Checkpoint interval
-------------------
``C`` = checkpoint cost in seconds (the cluster's pause plus the job's
slowdown while the checkpoint is replicated, as lost compute time), ``R`` =
restart cost (restore until the job runs again), ``M`` = MTBF of the whole
cluster = host MTBF / number of hosts (hosts fail independently with
exponentially distributed lifetimes, and any host's failure interrupts the
job). Young: ``tau = sqrt(2 C M)``. Daly (higher order): for ``C < 2M``,
``tau = sqrt(2 C M) * (1 + sqrt(C / 2M) / 3 + (C / 2M) / 9) - C``, else
``tau = M``. Expected waste (first order, fraction of wall-clock time not
spent on useful work): ``C / tau + (tau / 2 + R) / M``: one checkpoint per
interval, and per failure (``1 / M`` per second) on average half an interval
of lost work plus the restart. Meaningful when it is well below 1.
"""

import math
import random as _random
import statistics
from fractions import Fraction
from itertools import permutations

PLACEMENTS = ("random", "spread")
DEFAULT_TARGET = 0.99
# Planning inputs (inventory variables) and their defaults: a pause of a few
# seconds plus replication traffic (the seed paper measured up to ~11 % overhead
# at 2-minute intervals, i.e. ~10 s per checkpoint), a restore of the whole
# cluster, and a commodity host failing about once a year.
DEFAULTS = {
    "vc_ft_checkpoint_cost_s": 10.0,
    "vc_ft_restart_cost_s": 30.0,
    "vc_ft_host_mtbf_h": 8760.0,
}


def _check(n, k, f=None):
    for name, value in (("n", n), ("k", k)) + ((("f", f),) if f is not None else ()):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError("%s must be an integer, not %r" % (name, value))
    if n < 1:
        raise ValueError("n must be at least 1 (hosts), not %d" % n)
    if not 0 <= k <= n - 1:
        raise ValueError("k must be from 0 to n - 1 = %d (replicas on distinct other hosts), not %d" % (n - 1, k))
    if f is not None and not 0 <= f <= n:
        raise ValueError("f must be from 0 to n = %d (failed hosts), not %d" % (n, f))


def _fraction(value):
    """A target probability as an exact fraction (0.99 -> 99/100, not the binary float)."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, float):
        return Fraction(repr(value))
    return Fraction(value)


# --- exact, random placement ------------------------------------------------

def loss_probability(n, k, f):
    """q(f) = C(f-1, k) / C(n-1, k): the probability that a vnode whose host is
    one of the f failed hosts has all k replicas on the other failed hosts
    (random placement). Exact Fraction."""
    _check(n, k, f)
    if f == 0:
        return Fraction(0)
    return Fraction(math.comb(f - 1, k), math.comb(n - 1, k))


def restart_probability(n, k, f, exact=False):
    """P(restart) for n hosts with one vnode each, k replicas placed at random,
    f hosts failed: (1 - C(f-1, k) / C(n-1, k)) ** f. A Fraction when
    ``exact``, else a float (computed through logarithms, fine for huge n)."""
    q = loss_probability(n, k, f)
    if exact:
        return (1 - q) ** f
    if q == 1:
        return 0.0
    return math.exp(f * math.log1p(-float(q)))


def restart_probability_layout(counts, k, f, exact=False):
    """P(restart), random placement, for a pool of hosts where host i runs
    ``counts[i]`` vnodes (0 allowed): E_F[(1 - q(f)) ** m(F)], evaluated as the
    coefficient of x**f in prod_i (1 + x * (1 - q(f)) ** counts[i]) over C(n, f)."""
    n = len(counts)
    _check(n, k, f)
    a = 1 - loss_probability(n, k, f)
    if not exact:
        a = float(a)
    coeffs = [Fraction(1) if exact else 1.0] + [Fraction(0) if exact else 0.0] * f
    for c in counts:
        term = a ** c
        for j in range(min(f, n), 0, -1):
            coeffs[j] += coeffs[j - 1] * term
    return coeffs[f] / math.comb(n, f)


EXACT_BITS = 1 << 20  # above this size of B ** f, meets() compares logarithms


def meets(n, k, f, target):
    """Whether P(restart | n, k, f) >= target, decided exactly in integers,
    (B - A) ** f * den >= num * B ** f with q = A / B and target = num / den,
    as long as B ** f has at most EXACT_BITS bits (every N up to well beyond
    2048); beyond, in floating point: f * log1p(-q) >= log(target)."""
    _check(n, k, f)
    t = _fraction(target)
    if f == 0:
        return t <= 1
    a, b = math.comb(f - 1, k), math.comb(n - 1, k)
    if a == 0:
        return t <= 1
    if a == b:
        return t <= 0
    if f * b.bit_length() <= EXACT_BITS:
        return (b - a) ** f * t.denominator >= t.numerator * b ** f
    return f * math.log1p(-a / b) >= math.log(t)


def max_failures(n, k, target):
    """The largest f (0..n) such that P(restart | n, k, f) >= target for the
    random placement (binary search: P is non-increasing in f, P(0) = 1)."""
    _check(n, k)
    t = _fraction(target)
    if not 0 < t <= 1:
        raise ValueError("target must be a probability in (0, 1], not %s" % target)
    lo, hi = 0, n  # meets(lo) holds; answer in [lo, hi]
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if meets(n, k, mid, t):
            lo = mid
        else:
            hi = mid - 1
    return lo


def table(nodes, replicas, targets):
    """[{"nodes": N, "replicas": k, "target": t, "max_failures": f}, ...] for
    every combination, random placement, exact."""
    rows = []
    for n in nodes:
        for k in replicas:
            for t in targets:
                rows.append({"nodes": n, "replicas": k, "target": t, "max_failures": max_failures(n, k, t)})
    return rows


# --- layouts and the spread placement -----------------------------------------

class Layout:
    """The pool of hosts (they hold copies and may fail), their sites, and the
    host of every vnode. ``sites``: {site: [host, ...]}; ``vnodes``:
    {vnode: host}."""

    def __init__(self, sites, vnodes):
        self.site_names = sorted(s for s in sites if sites[s])
        self.hosts = sorted(h for s in self.site_names for h in sites[s])
        if len(set(self.hosts)) != len(self.hosts):
            raise ValueError("a host is in more than one site")
        if not self.hosts:
            raise ValueError("the layout has no hosts")
        self.index = {h: i for i, h in enumerate(self.hosts)}
        self.site_of = [0] * len(self.hosts)
        self.site_hosts = []
        for si, s in enumerate(self.site_names):
            members = sorted(self.index[h] for h in sites[s])
            self.site_hosts.append(members)
            for i in members:
                self.site_of[i] = si
        self.vnodes = dict(vnodes)
        self.vnodes_on = [[] for _ in self.hosts]
        for vnode, host in sorted(self.vnodes.items()):
            if host not in self.index:
                raise ValueError("vnode %s is on %s, which is not a host of the pool" % (vnode, host))
            self.vnodes_on[self.index[host]].append(vnode)

    @property
    def n(self):
        return len(self.hosts)

    @property
    def counts(self):
        return [len(v) for v in self.vnodes_on]

    @property
    def site_sizes(self):
        return [len(h) for h in self.site_hosts]

    def sites(self):
        return {s: [self.hosts[i] for i in self.site_hosts[si]] for si, s in enumerate(self.site_names)}

    def one_per_host(self):
        return all(c == 1 for c in self.counts)

    @classmethod
    def uniform(cls, n, sites=1):
        """n hosts, one vnode each (``v<i>`` on ``h<i>``), in ``sites`` sites:
        a number of sites of as equal sizes as possible, or a list of sizes."""
        sizes = list(sites) if isinstance(sites, (list, tuple)) else \
            [n // sites + (1 if i < n % sites else 0) for i in range(sites)]
        if sum(sizes) != n or any(s < 0 for s in sizes):
            raise ValueError("site sizes %s do not add up to %d hosts" % (sizes, n))
        groups, i = {}, 0
        width = len(str(n - 1))
        for si, size in enumerate(sizes):
            groups["s%d" % si] = ["h%0*d" % (width, j) for j in range(i, i + size)]
            i += size
        return cls(groups, {"v" + h[1:]: h for hs in groups.values() for h in hs})


def copy_hosts(model):
    """{site: [hosts]} of the pool for an inventory model: the hosts that are
    not gateways, plus any gateway that runs a vnode. Gateways carry the site's
    WAN end and VPN and, in the project's inventories, no vnode: they neither
    make checkpoints nor are counted among the hosts whose failure loses one.
    The FT layer should give the same pool to ckpt.place_replicas."""
    hosts = model.get("hosts") or {}
    busy = {vn.get("host") for vn in model.get("vnodes") or [] if isinstance(vn, dict)}
    sites = {}
    for host, h in sorted(hosts.items()):
        if not h.get("gateway") or host in busy:
            sites.setdefault(h.get("site"), []).append(host)
    return sites


def layout_from_model(model):
    """The Layout of an inventory model (see ``copy_hosts``)."""
    vnodes = {vn["name"]: vn["host"] for vn in model.get("vnodes") or [] if isinstance(vn, dict)}
    return Layout(copy_hosts(model), vnodes)


def _round_robin(sizes, k):
    """Replicas per site when k are dealt one per site per round over sites of
    these sizes (in this order) until k are dealt or the sites are exhausted."""
    counts, need = [0] * len(sizes), k
    while need and any(c < s for c, s in zip(counts, sizes)):
        for i, size in enumerate(sizes):
            if need and counts[i] < size:
                counts[i] += 1
                need -= 1
    return counts, need


def _spread_shares(sizes, si, k):
    """The possible (probability, {site: replicas}) for a vnode at site si:
    one per order of the other sites (all orders equally likely)."""
    others = [s for s in range(len(sizes)) if s != si and sizes[s]]
    if len(others) > 7:
        raise ValueError("exact spread supports at most 8 sites")
    shares = {}
    orders = list(permutations(others)) or [()]
    for order in orders:
        counts, need = _round_robin([sizes[s] for s in order], k)
        share = {s: c for s, c in zip(order, counts) if c}
        if need:
            share[si] = min(need, sizes[si] - 1)
        key = tuple(sorted(share.items()))
        shares[key] = shares.get(key, 0) + Fraction(1, len(orders))
    return [(p, dict(key)) for key, p in shares.items()]


def _compositions(sizes, f):
    if not sizes:
        if f == 0:
            yield ()
        return
    for first in range(max(0, f - sum(sizes[1:])), min(sizes[0], f) + 1):
        for rest in _compositions(sizes[1:], f - first):
            yield (first,) + rest


def restart_probability_spread(site_sizes, k, f, exact=False):
    """Exact P(restart) for the spread placement when every host runs one
    vnode; ``site_sizes``: hosts per site. Sums over the number of failed
    hosts per site (f_s, hypergeometric weights prod C(n_s, f_s) / C(n, f));
    a vnode at site s whose host failed is lost with probability
    avg_orders prod_s' C(f'_s', c_s') / C(n'_s', c_s'), with (n', f') = (n, f)
    at other sites and (n - 1, f - 1) at its own."""
    sizes = [s for s in site_sizes if s]
    n = sum(sizes)
    _check(n, k, f)
    shares = [_spread_shares(sizes, si, k) for si in range(len(sizes))]
    total = Fraction(0)
    for comp in _compositions(sizes, f):
        weight = Fraction(math.prod(math.comb(ns, fs) for ns, fs in zip(sizes, comp)), math.comb(n, f))
        survive = Fraction(1)
        for si, fs in enumerate(comp):
            if not fs:
                continue
            lost = Fraction(0)
            for p, share in shares[si]:
                term = p
                for s, c in share.items():
                    avail, failed = (sizes[s] - 1, fs - 1) if s == si else (sizes[s], comp[s])
                    term *= Fraction(math.comb(failed, c), math.comb(avail, c))
                lost += term
            survive *= (1 - lost) ** fs
        total += weight * survive
    return total if exact else float(total)


# --- Monte Carlo --------------------------------------------------------------

def wilson(successes, trials, confidence=0.95):
    """Wilson score interval (low, high) of a binomial proportion."""
    if trials <= 0:
        return 0.0, 1.0
    z = statistics.NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high


def _sampler(layout, k, placement):
    """A function (rng, host index) -> replica host indices of one vnode there."""
    n = layout.n
    if placement == "random":
        others = range(n - 1)

        def draw(rng, h):
            return [i if i < h else i + 1 for i in rng.sample(others, k)]
        return draw
    if placement != "spread":
        raise ValueError("placement %r is unknown; use %s or a function" % (placement, " or ".join(PLACEMENTS)))
    sizes = layout.site_sizes
    others = [[s for s in range(len(sizes)) if s != si and sizes[s]] for si in range(len(sizes))]

    def draw_spread(rng, h):
        si = layout.site_of[h]
        order = others[si][:]
        rng.shuffle(order)
        counts, need = _round_robin([sizes[s] for s in order], k)
        peers = []
        for s, c in zip(order, counts):
            if c:
                peers += rng.sample(layout.site_hosts[s], c)
        if need:
            home = layout.site_hosts[si]
            pos = home.index(h)
            peers += [home[i if i < pos else i + 1] for i in rng.sample(range(len(home) - 1), min(need, len(home) - 1))]
        return peers
    return draw_spread


def simulate(layout, k, f, placement="random", trials=10000, seed=0, confidence=0.95):
    """Monte Carlo estimate of P(restart) for ``layout`` (a Layout, or an
    integer n for n hosts with one vnode each in one site), k replicas, f
    failed hosts drawn uniformly. ``placement``: ``random``, ``spread``, or a
    function rng -> {vnode: [replica hosts]} (a whole placement, drawn anew
    every trial, e.g. a wrapper of ckpt.place_replicas). For the two named
    placements only the vnodes of the failed hosts are placed (the others keep
    their own copy whatever their replicas): same distribution, less work.
    Returns {"p", "low", "high", "trials", "successes", "confidence"}."""
    if isinstance(layout, int):
        layout = Layout.uniform(layout)
    n = layout.n
    _check(n, k, f)
    rng = _random.Random(seed)
    hosts = range(n)
    successes = 0
    if callable(placement):
        names, origin = layout.hosts, layout.vnodes
        for _ in range(trials):
            chosen = placement(rng)
            failed = {names[i] for i in rng.sample(hosts, f)}
            successes += not any(origin[v] in failed and all(p in failed for p in chosen.get(v, ()))
                                 for v in origin)
    else:
        draw = _sampler(layout, k, placement)
        on = layout.counts
        for _ in range(trials):
            failed = set(rng.sample(hosts, f))
            ok = True
            for h in failed:
                for _v in range(on[h]):
                    if all(p in failed for p in draw(rng, h)):
                        ok = False
                        break
                if not ok:
                    break
            successes += ok
    low, high = wilson(successes, trials, confidence)
    return {"p": successes / trials if trials else 0.0, "low": low, "high": high, "trials": trials,
            "successes": successes, "confidence": confidence}


# --- loss of a whole site -----------------------------------------------------

def survives(placed, origins, failed):
    """Whether a concrete placement {vnode: [replica hosts]} with origins
    {vnode: host} keeps a copy of every vnode when the hosts ``failed`` fail."""
    failed = set(failed)
    return not any(origins[v] in failed and all(p in failed for p in placed.get(v, ())) for v in origins)


def site_loss_probability(layout, k, placement, site, trials=2000, seed=0):
    """P(restart) when every host of ``site`` fails and no other host does.
    ``random``: exact, (1 - C(s-1, k) / C(n-1, k)) ** m (s hosts at the site,
    m vnodes on them). ``spread``: deterministic, 1 when every vnode of the
    site has a replica at another site (k >= 1 and another site has hosts),
    else 0 (for the site's vnodes, if any). A dict {vnode: [hosts]}: that
    placement, 1 or 0. A function rng -> placement: Monte Carlo estimate."""
    si = layout.site_names.index(site)
    members = layout.site_hosts[si]
    m = sum(len(layout.vnodes_on[i]) for i in members)
    n = layout.n
    _check(n, k)
    if m == 0:
        return 1.0
    if placement == "random":
        q = Fraction(math.comb(len(members) - 1, k), math.comb(n - 1, k))
        return float((1 - q) ** m)
    failed = {layout.hosts[i] for i in members}
    if placement == "spread":
        elsewhere = n - len(members)
        return 1.0 if min(k, elsewhere) >= 1 else 0.0
    if isinstance(placement, dict):
        return 1.0 if survives(placement, layout.vnodes, failed) else 0.0
    rng = _random.Random(seed)
    return sum(survives(placement(rng), layout.vnodes, failed) for _ in range(trials)) / trials


def site_loss(layout, k, placement, **kw):
    """{site: P(restart) when that whole site fails} for every site."""
    return {s: site_loss_probability(layout, k, placement, s, **kw) for s in layout.site_names}


# --- checkpoint interval -----------------------------------------------------

def young_interval(cost, mtbf):
    """Young's optimal checkpoint interval sqrt(2 C M) (seconds in, seconds out)."""
    if cost <= 0 or mtbf <= 0:
        raise ValueError("checkpoint cost and MTBF must be positive")
    return math.sqrt(2 * cost * mtbf)


def daly_interval(cost, mtbf):
    """Daly's higher-order optimum: for C < 2M,
    sqrt(2 C M) * (1 + sqrt(C / 2M) / 3 + (C / 2M) / 9) - C; else M."""
    if cost <= 0 or mtbf <= 0:
        raise ValueError("checkpoint cost and MTBF must be positive")
    if cost >= 2 * mtbf:
        return float(mtbf)
    x = cost / (2 * mtbf)
    return math.sqrt(2 * cost * mtbf) * (1 + math.sqrt(x) / 3 + x / 9) - cost


def waste(interval, cost, restart, mtbf):
    """Expected fraction of time wasted (first order): C / tau + (tau / 2 + R) / M."""
    if interval <= 0 or mtbf <= 0:
        raise ValueError("interval and MTBF must be positive")
    return cost / interval + (interval / 2 + restart) / mtbf


def interval_plan(cost, restart, host_mtbf_h, hosts):
    """Young and Daly intervals and their waste for ``hosts`` hosts whose
    MTBF is ``host_mtbf_h`` hours each (cluster MTBF = host MTBF / hosts)."""
    mtbf = host_mtbf_h * 3600.0 / hosts
    young, daly = young_interval(cost, mtbf), daly_interval(cost, mtbf)
    return {"checkpoint_cost_s": cost, "restart_cost_s": restart, "host_mtbf_h": host_mtbf_h, "hosts": hosts,
            "cluster_mtbf_s": mtbf, "young_s": young, "daly_s": daly,
            "waste_young": waste(young, cost, restart, mtbf), "waste_daly": waste(daly, cost, restart, mtbf)}


# --- the plan for an inventory ----------------------------------------------

def _number(value, name):
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError("%s %r is not a number" % (name, value)) from None
    if not number > 0 and not (name == "vc_ft_restart_cost_s" and number == 0):
        raise ValueError("%s %r must be positive" % (name, value))
    return number


def recommend(layout, target=DEFAULT_TARGET):
    """The smallest k, and a placement (spread preferred at equal k), such that
    P(restart) >= target both after any one host failure and after the loss of
    any one whole site. With a single site no placement survives its loss: the
    recommendation then covers the one host failure only."""
    n, t = layout.n, _fraction(target)
    two_sites = sum(1 for s in layout.site_sizes if s) >= 2
    for k in range(0, n):
        for placement in ("spread", "random"):
            host = restart_probability_layout(layout.counts, k, 1, exact=True)  # the same for every placement
            sites = site_loss(layout, k, placement)
            worst = min(sites.values()) if sites else 1.0
            if host >= t and (not two_sites or worst >= t):
                return {"replicas": k, "placement": placement, "target": float(t),
                        "p_one_host": float(host), "p_site_loss": sites, "p_site_loss_worst": worst,
                        "survives_site_loss": worst == 1.0, "considers_site_loss": two_sites}
    return None


def plan(model, params=None, target=DEFAULT_TARGET, trials=20000, seed=0, confidence=0.95):
    """Everything the planner says about an inventory model (``inventory.build_model``).

    ``params``: optional {variable: value} with ``vc_ft_checkpoint_cost_s``,
    ``vc_ft_restart_cost_s``, ``vc_ft_host_mtbf_h`` (DEFAULTS for the missing
    ones). Returns a JSON-able dict: the pool, P(restart) for f = 1..k+3 under
    each placement (random exact; spread by Monte Carlo with the real site
    layout, and exact when every host runs one vnode), the loss of each whole
    site, the recommendation for ``target``, and the checkpoint interval.
    Raises ValueError on a model it cannot plan."""
    ft = model.get("ft") or {}
    k, placement = ft.get("replicas"), ft.get("placement")
    layout = layout_from_model(model)
    n = layout.n
    if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k < n:
        raise ValueError("vc_ft_replicas %r must be an integer from 0 to %d (the %d hosts that hold copies, "
                         "gateways excluded, less one)" % (k, n - 1, n))
    if placement not in PLACEMENTS:
        raise ValueError("vc_ft_placement %r is not one of %s" % (placement, ", ".join(PLACEMENTS)))
    failures = []
    for f in range(1, min(k + 3, n) + 1):
        row = {"failures": f}
        exact = restart_probability_layout(layout.counts, k, f, exact=True)
        row["random"] = {"p": float(exact), "exact": str(exact)}
        mc = simulate(layout, k, f, "spread", trials=trials, seed=seed + f, confidence=confidence)
        row["spread"] = {"p": mc["p"], "low": mc["low"], "high": mc["high"], "trials": trials}
        if layout.one_per_host() and len(layout.site_names) <= 8:
            exact_spread = restart_probability_spread(layout.site_sizes, k, f, exact=True)
            row["spread"].update(exact=str(exact_spread), p_exact=float(exact_spread))
        failures.append(row)
    losses = {p: site_loss(layout, k, p) for p in PLACEMENTS}
    current = losses[placement]
    params = dict(params or {})
    values, defaulted = {}, []
    for name, default in DEFAULTS.items():
        if params.get(name) is None:
            values[name] = default
            defaulted.append(name)
        else:
            values[name] = _number(params[name], name)
    interval = interval_plan(values["vc_ft_checkpoint_cost_s"], values["vc_ft_restart_cost_s"],
                             values["vc_ft_host_mtbf_h"], max(1, len(model.get("hosts") or {})))
    interval["defaults"] = defaulted
    return {
        "cluster": model.get("cluster"),
        "pool": {"hosts": n, "sites": layout.sites(), "vnodes": len(layout.vnodes),
                 "excluded": sorted(set(model.get("hosts") or {}) - set(layout.hosts))},
        "inventory": {"replicas": k, "placement": placement,
                      "site_loss": current, "survives_site_loss": all(p == 1.0 for p in current.values())},
        "failures": failures,
        "site_loss": losses,
        "target": float(_fraction(target)),
        "recommended": recommend(layout, target),
        "interval": interval,
    }


# --- the plan in words ---------------------------------------------------------

def fmt_p(p):
    return "1" if p == 1 else "0" if p == 0 else "%.6f" % p


def duration(seconds):
    if seconds >= 3600:
        return "%.0f s = %.2f h" % (seconds, seconds / 3600)
    if seconds >= 60:
        return "%.0f s = %.1f min" % (seconds, seconds / 60)
    return "%.1f s" % seconds


def plan_text(result, path):
    """What scripts/plan and plan.yml print for a plan() result (``path``: the inventory)."""
    pool, inv, rec, iv = result["pool"], result["inventory"], result["recommended"], result["interval"]
    out = ["Plan for cluster %s (%s)" % (result["cluster"], path),
           "Hosts that hold checkpoints and may fail: %d in %d sites (%s)%s; %d vnodes"
           % (pool["hosts"], len(pool["sites"]), "; ".join("%s: %s" % (s, ", ".join(h))
                                                          for s, h in sorted(pool["sites"].items())),
              ", gateways %s excluded" % ", ".join(pool["excluded"]) if pool["excluded"] else "", pool["vnodes"]),
           "Inventory: k = %d replica%s, placement %s" % (inv["replicas"], "" if inv["replicas"] == 1 else "s",
                                                          inv["placement"]),
           "",
           "P(restart) after f simultaneous host failures (a uniformly random set of f hosts):",
           "  %3s  %-14s  %-14s  %s" % ("f", "random (exact)", "spread (exact)", "spread (Monte Carlo, 95% CI)")]
    for row in result["failures"]:
        sp = row["spread"]
        out.append("  %3d  %-14s  %-14s  %.4f [%.4f, %.4f] (%d trials)"
                   % (row["failures"], fmt_p(row["random"]["p"]), fmt_p(sp["p_exact"]) if "p_exact" in sp else "-",
                      sp["p"], sp["low"], sp["high"], sp["trials"]))
    out += ["", "Loss of one whole site (all its hosts at once), P(restart):"]
    for placement, by_site in sorted(result["site_loss"].items()):
        out.append("  %-7s %s" % (placement, ", ".join("%s: %s" % (s, fmt_p(p)) for s, p in sorted(by_site.items()))))
    if inv["survives_site_loss"]:
        out.append("The inventory's placement (%s, k = %d) survives the loss of any one whole site with P = 1."
                   % (inv["placement"], inv["replicas"]))
    else:
        out.append("The inventory's placement (%s, k = %d) does NOT always survive the loss of a whole site "
                   "(worst P = %s)." % (inv["placement"], inv["replicas"], fmt_p(min(inv["site_loss"].values()))))
    out.append("")
    if rec is None:
        out.append("Recommended: no k and placement reach P >= %s here." % result["target"])
    else:
        what = "one host failure and the loss of one whole site" if rec["considers_site_loss"] else \
            "one host failure (a single site: no placement survives its loss)"
        out.append("Recommended for P(restart) >= %s (%s): k = %d, placement %s."
                   % (rec["target"], what, rec["replicas"], rec["placement"]))
        if rec["considers_site_loss"]:
            out.append("  It survives the loss of one whole site with P = 1." if rec["survives_site_loss"] else
                       "  It survives the loss of one whole site with P >= %s (worst %s)."
                       % (rec["target"], fmt_p(rec["p_site_loss_worst"])))
        if (rec["replicas"], rec["placement"]) == (inv["replicas"], inv["placement"]):
            out.append("  The inventory already uses it.")
        else:
            out.append("  Set vc_ft_replicas: %d and vc_ft_placement: %s." % (rec["replicas"], rec["placement"]))
    given = [n for n in DEFAULTS if n not in iv["defaults"]]
    out += ["",
            "Checkpoint interval: C = %g s, R = %g s, host MTBF %g h x %d hosts -> cluster MTBF %s%s"
            % (iv["checkpoint_cost_s"], iv["restart_cost_s"], iv["host_mtbf_h"], iv["hosts"],
               duration(iv["cluster_mtbf_s"]),
               " (defaults: %s)" % ", ".join(iv["defaults"]) if iv["defaults"] else ""),
            "  Young sqrt(2CM): %s (expected waste %.2f %%)" % (duration(iv["young_s"]), 100 * iv["waste_young"]),
            "  Daly:            %s (expected waste %.2f %%)" % (duration(iv["daly_s"]), 100 * iv["waste_daly"])]
    if given:
        out.append("  (from the inventory or the command line: %s)" % ", ".join(given))
    return "\n".join(out)
