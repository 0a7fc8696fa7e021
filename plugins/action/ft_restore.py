"""Action plugin vcluster.cluster.ft_restore: restore the whole cluster to a
checkpoint in one step, on the controller (restore.yml).

Thin over plugins/module_utils/ft_restore.py (verify, plan, fetch host to
host, load frozen everywhere, resume everywhere, catalog: see there). Writes
the controller's copy of the catalog and returns the plan's lines and the
result as data. An emulated host whose network namespace is gone counts as
down and is never contacted. Check mode verifies and plans only."""

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.vcluster.cluster.plugins.module_utils import ckpt as C
from ansible_collections.vcluster.cluster.plugins.module_utils import ft_checkpoint as F
from ansible_collections.vcluster.cluster.plugins.module_utils import ft_restore as R


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("cluster", "hosts", "emulated", "vnodes", "ckpt", "net", "lease", "controller_dir"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        a = F.plain(self._task.args)
        try:
            hosts = F.live_hosts(a["hosts"], a.get("emulated") or [], "restore.yml")
            out = R.restore(hosts, a["cluster"], a["vnodes"], a.get("ckpt") or "latest", a["net"],
                            lease=float(a["lease"]), check=self._task.check_mode)
        except C.CheckpointError as exc:
            raise AnsibleActionFail(str(exc)) from exc
        if self._task.check_mode:
            result.update(changed=True, plan=out["plan"], lines=out["lines"])
            return result
        F.write_catalog(a["cluster"], a.get("controller_dir"), out["catalog"])
        result.update(changed=True, result=out["result"], lines=out["lines"])
        return result
