"""checkpoint.yml in one step, on the controller: the plain-Python engine of
the action plugin ``vcluster.cluster.ft_checkpoint``.

One SSH session per compute host runs the ops agent (ft_agent.OpsWork), and
the checkpoint's pause runs over the coordinator's own sessions
(ft_agent.coordinate: lease, two-phase commit), so that the whole verb costs
two session starts and a few JSON lines, not a dozen Ansible tasks:

1. scan every host that answers (the others count as down), discard the
   checkpoints not committed everywhere (ckpt.partial_ids);
2. choose the id and who dumps what (ckpt.checkpoint_plan: refuses, nothing
   changed, when a vnode does not run);
3. the pause: freeze (barrier), dump, commit everywhere or abort
   everywhere, thaw (ft_agent.coordinate);
4. scan again; place the replicas (ckpt.replication_plan); every source host
   pushes its vnodes' copies to their peers itself (rsync over the site LANs,
   delta against the peer's newest copy: the controller relays nothing); the
   peers verify what they received against its manifest and keep it;
5. scan again; the catalog (ckpt.catalog_of) and retention
   (ckpt.retention_ids): delete everywhere, then write the catalog on every
   host.

Returns the result (ft_result.checkpoint) and the published catalog; the
copies that could not be made leave the checkpoint committed and are listed
in the result's ``missing``.
"""

import json
import os
import time

from ansible_collections.vcluster.cluster.plugins.module_utils import ckpt as C
from ansible_collections.vcluster.cluster.plugins.module_utils import ft_agent as A
from ansible_collections.vcluster.cluster.plugins.module_utils import ft_result
from ansible_collections.vcluster.cluster.plugins.module_utils import paths
from ansible_collections.vcluster.cluster.plugins.module_utils import testbed


class NoHost(C.CheckpointError):
    """No compute host answered."""


def plain(value):
    """Rendered values (an action plugin's arguments) as plain JSON data."""
    return json.loads(json.dumps(value, default=str))


def no_host(verb, hosts):
    return NoHost("%s: no compute host answered (%s: down, unreachable or not deployed); nothing was done. "
                  "deploy.yml builds the cluster." % (verb, ", ".join(sorted(hosts)) or "the inventory has none"))


def live_hosts(hosts, emulated, verb, netns_dir="/run/netns"):
    """The hosts of ``hosts`` that may be up: an emulated host whose network
    namespace is gone (scripts/fault, destroy.yml) is down and never
    contacted (its address would be routed off this machine)."""
    live = {name: access for name, access in sorted(hosts.items())
            if name not in emulated or os.path.exists(os.path.join(netns_dir, testbed.netns_name(name)))}
    if not live:
        raise no_host(verb, hosts)
    return live


