"""Filters of the fault-tolerance layer: thin glue over plugins/module_utils/ckpt.py.

The playbooks (checkpoint.yml, restore.yml, checkpoints.yml) register one
``vcluster.cluster.ckpt_host op=scan`` result per host and make every decision
on the controller with these filters, before any host is changed.
"""

import time

from ansible.errors import AnsibleFilterError

from ansible_collections.vcluster.cluster.plugins.module_utils import ckpt, ft_result, paths, replication


def _wrap(func):
    def call(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ckpt.CheckpointError as exc:
            raise AnsibleFilterError(str(exc))
    return call


def scans(hostvars, hosts, var):
    """{"scans": {host: scan}, "dead": [hosts]} from the registered ``var``."""
    found, dead = {}, []
    for host in hosts:
        res = hostvars[host].get(var) if host in hostvars else None
        if not isinstance(res, dict) or res.get("unreachable") or res.get("failed") or "result" not in res:
            dead.append(host)
        else:
            found[host] = res["result"]
    return {"scans": found, "dead": sorted(dead)}


def deploy_placement(state, vnodes, catalog=None, recreate=None):
    """{vnode: {host, why, moved}} for deploy.yml (ckpt.deploy_placement)."""
    return ckpt.deploy_placement(state["scans"], vnodes, (catalog or {}).get("placement") or {},
                                 ckpt.recreate_names(recreate, vnodes))


def placement_recreate(placement):
    """The vnodes a deploy placement starts afresh (vc_recreate)."""
    return sorted(name for name, step in placement.items() if step.get("recreate"))


def placement_lines(placement):
    """One line per vnode of a deploy placement: where it runs and why."""
    return ["%s: on %s (%s)" % (name, step["host"], step["why"]) for name, step in sorted(placement.items())]


def local_vnodes(placement, vnodes, host):
    """The model's vnodes ({name, host, ip}) that run on ``host``."""
    return [v for v in vnodes if (placement.get(v["name"]) or {}).get("host", v["host"]) == host]


def rebalance_plan(state, vnodes):
    return ckpt.rebalance_plan(state["scans"], vnodes)


def partial(state):
    """Checkpoint ids to discard everywhere (ckpt.partial_ids)."""
    return ckpt.partial_ids(state["scans"])


def catalog(state, cluster, where=None, replicas=None):
    return ckpt.catalog_of(cluster, state["scans"], state["dead"], where=where, replicas=replicas)


def holders(sites, gateways=()):
    """{site: [hosts that may hold checkpoint copies]}: every host of the site
    but its gateway (a network box, not a compute host)."""
    return {name: [h for h in site["hosts"] if h not in gateways] for name, site in sites.items()}


def ssh_hosts(hosts, hostvars, vnodes=None):
    """How the controller reaches each host over SSH, its store and vnode
    directory (ckpt.host_access: for ckpt_copy and ckpt_coord); with
    ``vnodes`` ({host: [vnode]}), each host's vnodes too."""
    out = {}
    for host in hosts:
        out[host] = ckpt.host_access(hostvars[host], host)
        if vnodes is not None:
            out[host]["vnodes"] = list(vnodes.get(host, []))
    return out


def replication_peers(keys, model, host):
    """What ``host`` needs to exchange checkpoint copies with its peers:
    ``keys`` {host: {"pubkey": its replication key's public half,
    "hostkey": its sshd's public host key}} of the compute hosts that
    answered. Returns {"authorized": the authorized_keys lines of the peers'
    replication keys (rsync writes into this host's store only),
    "known_hosts": the peers' host keys at their LAN addresses}."""
    me = model["hosts"][host]
    root = ckpt.cluster_store(me["paths"]["store"], model["cluster"])
    peers = sorted(h for h in keys if h != host and h in model["hosts"] and not model["hosts"][h]["gateway"])
    try:
        return {"authorized": [replication.authorized_key(keys[h]["pubkey"], root, h) for h in peers],
                "known_hosts": replication.known_hosts({h: {"address": model["hosts"][h]["lan_ip"],
                                                            "hostkey": keys[h]["hostkey"]} for h in peers})}
    except replication.ReplicationError as err:
        raise AnsibleFilterError(str(err)) from err


def plan_hosts(plan):
    """{vnode: host} of a restore plan or a deploy placement."""
    return {vnode: step["host"] for vnode, step in plan.items()}


def listing(catalog):
    """Lines describing the catalog's checkpoints: id, time, size, copies."""
    lines = []
    for cid in sorted((catalog.get("checkpoints") or {}), key=int):
        entry = catalog["checkpoints"][cid]
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry["time"])) if entry.get("time") else "?"
        copies = []
        for vnode, info in sorted((entry.get("vnodes") or {}).items()):
            where = ",".join(info.get("copies", []) + ["%s(down)" % h for h in info.get("down", [])])
            copies.append("%s@%s%s" % (vnode, where, "" if info.get("parent") is None else "+%s" % info["parent"]))
        lines.append("checkpoint %s  %s  %.1f MB  %s" % (cid, when, entry.get("size", 0) / 1e6, " ".join(copies)))
    return lines or ["no committed checkpoint (run checkpoint.yml)"]


def damaged(state):
    """Lines naming every copy whose verification found problems."""
    out = []
    for host, scan in sorted(state["scans"].items()):
        for cid, copies in sorted((scan.get("copies") or {}).items(), key=lambda kv: int(kv[0])):
            for vnode, info in sorted(copies.items()):
                if info.get("problems"):
                    out.append("DAMAGED: %s's copy of checkpoint %s of %s: %s" % (host, cid, vnode,
                                                                                "; ".join(info["problems"])))
    return out


def migrate_plan(state, vnodes, vnode, to, holder_hosts):
    return ckpt.migrate_plan(state["scans"], vnodes, vnode, to, holder_hosts)


def result_path(cluster, controller_dir, verb):
    """Where the controller keeps the last result of ``verb``."""
    return ft_result.path(paths.cluster_dir(cluster, controller_dir), verb)


class FilterModule:
    def filters(self):
        return {
            "vc_ft_migrate_result": ft_result.migrate,
            "vc_ft_result_line": ft_result.line,
            "vc_ft_result_path": result_path,
            "vc_ft_scans": scans,
            "vc_ft_partial": partial,
            "vc_ft_rebalance_plan": rebalance_plan,
            "vc_ft_deploy_placement": _wrap(deploy_placement),
            "vc_ft_local_vnodes": local_vnodes,
            "vc_ft_placement_lines": placement_lines,
            "vc_ft_placement_recreate": placement_recreate,
            "vc_ft_catalog": _wrap(catalog),
            "vc_ft_holders": holders,
            "vc_ft_listing": listing,
            "vc_ft_migrate_plan": _wrap(migrate_plan),
            "vc_ft_damaged": damaged,
            "vc_ft_plan_hosts": plan_hosts,
            "vc_ft_ssh_hosts": ssh_hosts,
            "vc_ft_replication_peers": replication_peers,
        }
