"""Action plugin vcluster.cluster.ft_checkpoint: a coordinated checkpoint of
the whole cluster in one step, on the controller (checkpoint.yml).

Thin over plugins/module_utils/ft_checkpoint.py (scan, discard, the pause,
host-to-host replicas, catalog, retention: see there). Writes the
controller's copy of the catalog and returns the result as data
(``result``: ft_result.checkpoint; ``missing``: the copies that could not be
made, which leave the checkpoint committed). An emulated host whose network
namespace is gone counts as down and is never contacted (its address would
be routed off this machine). Check mode scans and plans only."""

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.vcluster.cluster.plugins.module_utils import ckpt as C
from ansible_collections.vcluster.cluster.plugins.module_utils import ft_checkpoint as F


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("cluster", "hosts", "emulated", "vnodes", "sites", "replicas", "placement", "retention",
                             "max_chain", "lease", "controller_dir"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        a = F.plain(self._task.args)
        try:
            hosts = F.live_hosts(a["hosts"], a.get("emulated") or [], "checkpoint.yml")
            out = F.checkpoint(hosts, a["cluster"], a["vnodes"], a["sites"], int(a["replicas"]), a["placement"],
                               int(a["retention"]), int(a["max_chain"]), lease=float(a["lease"]),
                               check=self._task.check_mode)
        except C.CheckpointError as exc:
            raise AnsibleActionFail(str(exc)) from exc
        if self._task.check_mode:
            result.update(changed=True, plan=out, msg="would take checkpoint %d: %s" % (out["id"], "; ".join(
                "%s dumps %s" % (h, ", ".join(v)) for h, v in sorted(out["dumps"].items()))))
            return result
        F.write_catalog(a["cluster"], a.get("controller_dir"), out["catalog"])
        result.update(changed=True, result=out["result"], missing=out["missing"], down=out["down"])
        return result
