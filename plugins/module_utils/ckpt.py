"""Checkpoints of the whole cluster: plain Python, no Ansible.

What the fault-tolerance layer decides, as pure functions the plugins call:
where a checkpoint lives on a host's store, what its manifest says and
whether a copy matches it, which peers get the replicas (placement), which
host restores each vnode (restore planning), and which checkpoints retention
deletes.

Layout of a host's store (``<store>`` is the host's local disk)::

    <store>/<cluster>/catalog.json          the catalog (a copy on every host)
    <store>/<cluster>/<id>/<vnode>/         one vnode's checkpoint <id>
        images/                             CRIU images of its processes
        fs.tar                              its file-system changes since the
                                            previous checkpoint (overlay upper)
        meta.json                           vnode, origin host, IP, base image,
                                            parent checkpoint
        MANIFEST.json                       sha256 and size of every file
                                            above; written last: a directory
                                            without it is incomplete
    <store>/<cluster>/<id>/PREPARED         phase 1 done on this host
    <store>/<cluster>/<id>/COMMITTED        phase 2: the checkpoint counts

A checkpoint id is committed only when every vnode's manifest is complete on
its origin host and every host has written PREPARED; only then does any host
write COMMITTED.
"""

import hashlib
import json
import os
import random as _random
import shlex

from ansible_collections.vcluster.cluster.plugins.module_utils import paths, replication

MANIFEST = "MANIFEST.json"
PREPARED = "PREPARED"
COMMITTED = "COMMITTED"
CATALOG = "catalog.json"
PLACEMENTS = ("random", "spread")
CHUNK = 1 << 20
# Files a copy may gain after its manifest that are not checkpoint data: what
# CRIU writes into the images directory when restoring from it (its log and
# statistics; the restore moves them out, a crashed restore may leave them).
NOT_DATA = ("images/restore.log", "images/stats-restore")


class CheckpointError(ValueError):
    """A request the checkpoint layer refuses (named, with the fix)."""


# --- ids -------------------------------------------------------------------

def parse_ckpt(value, committed):
    """The checkpoint id asked for (``latest``, an integer or its string),
    checked against the ``committed`` ids. Raises CheckpointError."""
    ids = sorted(committed)
    listing = ", ".join(map(str, ids)) if ids else "none yet (run checkpoint.yml)"
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "latest")):
        if not ids:
            raise CheckpointError("ckpt=latest: no committed checkpoint; committed: " + listing)
        return ids[-1]
    if isinstance(value, bool):
        raise CheckpointError("ckpt=%r is not a checkpoint id; give an integer or latest (committed: %s)"
                              % (value, listing))
    try:
        ckpt = int(str(value).strip())
    except ValueError:
        raise CheckpointError("ckpt=%s is not a checkpoint id; give an integer or latest (committed: %s)"
                              % (value, listing))
    if ckpt not in ids:
        raise CheckpointError("ckpt=%d does not exist or is not committed; committed: %s" % (ckpt, listing))
    return ckpt


def next_id(known):
    """The next checkpoint id: above every id any host has seen (committed,
    aborted or partial), so an id is never reused."""
    return max([0] + [int(i) for i in known]) + 1


# --- paths and manifests ---------------------------------------------------

def cluster_store(store, cluster):
    """A host's checkpoints of one cluster (the root peers push copies into)."""
    return os.path.join(store, str(cluster))


def ckpt_dir(store, cluster, ckpt):
    return os.path.join(cluster_store(store, cluster), str(ckpt))


def vnode_dir(store, cluster, ckpt, vnode):
    return os.path.join(store, cluster, str(ckpt), vnode)


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(top):
    for base, dirs, files in os.walk(top):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(base, name)
            rel = os.path.relpath(path, top)
            if rel != MANIFEST:
                yield rel, path


def make_manifest(top, **info):
    """Manifest of every file under ``top`` (a vnode's checkpoint dir)."""
    files = {rel: {"sha256": sha256_file(path), "size": os.path.getsize(path)} for rel, path in _files(top)}
    return dict(info, files=files, size=sum(f["size"] for f in files.values()))


