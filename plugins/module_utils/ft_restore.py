"""restore.yml in one step, on the controller: the plain-Python engine of the
action plugin ``vcluster.cluster.ft_restore``.

Over one ops-agent session per compute host (ft_checkpoint.Ops):

1. scan the hosts that answer (the others count as down), verify the copies
   the restore reads (the checkpoint and its file-system chains); plan the restore (ckpt.restore_plan: refuses, with nothing
   changed, when a vnode has no verified copy on a live host); discard the
   checkpoints not committed everywhere;
2. the hosts that hold a copy a restoring host lacks push it there (rsync,
   host to host, delta against its own copies); the receivers verify it;
3. the restore itself (ft_agent.restore: every live host stops its vnode
   instances and loads its vnodes frozen; all resume only when all loaded;
   the agents finish it if the controller dies); a failed load stops every
   vnode and changes no checkpoint;
4. the catalog, with where every vnode runs now, on every host.
"""

import time

from ansible_collections.vcluster.cluster.plugins.module_utils import ckpt as C
from ansible_collections.vcluster.cluster.plugins.module_utils import ft_agent as A
from ansible_collections.vcluster.cluster.plugins.module_utils import ft_result
from ansible_collections.vcluster.cluster.plugins.module_utils.ft_checkpoint import Ops, no_host


class RestoreFailed(C.CheckpointError):
    """The restore started but could not finish (every vnode is stopped)."""


def restore(hosts, cluster, vnodes, value, net, lease=A.LEASE, program=None, argv_of=None, check=False,
            clock=time.time):
    """Restore the cluster to checkpoint ``value`` (an id or "latest"); see
    the module docstring. ``hosts``: {host: ckpt.host_access} of the compute
    hosts that may be up; ``net``: {prefix, mtu, bridge, net_up, image_dir,
    image_suite}. Returns {result, catalog, lines}; raises CheckpointError
    when refused (nothing changed), RestoreFailed when it failed half-way."""
    program = program or A.program()
    ops = Ops(hosts, program, cluster, argv_of, lease)
    try:
        if not ops.sessions:
            raise no_host("restore.yml", hosts)
        # Verify the copies the restore reads (the checkpoint and its chains), not every copy of every checkpoint.
        scans = ops.call("scan")
        ckpt = C.parse_ckpt(value, C.committed_ids(scans))
        scans = ops.call("scan", verify=C.chain_ids(scans, ckpt))
        dead = sorted(set(hosts) - set(scans))
        plan = C.restore_plan(ckpt, scans, dead, vnodes,
                              home=C.newest_catalog(scans).get("placement") or None)
        lines = C.restore_lines(plan, dead)
        if check:
            return {"check": True, "plan": plan, "lines": lines}
        partial = C.partial_ids(scans)
        if partial:
            ops.call("delete", ids=partial)
        started = clock()
        _done, problems = ops.copy(plan["fetch"], hosts)
        if problems:
            raise C.CheckpointError("restore of checkpoint %d refused: the copies a restoring host lacks could not "
                                    "be fetched (%s); nothing was changed: run restore.yml again"
                                    % (plan["ckpt"], "; ".join(problems)))
        live = sorted(ops.sessions)
        report = A.restore({h: dict(hosts[h], vnodes=plan["restore"].get(h, [])) for h in live}, program, cluster,
                           plan["ckpt"], net, lease=lease, shared=ops.sessions)
        finished = clock()
        if not report["resumed"]:  # ft_agent.restore stopped every vnode it loaded
            raise RestoreFailed("restore of checkpoint %d failed: %s. Every vnode is stopped and every checkpoint is "
                                "intact: fix the cause (or leave a dead host dead) and run restore.yml again."
                                % (plan["ckpt"], "; ".join(report["failures"])))
        scans = ops.call("scan")
        catalog = C.catalog_of(cluster, scans, sorted(set(hosts) - set(scans)),
                               where={v: step["host"] for v, step in plan["plan"].items()})
        ops.call("catalog", catalog=catalog)
        result = ft_result.restore(plan["ckpt"], plan["plan"], list(plan["restore"]), plan["corrupt"], started,
                                   finished, report)
        return {"result": result, "catalog": catalog, "lines": lines}
    finally:
        ops.close()