def write_catalog(cluster, controller_dir, catalog):
    """The controller's copy of the catalog (0600, replaced whole)."""
    os.makedirs(paths.cluster_dir(cluster, controller_dir), mode=0o700, exist_ok=True)
    path = paths.catalog_path(cluster, controller_dir)
    with open(os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        json.dump(catalog, f, indent=4, sort_keys=True)
    os.replace(path + ".tmp", path)


class Ops:
    """An ops-agent session on every host of ``hosts`` that answers."""

    def __init__(self, hosts, program, cluster, argv_of=None, lease=A.LEASE, timeout=600):
        self.lease, self.timeout = lease, timeout
        configs = {name: {"mode": "ops", "store": h["store"], "root": h.get("root"), "cluster": cluster,
                          "replication": {"key": h.get("repl_key"), "known_hosts": h.get("repl_known_hosts"),
                                          "mbit": h.get("mbit")}}
                   for name, h in hosts.items()}
        sessions, failures = A.start(hosts, program, configs, argv_of or A._agent_argv, lease)  # pylint: disable=W0212
        self.down = {f.split(":", 1)[0]: f for f in failures}
        self.sessions = {s.host: s for s in sessions if s.host not in self.down}
        self._all = sessions

    def call(self, op, per_host=None, **extra):
        """Send ``op`` to every live host (``per_host``: {host: its fields},
        only those hosts); returns {host: result}. A host that fails to answer
        counts as down from then on; one that answers with an error is
        reported in ``self.errors`` for this call."""
        chosen = [s for h, s in sorted(self.sessions.items()) if per_host is None or h in per_host]
        for s in chosen:
            s.send(dict(extra, **((per_host or {}).get(s.host) or {}), op=op))
        answers = A.gather(chosen, self.timeout, self.lease)
        results, self.errors = {}, {}
        for s in chosen:
            ans = answers.get(s.host)
            if s.error or ans is None:
                self.down[s.host] = "%s: %s" % (s.host, s.error or "no answer")
                del self.sessions[s.host]
            elif not ans.get("ok"):
                self.errors[s.host] = "%s: %s failed: %s" % (s.host, op, ans.get("error"))
            else:
                results[s.host] = ans["result"]
        return results

    def copy(self, copies, hosts):
        """Each source host pushes its copies ({vnode, src, dst, ids, basis})
        to their peers (LAN addresses from ``hosts``), then each peer verifies
        and keeps what it received. Returns (the copies, those that failed
        with ``error``; the problems: failed copies, damaged arrivals)."""
        by_src = {}
        for c in copies:
            by_src.setdefault(c["src"], []).append(dict(c, peer=hosts[c["dst"]]["lan_ip"]))
        pushed = self.call("push", per_host={h: {"copies": cs} for h, cs in by_src.items()})
        done = [r for h in sorted(pushed) for r in pushed[h]]
        for host in sorted(set(by_src) - set(pushed)):
            why = self.errors.get(host) or self.down.get(host) or "%s: no answer" % host
            done += [dict(c, error="copy of %s from %s to %s: %s" % (c["vnode"], c["src"], c["dst"], why))
                     for c in by_src[host]]
        done = [{key: value for key, value in c.items() if key != "peer"} for c in done]
        received = accepts(done)
        accepted = self.call("accept", per_host={h: {"items": items} for h, items in received.items()})
        problems = [c["error"] for c in done if c.get("error")]
        for dst in sorted(received):
            if dst not in accepted:
                problems.append("%s: the received copies were not verified (%s)" % (
                    dst, self.errors.get(dst) or self.down.get(dst) or "no answer"))
                continue
            for item in accepted[dst]:
                for vnode, found in sorted(item["problems"].items()):
                    if found:
                        problems.append("%s: copy of %s (checkpoint %s) damaged on arrival (%s)" % (
                            dst, vnode, item["ckpt"], "; ".join(found)))
        return done, problems

    def close(self):
        for s in self.sessions.values():
            s.send({"op": "exit"})
        for s in self._all:
            s.close()


def accepts(copies):
    """{dst: [{ckpt, vnodes}]}: what each peer verifies and keeps."""
    out = {}
    for c in copies:
        if c.get("error"):
            continue
        for ckpt in c["ids"]:
            items = out.setdefault(c["dst"], [])
            item = next((i for i in items if i["ckpt"] == ckpt), None)
            if item is None:
                items.append({"ckpt": ckpt, "vnodes": [c["vnode"]]})
            elif c["vnode"] not in item["vnodes"]:
                item["vnodes"].append(c["vnode"])
    return out


def checkpoint(hosts, cluster, vnodes, sites, k, policy, retention, max_chain, lease=A.LEASE, program=None,
               argv_of=None, check=False, clock=time.time):
    """One coordinated checkpoint (module docstring). ``hosts``: {host:
    ckpt.host_access} of the compute hosts that may be up; ``sites``: {site:
    [hosts that hold copies]}. Raises CheckpointError (NoHost when no host
    answered) when nothing was committed; in check mode returns the plan."""
    program = program or A.program()
    t0 = time.monotonic()
    phases = {}

    def phase(name):
        phases[name] = round(time.monotonic() - t0 - sum(phases.values()), 3)

    ops = Ops(hosts, program, cluster, argv_of, lease)
    phase("start")
    try:
        if not ops.sessions:
            raise no_host("checkpoint.yml", hosts)
        scans = ops.call("scan")
        partial = C.partial_ids(scans)
        plan = C.checkpoint_plan(scans, vnodes)
        if not plan["dumps"]:
            raise C.CheckpointError("nothing to checkpoint: vc_vnodes is empty")
        if check:
            return {"check": True, "id": plan["id"], "dumps": plan["dumps"], "discard": partial,
                    "down": sorted(set(hosts) - set(scans))}
        if partial:
            ops.call("delete", ids=partial)
        phase("scan")
        report = A.coordinate({h: dict(hosts[h], vnodes=vs) for h, vs in plan["dumps"].items()}, program, cluster,
                              plan["id"], max_chain, lease=lease, shared=ops.sessions)
        if not report["committed"]:
            raise C.CheckpointError("checkpoint %d aborted and deleted: %s" % (plan["id"],
                                                                             "; ".join(report["failures"])))
        phase("pause")
        started = clock()
        scans = ops.call("scan")
        live = {s: [h for h in hs if h in scans] for s, hs in sites.items()}
        copies, warnings = C.replication_plan(plan["id"], scans, plan["where"], live, int(k), policy,
                                              previous=C.newest_catalog(scans).get("replicas") or {})
        done, missing = ops.copy([c for c in copies if c["ids"]], hosts)
        replicated = clock()
        phase("replication")
        scans = ops.call("scan")
        dead = sorted(set(hosts) - set(scans))
        catalog = C.catalog_of(cluster, scans, dead, where=plan["where"], replicas=C.replicas_of(copies))
        delete = C.retention_ids(scans, int(retention))
        if delete:
            ops.call("delete", ids=delete)
        published = C.without(catalog, delete)
        ops.call("catalog", catalog=published)
        phase("catalog")
        result = ft_result.checkpoint(plan["id"], report, published["checkpoints"][str(plan["id"])], done, started,
                                      replicated, clock(), delete, warnings, missing)
        result["phases"] = dict(phases, agents_start=report.get("start"), agents_exit=report.get("exit"))
        return {"result": result, "catalog": published, "missing": missing,
                "down": sorted(set(ops.down) | set(dead))}
    finally:
        ops.close()