def write_manifest(top, **info):
    """Write MANIFEST.json last, atomically (tmp + rename); returns it."""
    manifest = make_manifest(top, **info)
    tmp = os.path.join(top, MANIFEST + ".tmp")
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, os.path.join(top, MANIFEST))
    return manifest


def verify(top):
    """Problems of the copy in ``top`` against its manifest ([] = verified)."""
    path = os.path.join(top, MANIFEST)
    try:
        with open(path) as f:
            manifest = json.load(f)
    except OSError:
        return ["no %s (incomplete copy)" % MANIFEST]
    except ValueError:
        return ["%s is not valid JSON" % MANIFEST]
    problems = []
    present = dict(_files(top))
    for rel, want in sorted(manifest.get("files", {}).items()):
        if rel not in present:
            problems.append("%s is missing" % rel)
        elif os.path.getsize(present[rel]) != want["size"]:
            problems.append("%s has %d bytes, the manifest says %d" % (rel, os.path.getsize(present[rel]),
                                                                        want["size"]))
        elif sha256_file(present[rel]) != want["sha256"]:
            problems.append("%s: sha256 mismatch" % rel)
    for rel in sorted(set(present) - set(manifest.get("files", {}))):
        if not rel.endswith(".tmp") and rel not in NOT_DATA:
            problems.append("%s is not in the manifest" % rel)
    return problems


# --- placement -------------------------------------------------------------

def place_replicas(origins, sites, k, policy, seed=None):
    """Peers that receive each vnode's checkpoint.

    ``origins``: {vnode: host that made the checkpoint}; ``sites``: {site:
    [hosts that may hold copies]}; ``k``: copies besides the origin's.
    ``random``: k distinct other hosts, uniformly (as in the paper).
    ``spread``: other sites first, round-robin over them, a random host in
    each, then the origin's own site: losing a whole site loses no vnode's
    checkpoint as long as k >= 1 and there are at least two sites.
    Returns {vnode: [peer, ...]}. Raises CheckpointError when k peers do not
    exist."""
    if policy not in PLACEMENTS:
        raise CheckpointError("placement %r is unknown; use %s" % (policy, " or ".join(PLACEMENTS)))
    rng = _random.Random(seed)
    site_of = {h: s for s, hosts in sites.items() for h in hosts}
    everyone = sorted(site_of)
    placed = {}
    for vnode in sorted(origins):
        origin = origins[vnode]
        others = [h for h in everyone if h != origin]
        if k > len(others):
            raise CheckpointError("vc_ft_replicas is %d but only %d other hosts can hold copies of %s; "
                                  "lower vc_ft_replicas" % (k, len(others), vnode))
        if policy == "random":
            placed[vnode] = sorted(rng.sample(others, k))
            continue
        home = site_of.get(origin)
        pools = {s: [h for h in sorted(hosts) if h != origin] for s, hosts in sites.items()}
        for pool in pools.values():
            rng.shuffle(pool)
        order = [s for s in sorted(pools) if s != home]
        rng.shuffle(order)
        chosen = []
        while len(chosen) < k and any(pools[s] for s in order):
            for s in order:
                if pools[s] and len(chosen) < k:
                    chosen.append(pools[s].pop())
        if home in pools:
            while len(chosen) < k and pools[home]:
                chosen.append(pools[home].pop())
        placed[vnode] = sorted(chosen)
    return placed


# --- restore planning ------------------------------------------------------

