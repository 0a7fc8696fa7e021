"""The result of each fault-tolerance verb, as data.

checkpoint.yml, restore.yml and migrate.yml build their result here (through
the filters vc_ft_*_result), print the one-line summary made from it
(``line``), pass it to ansible.builtin.set_stats and write it to
<controller dir>/<cluster>/results/<verb>.json. ft-service, scripts/demo,
the benchmarks and the tests read that file (``read``), never the playbook's
output.
"""

import json
import os
import tempfile

RESULTS = "results"
VERBS = ("checkpoint", "restore", "migrate")


def path(cluster_dir, verb):
    """Where the last result of ``verb`` is kept."""
    if verb not in VERBS:
        raise ValueError("no result is kept for %r" % (verb,))
    return os.path.join(cluster_dir, RESULTS, verb + ".json")


def write(cluster_dir, result):
    """Write ``result`` (atomically, mode 0600) as the last of its verb."""
    target = path(cluster_dir, result["verb"])
    os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".result-")
    with os.fdopen(fd, "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
        f.write("\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, target)
    return target


def read(cluster_dir, verb, since=None):
    """The last result of ``verb``, or None; with ``since`` (epoch seconds),
    only one that finished at or after it (the result of the run just made,
    not an older one)."""
    try:
        with open(path(cluster_dir, verb)) as f:
            result = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(result, dict) or (since is not None and float(result.get("finished", 0)) < since):
        return None
    return result


def _num(value, digits=3):
    return round(float(value), digits)


def checkpoint(ckpt, report, entry, copies, started, replicated, finished, deleted=(), warnings=(), missing=()):
    """The result of a committed checkpoint.

    ``report``: ckpt_coord's (pause, steps); ``entry``: the catalog's entry
    of the checkpoint (vnodes, size); ``copies``: ckpt_copy's copies
    ({vnode, src, dst, seconds}); ``started``/``replicated``/``finished``:
    epoch seconds of the replication's start and end and of the verb's end;
    ``missing``: the copies that could not be made."""
    steps = {k: _num(v) for k, v in ((report or {}).get("steps") or {}).items()}
    return {
        "verb": "checkpoint", "id": int(ckpt), "committed": True,
        "pause_s": _num(report["pause"]), "dump_s": steps.get("dump"), "steps": steps,
        "vnodes": sorted(entry.get("vnodes", {})), "size": int(entry.get("size", 0)),
        "dumps": {d["vnode"]: {"host": host, "size": int(d.get("size", 0)), "images_size": int(d.get("images_size", 0)),
                               "fs_size": int(d.get("fs_size", 0)), "fs_changed": d.get("fs_changed"),
                               "parent": d.get("parent"), "seconds": d.get("total_s")}
                  for host, dumps in sorted(((report or {}).get("dumps") or {}).items()) for d in dumps or []},
        "replicas": [{"vnode": c["vnode"], "src": c.get("src"), "dst": c["dst"],
                      "seconds": _num(c["seconds"]) if c.get("seconds") is not None else None,
                      "ids": list(c.get("ids") or []), "basis": c.get("basis"), "sent": c.get("sent")}
                     for c in copies or [] if "error" not in c],
        "sent": sum(int(c.get("sent") or 0) for c in copies or [] if "error" not in c),
        "replication_s": _num(float(replicated) - float(started)),
        "deleted": sorted(int(i) for i in deleted or []),
        "warnings": list(warnings or []), "missing": list(missing or []),
        "finished": _num(finished),
    }


def restore(ckpt, plan, hosts, corrupt, started, finished, report=None):
    """The result of a restore: ``plan`` {vnode: {host, moved, ...}} as the
    restore made it, ``hosts`` those that restored vnodes, ``corrupt`` the
    damaged copies it skipped, ``report`` ckpt_restore's (steps, and per
    host the vnodes it loaded)."""
    report = report or {}
    return {
        "verb": "restore", "id": int(ckpt), "restored": True,
        "hosts": sorted(hosts),
        "steps": {k: _num(v) for k, v in (report.get("steps") or {}).items()},
        "loads": {r["vnode"]: {"host": host, "seconds": r.get("total_s"), "fs_s": r.get("fs_s")}
                  for host, loads in sorted((report.get("load") or {}).items()) for r in loads or []},
        "placement": {vnode: step["host"] for vnode, step in sorted(plan.items())},
        "moved": {vnode: step["host"] for vnode, step in sorted(plan.items()) if step.get("moved")},
        "skipped_copies": len(corrupt or []),
        "phase_s": _num(float(finished) - float(started)),
        "finished": _num(finished),
    }


def migrate(vnode, src, dst, ip, dump, stopped, resumed, started, home):
    """The result of a live migration: ``dump`` the source's dump result
    (total_s, size); times in epoch seconds; ``home`` the vnode's inventory
    host."""
    return {
        "verb": "migrate", "vnode": vnode, "src": src, "dst": dst, "ip": ip, "home": home,
        "downtime_s": _num(float(resumed) - float(stopped)), "dump_s": _num(dump.get("total_s", 0)),
        "size": int(dump.get("size", 0)), "total_s": _num(float(resumed) - float(started)),
        "finished": _num(resumed),
    }


def line(result):
    """The one-line summary a person reads, made from the result."""
    verb = result.get("verb")
    if verb == "checkpoint":
        text = ("checkpoint %d committed: pause %.2f s (freeze to thaw; dumps %.2f s), %d vnodes, %.1f MB, "
                "replicas %s in %.2f s (%.1f MB sent host to host)" % (
                    result["id"], result["pause_s"], result["dump_s"] or 0, len(result["vnodes"]),
                    result["size"] / 1e6, " ".join("%s->%s" % (r["vnode"], r["dst"]) for r in result["replicas"]),
                    result["replication_s"], result.get("sent", 0) / 1e6))
        if result["deleted"]:
            text += ", deleted " + ",".join(str(i) for i in result["deleted"])
        if result["warnings"]:
            text += "; WARNING " + "; ".join(result["warnings"])
        return text
    if verb == "restore":
        moved = ", ".join("%s -> %s" % item for item in sorted(result["moved"].items())) or "none"
        skipped = "; skipped damaged copies: %d" % result["skipped_copies"] if result["skipped_copies"] else ""
        return "restored checkpoint %d in %.2f s (%d hosts, %d vnodes, moved: %s%s); the cluster runs." % (
            result["id"], result["phase_s"], len(result["hosts"]), len(result["placement"]), moved, skipped)
    if verb == "migrate":
        text = "%s moved from %s to %s with its IP %s: stopped for %.2f s (dump %.2f s, %.1f MB), %.2f s in all." % (
            result["vnode"], result["src"], result["dst"], result["ip"], result["downtime_s"], result["dump_s"],
            result["size"] / 1e6, result["total_s"])
        if result["home"] != result["dst"]:
            text += " It stays there (also through deploy.yml); rebalance.yml moves it back to %s, live." % (
                result["home"])
        return text
    raise ValueError("not a result of a fault-tolerance verb: %r" % (result,))