def plan_restore(ckpt, vnodes, copies, alive, current=None):
    """Which host restores each vnode from which copy.

    ``vnodes``: {vnode: host it last ran on}; ``copies``: {vnode: [hosts
    holding a verified copy of checkpoint ``ckpt``]} (origin first);
    ``alive``: hosts that answer; ``current``: optional {host: load} to
    balance new placements. A vnode goes back to its own host when alive and
    holding a copy; else to a live host holding a copy (the least loaded);
    else a live host fetches a copy from a live holder. Raises
    CheckpointError naming every vnode without a verified copy on a live host.
    Returns {vnode: {"host": restore host, "source": host whose copy is used,
    "moved": bool}}."""
    alive = set(alive)
    load = dict(current or {})
    for host in alive:
        load.setdefault(host, 0)
    lost = sorted(v for v in vnodes if not [h for h in copies.get(v, []) if h in alive])
    if lost:
        raise CheckpointError("checkpoint %s cannot be restored: no verified copy on a live host for %s; "
                              "nothing was changed" % (ckpt, ", ".join(lost)))
    plan = {}
    for vnode in sorted(vnodes):
        home = vnodes[vnode]
        holders = [h for h in copies[vnode] if h in alive]
        if home in alive and home in holders:
            plan[vnode] = {"host": home, "source": home, "moved": False}
        elif home in alive:
            plan[vnode] = {"host": home, "source": holders[0], "moved": False}
        else:
            target = min(holders, key=lambda h: (load[h], h))
            plan[vnode] = {"host": target, "source": target, "moved": True}
        load[plan[vnode]["host"]] = load.get(plan[vnode]["host"], 0) + 1
    return plan


# --- retention -------------------------------------------------------------

def to_delete(committed, retention, partial=()):
    """Checkpoint ids to delete: committed ones beyond the last ``retention``
    (never the only committed one) and every partial (uncommitted) id older
    than the newest committed one."""
    committed = sorted(int(c) for c in committed)
    keep = set(committed[-max(1, int(retention)):])
    newest = committed[-1] if committed else None
    old = [c for c in committed if c not in keep]
    stale = [p for p in partial if newest is not None and int(p) < newest and int(p) not in committed]
    return sorted(set(old) | {int(p) for p in stale})


def to_delete_chained(committed, retention, parents, partial=()):
    """Like ``to_delete``, but a checkpoint some kept checkpoint's file-system
    chain needs is kept too. ``parents``: {id: {vnode: parent id or None}}."""
    doomed = set(to_delete(committed, retention, partial))
    keep = set(int(c) for c in committed) - doomed
    needed = set()
    for ckpt in keep:
        for vnode, parent in (parents.get(ckpt) or parents.get(str(ckpt)) or {}).items():
            seen = set()
            while parent is not None and parent not in seen:
                seen.add(parent)
                needed.add(int(parent))
                parent = (parents.get(parent) or parents.get(str(parent)) or {}).get(vnode)
    return sorted(doomed - needed)


# --- coordination (the playbooks' decisions, from every host's scan) --------

def committed_ids(scans):
    """Ids that count as committed: COMMITTED somewhere, and on every member
    host (the marker names them) that answers. A checkpoint whose coordinator
    died between the first and the last COMMITTED mark is therefore never
    counted (nor restored): ``partial_ids`` has it, and the next FT operation
    discards it everywhere. A member that does not answer cannot say: its
    copies are simply not available. (Markers of older checkpoints name no
    members: one COMMITTED counts, as before.)"""
    mine = {h: {int(i) for i in scan.get("committed", [])} for h, scan in scans.items()}
    ids = set()
    for host, scan in scans.items():
        for cid in mine[host]:
            members = (scan.get("members") or {}).get(str(cid)) or []
            if all(m not in scans or cid in mine[m] for m in members):
                ids.add(cid)
    return sorted(ids)


def partial_ids(scans):
    """Ids some answering host holds that do not count as committed: an
    aborted or interrupted checkpoint, or one committed on some members only.
    Every FT operation that changes the stores deletes them everywhere."""
    committed = set(committed_ids(scans))
    seen = {int(i) for scan in scans.values() for i in scan.get("ids", [])}
    return sorted(seen - committed)


def newest_catalog(scans):
    best = None
    for scan in scans.values():
        cat = scan.get("catalog")
        if isinstance(cat, dict) and (best is None or cat.get("serial", 0) > best.get("serial", 0)):
            best = cat
    return best or {}


def running_on(scans, vnode):
    """The hosts (sorted) whose scan shows ``vnode`` RUNNING or FROZEN."""
    return sorted(h for h, s in scans.items() if (s.get("vnodes") or {}).get(vnode) in ("RUNNING", "FROZEN"))


def locate(scans, vnodes):
    """Where each vnode of the model runs now: {vnode: host} (RUNNING or
    FROZEN on a live host) and the problems (not running, on two hosts)."""
    where, problems = {}, []
    for vnode in [v["name"] for v in vnodes]:
        hosts = running_on(scans, vnode)
        if not hosts:
            problems.append("vnode %s is not running on any live host (deploy.yml starts it; restore.yml brings "
                            "the cluster back from a checkpoint)" % vnode)
        elif len(hosts) > 1:
            problems.append("vnode %s runs on %s at once: stop all but one" % (vnode, " and ".join(hosts)))
        else:
            where[vnode] = hosts[0]
    return where, problems


def recreate_names(value, vnodes):
    """The vnodes named by ``vc_recreate`` (a list, or names separated by
    commas or spaces). Raises CheckpointError for a name that is not a vnode."""
    if value in (None, "", [], False):
        return []
    items = value if isinstance(value, (list, tuple)) else str(value).replace(",", " ").split()
    names = [v["name"] for v in vnodes]
    unknown = [str(i) for i in items if str(i) not in names]
    if unknown:
        raise CheckpointError("vc_recreate=%s: not a vnode of the inventory (%s); give vnodes by name, e.g. "
                              "-e vc_recreate=%s" % (",".join(unknown), ", ".join(names) or "none",
                                                     names[0] if names else "vn-a1"))
    return sorted({str(i) for i in items})


def deploy_placement(scans, vnodes, recorded=None, recreate=()):
    """Where deploy.yml runs each vnode, and why: placement is state.

    ``scans``: {host: scan with its vnodes' states} of the hosts that may run
    vnodes; ``vnodes``: the model's [{name, host, ip}]; ``recorded``: {vnode:
    host} of the catalog (where a restore or migration last put it);
    ``recreate``: names the operator asked to start afresh on their inventory
    host. A vnode that runs (or is frozen) on one host stays there, even
    when a restore or a migration moved it away from the inventory's host; one
    that runs nowhere starts on its inventory host. Returns {vnode: {host,
    why, moved, recreate (only for the vnodes of ``recreate``)}}; raises
    CheckpointError when a vnode runs on two hosts."""
    out, problems = {}, []
    recorded = recorded or {}
    for v in vnodes:
        name, home = v["name"], v["host"]
        running = running_on(scans, name)
        if name in recreate:
            out[name] = {"host": home, "moved": False, "recreate": True,
                         "why": "recreated afresh on its inventory host (vc_recreate)"
                                + ("; the instance on %s is removed" % running[0] if running and running[0] != home
                                   else "")}
        elif len(running) > 1:
            problems.append("vnode %s runs on %s at once: name it in -e vc_recreate=%s to start it afresh on %s"
                            % (name, " and ".join(running), name, home))
        elif running and running[0] != home:
            out[name] = {"host": running[0], "moved": True,
                         "why": "runs there, the inventory says %s: kept, placement is state; rebalance.yml moves "
                                "it there live, -e vc_recreate=%s starts it afresh there" % (home, name)}
        elif running:
            out[name] = {"host": home, "moved": False, "why": "runs on its inventory host"}
        else:
            was = recorded.get(name)
            out[name] = {"host": home, "moved": False,
                         "why": "not running: started on its inventory host" + (
                             " (it last ran on %s; restore.yml brings back a checkpoint)" % was
                             if was and was != home else "")}
    if problems:
        raise CheckpointError("; ".join(problems))
    return out


def rebalance_plan(scans, vnodes):
    """The live migrations that bring every vnode back to its inventory host:
    [{vnode, src, to}] for each vnode running on another host while its own
    host answers; and notes on the vnodes left where they are."""
    where, problems = locate(scans, vnodes)
    moves, notes = [], list(problems)
    for v in vnodes:
        name, home = v["name"], v["host"]
        if name not in where or where[name] == home:
            continue
        if home not in scans:
            notes.append("vnode %s stays on %s: its inventory host %s does not answer" % (name, where[name], home))
        else:
            moves.append({"vnode": name, "src": where[name], "to": home})
    return {"moves": moves, "notes": notes}


def checkpoint_plan(scans, vnodes):
    """The next checkpoint: its id and which host dumps which vnodes.
    Raises CheckpointError (nothing changed) when a vnode is not running."""
    where, problems = locate(scans, vnodes)
    if problems:
        raise CheckpointError("cannot checkpoint: " + "; ".join(problems))
    seen = set()
    for scan in scans.values():
        seen.update(int(i) for i in scan.get("ids", []))
        seen.add(int(scan.get("last_id") or 0))  # deleted ones (aborted, discarded, retention)
    seen.add(int(newest_catalog(scans).get("last_id", 0)))
    dumps = {}
    for vnode, host in sorted(where.items()):
        dumps.setdefault(host, []).append(vnode)
    return {"id": next_id(seen), "dumps": dumps, "where": where}


def chain_ids(scans, ckpt):
    """The checkpoint ids a restore of ``ckpt`` reads: ``ckpt`` and every
    parent of its vnodes' file-system chains, as any host's copies record
    them (the copies a restore verifies)."""
    parents = {}
    for scan in scans.values():
        for cid, copies in (scan.get("copies") or {}).items():
            for vnode, info in (copies or {}).items():
                if info.get("parent") is not None:
                    parents[(str(cid), vnode)] = str(info["parent"])
    ids, todo = set(), [(str(ckpt), v) for scan in scans.values()
                        for v in ((scan.get("copies") or {}).get(str(ckpt)) or {})]
    while todo:
        cid, vnode = todo.pop()
        if (cid, vnode) in ids:
            continue
        ids.add((cid, vnode))
        if (cid, vnode) in parents:
            todo.append((parents[(cid, vnode)], vnode))
    return sorted({int(cid) for cid, _v in ids} | {int(ckpt)})


def chain_at(scan, ckpt, vnode):
    """Chain of ids (oldest first) of ``vnode`` at ``ckpt`` in one host's scan,
    or None when a member is missing, incomplete or (when verified) damaged."""
    chain, cur, seen = [], ckpt, set()
    while cur is not None:
        info = (scan.get("copies", {}).get(str(cur)) or {}).get(vnode)
        if not info or not info.get("complete") or info.get("problems") or cur in seen:
            return None
        seen.add(cur)
        chain.append(int(cur))
        cur = info.get("parent")
    return list(reversed(chain))


def basis_for(scan, vnode, before=None):
    """The id of the newest complete, undamaged copy of ``vnode`` in one
    host's scan (older than ``before`` when given), or None: the basis a
    push to that host is sent against (rsync delta, identical files
    hard-linked)."""
    best = None
    for cid, copies in (scan.get("copies") or {}).items():
        info = (copies or {}).get(vnode) or {}
        if not str(cid).isdigit() or not info.get("complete") or info.get("problems"):
            continue
        if (before is None or int(cid) < int(before)) and (best is None or int(cid) > best):
            best = int(cid)
    return best


def with_basis(copy, scan):
    """A copy {vnode, src, dst, ids} with the basis its first id is sent
    against on ``dst`` (``scan``: dst's scan)."""
    first = copy["ids"][0] if copy.get("ids") else None
    return dict(copy, basis=basis_for(scan or {}, copy["vnode"], first if str(first).isdigit() else None))


def replication_plan(ckpt, scans, where, sites, k, policy, previous=None, seed=None):
    """Copies to make after checkpoint ``ckpt``: [{vnode, src, dst, ids}] (ids:
    the chain members ``dst`` lacks, oldest first) and warnings.

    ``sites``: {site: [live hosts that may hold copies]}. A vnode keeps the
    peers of its previous checkpoint while they are alive (its chain is there
    already); otherwise peers are placed by ``policy``."""
    previous = previous or {}
    live = {h for hosts in sites.values() for h in hosts}
    copies, warnings = [], []
    for vnode in sorted(where):
        src = where[vnode]
        chain = chain_at(scans[src], ckpt, vnode)
        if chain is None:
            raise CheckpointError("checkpoint %s of %s is not complete on %s" % (ckpt, vnode, src))
        others = sorted(live - {src})
        want = min(int(k), len(others))
        if want < int(k):
            warnings.append("%s: only %d other live hosts, %d copies instead of %d" % (vnode, len(others), want, k))
        peers = [h for h in previous.get(vnode, []) if h in live and h != src][:want]
        if len(peers) < want:
            fresh = place_replicas({vnode: src}, {s: [h for h in hs if h not in peers] for s, hs in sites.items()},
                                   want - len(peers), policy, seed=seed)[vnode]
            peers = sorted(peers + fresh)
        for dst in peers:
            have = scans.get(dst, {})
            missing = [c for c in chain if not ((have.get("copies", {}).get(str(c)) or {}).get(vnode) or {})
                       .get("complete")]
            copies.append(with_basis({"vnode": vnode, "src": src, "dst": dst, "ids": missing}, have))
    return copies, warnings


def build_catalog(cluster, scans, dead, previous, where=None):
    """The catalog every host keeps: committed checkpoints, per vnode its
    size, parent and the hosts holding a complete copy (copies on hosts
    that are down are kept from the previous catalog, marked down)."""
    previous = previous or {}
    committed = committed_ids(scans)
    checkpoints = {}
    for ckpt in committed:
        entry = {"vnodes": {}, "time": None}
        for host, scan in sorted(scans.items()):
            for vnode, info in (scan.get("copies", {}).get(str(ckpt)) or {}).items():
                if not info.get("complete"):
                    continue
                v = entry["vnodes"].setdefault(vnode, {"size": info.get("size", 0), "parent": info.get("parent"),
                                                       "origin": info.get("origin"), "copies": []})
                v["copies"].append(host)
                if info.get("time") and (entry["time"] is None or info["time"] < entry["time"]):
                    entry["time"] = info["time"]
        old = (previous.get("checkpoints") or {}).get(str(ckpt)) or {}
        for vnode, info in (old.get("vnodes") or {}).items():
            # copies on hosts that are down: kept, marked down (also when they
            # were already down at the previous rebuild)
            for host in sorted(set(info.get("copies", [])) | set(info.get("down", []))):
                if host in dead:
                    v = entry["vnodes"].setdefault(vnode, dict(info, copies=[], down=[]))
                    if host not in v.setdefault("down", []):
                        v["down"].append(host)
        entry["size"] = sum(v["size"] for v in entry["vnodes"].values())
        checkpoints[str(ckpt)] = entry
    last = max([int(previous.get("last_id", 0))] + [int(i) for s in scans.values() for i in s.get("ids", [])])
    return {"cluster": cluster, "serial": int(previous.get("serial", 0)) + 1, "last_id": last,
            "checkpoints": checkpoints, "placement": dict(where or previous.get("placement") or {})}


def catalog_of(cluster, scans, dead, where=None, replicas=None):
    """The catalog after a change: build_catalog over the newest catalog the
    hosts hold, with the peers each vnode keeps (``replicas``: {vnode:
    [peers]} of this change, over the previous ones)."""
    previous = newest_catalog(scans)
    cat = build_catalog(cluster, scans, set(dead), previous, where=where)
    cat["replicas"] = dict(previous.get("replicas") or {}, **(replicas or {}))
    return cat


def replicas_of(copies):
    """{vnode: [peers]} from a replication plan's copies (the next checkpoint keeps them)."""
    peers = {}
    for c in copies:
        peers.setdefault(c["vnode"], []).append(c["dst"])
    return {v: sorted(set(h)) for v, h in peers.items()}


def retention_ids(scans, keep):
    """The checkpoints retention deletes everywhere (to_delete_chained over the scans)."""
    committed = committed_ids(scans)
    parents, partial = {}, set()
    for scan in scans.values():
        for cid, copies in (scan.get("copies") or {}).items():
            for vnode, info in copies.items():
                parents.setdefault(int(cid), {})[vnode] = info.get("parent")
        partial.update(int(i) for i in scan.get("ids", []) if int(i) not in committed)
    return to_delete_chained(committed, keep, parents, sorted(partial))


def without(catalog, ids):
    """The catalog without the checkpoints ``ids`` (deleted by retention)."""
    gone = {str(i) for i in ids}
    return dict(catalog, checkpoints={k: v for k, v in catalog["checkpoints"].items() if k not in gone})


def host_access(hv, name):
    """How the controller reaches a host over SSH and where its files are,
    from its hostvars (for the agents, ckpt_copy and ckpt_restore)."""
    store = paths.store_dir(hv.get("vc_store_dir"))
    return {"address": str(hv.get("ansible_host") or name),
            "user": str(hv.get("ansible_user") or ""),
            "key": str(hv.get("ansible_ssh_private_key_file") or ""),
            "ssh_args": " ".join(str(hv.get(v) or "") for v in ("ansible_ssh_common_args",
                                                               "ansible_ssh_extra_args")).strip(),
            "store": str(store),
            "root": paths.host_paths(store, hv.get("vnode_root"))["vnodes"],
            "python": str(hv.get("ansible_python_interpreter") or "python3"),
            "lan_ip": str(hv.get("vc_lan_ip") or ""),
            "repl_key": paths.replication_key(hv.get("vc_host_etc")),
            "repl_known_hosts": paths.replication_known_hosts(hv.get("vc_host_etc")),
            "mbit": hv.get("vc_ft_replication_mbit")}


def restore_plan(value, scans, dead, vnodes, home=None):
    """Everything restore.yml does, decided before it touches anything.

    ``value``: the ckpt asked for; ``scans``: {live host: verified scan};
    ``vnodes``: the model's vnodes [{name, host, ip}]; ``home``: {vnode: host
    it last ran on} (the catalog's placement; default the inventory's).
    Returns {ckpt, plan: {vnode: {host, source, moved}}, restore: {host:
    [{name, ip}]}, fetch: [{vnode, src, dst, ids}], corrupt: [...]}."""
    committed = committed_ids(scans)
    ckpt = parse_ckpt(value, committed)
    corrupt = []
    copies, homes = {}, {}
    for v in vnodes:
        name = v["name"]
        holders = []
        for host, scan in sorted(scans.items()):
            info = (scan.get("copies", {}).get(str(ckpt)) or {}).get(name)
            if not info:
                continue
            for cid, cinfo in (scan.get("copies") or {}).items():
                if (cinfo.get(name) or {}).get("problems"):
                    corrupt.append("%s: checkpoint %s of %s: %s" % (host, cid, name,
                                                                      "; ".join(cinfo[name]["problems"])))
            if chain_at(scan, ckpt, name) is not None:
                holders.append(host)
        origins = [info.get("origin") for scan in scans.values()
                   for info in [(scan.get("copies", {}).get(str(ckpt)) or {}).get(name)] if info and info.get("origin")]
        # Its home: the host that dumped it (where it ran at the checkpoint),
        # else where the catalog last saw it, else the inventory's host.
        homes[name] = origins[0] if origins else (home or {}).get(name, v["host"])
        copies[name] = [h for h in holders if h == homes[name]] + [h for h in holders if h != homes[name]]
    plan = plan_restore(ckpt, homes, copies, set(scans))
    restore, fetch = {}, []
    ips = {v["name"]: v["ip"] for v in vnodes}
    for name, step in sorted(plan.items()):
        restore.setdefault(step["host"], []).append({"name": name, "ip": ips[name]})
        if step["source"] != step["host"]:
            chain = chain_at(scans[step["source"]], ckpt, name)
            have = scans.get(step["host"], {})
            missing = [c for c in chain if chain_at(have, c, name) is None]
            fetch.append(with_basis({"vnode": name, "src": step["source"], "dst": step["host"], "ids": missing}, have))
    return {"ckpt": ckpt, "plan": plan, "restore": restore, "fetch": fetch, "corrupt": sorted(set(corrupt))}


def restore_lines(plan, dead):
    """What a restore shows a person before it starts: the checkpoint, the
    hosts down, one line per vnode (where, fetched from where, moved), the
    damaged copies it skips (``plan``: restore_plan's)."""
    lines = ["restoring checkpoint %d; hosts down: %s" % (plan["ckpt"], ", ".join(sorted(dead)) or "none")]
    for vnode, step in sorted(plan["plan"].items()):
        line = "%s: on %s" % (vnode, step["host"])
        if step["source"] != step["host"]:
            line += ", copy fetched from %s" % step["source"]
        if step.get("moved"):
            line += " (moved: its host is down)"
        lines.append(line)
    return lines + ["skipped a damaged copy: " + c for c in plan["corrupt"]]


def ssh_argv(host):
    """ssh command line for a host {address, user, key, ssh_args}: BatchMode on,
    the inventory's options (host-key checking as it says) kept."""
    argv = ["ssh", "-o", "BatchMode=yes"]
    if host.get("key"):
        argv += ["-i", host["key"]]
    argv += shlex.split(host.get("ssh_args") or "")
    if host.get("user"):
        argv += ["-l", host["user"]]
    return argv + [host["address"]]


def push_command(src, dst, cluster, ckpt, vnode, basis=None):
    """The command the controller runs (over SSH, on host ``src``) to make
    ``src`` push its copy of ``vnode`` in checkpoint ``ckpt`` straight to
    ``dst``'s incoming directory (replication.push_argv: rsync over the site
    LANs with ``src``'s replication key; the controller relays nothing).
    ``basis``: a directory on ``dst`` relative to its store of the cluster
    (replication.stored/incoming) to send the difference against."""
    for host, need in ((src, ("store", "repl_key", "repl_known_hosts")), (dst, ("lan_ip",))):
        missing = [k for k in need if not host.get(k)]
        if missing:
            raise CheckpointError("cannot push %s's checkpoint %s: %s unknown" % (vnode, ckpt, ", ".join(missing)))
    push = replication.push_argv(vnode_dir(src["store"], cluster, ckpt, vnode), dst["lan_ip"], src["repl_key"],
                                 src["repl_known_hosts"], ckpt, vnode, basis=basis, mbit=src.get("mbit"))
    return ssh_argv(src) + [shlex.join(push)]


def migrate_plan(scans, vnodes, vnode, to, holders):
    """Check a migration request: ``vnode`` (a vnode of the model) moves to
    host ``to`` (a live host that may run vnodes, ``holders``). Returns
    {vnode, ip, src, dst, where (after the move)}; raises CheckpointError,
    naming the variable and what is valid, before anything changes."""
    names = [v["name"] for v in vnodes]
    if not vnode or vnode not in names:
        raise CheckpointError("vnode=%s is not a vnode of the inventory; give one of %s (e.g. -e vnode=%s)"
                              % (vnode or "(missing)", ", ".join(names) or "none", names[0] if names else "vn-a1"))
    live = sorted(h for h in holders if h in scans)
    if not to or to not in live:
        raise CheckpointError("to=%s is not a live host that runs vnodes; give one of %s (e.g. -e to=%s)"
                              % (to or "(missing)", ", ".join(live) or "none", live[0] if live else "b-h1"))
    where, problems = locate(scans, vnodes)
    if vnode not in where:
        raise CheckpointError("cannot migrate: " + "; ".join(p for p in problems if vnode in p))
    if where[vnode] == to:
        raise CheckpointError("vnode %s already runs on %s; nothing to do" % (vnode, to))
    ip = [v["ip"] for v in vnodes if v["name"] == vnode][0]
    return {"vnode": vnode, "ip": ip, "src": where[vnode], "dst": to, "where": dict(where, **{vnode: to}),
            "basis": basis_for(scans[to], vnode)}
