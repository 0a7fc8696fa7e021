"""Action plugin vcluster.cluster.ft_checkpoint: a coordinated checkpoint of
the whole cluster in one step, on the controller (checkpoint.yml).

Thin over plugins/module_utils/ft_checkpoint.py (scan, discard, the pause,
host-to-host replicas, catalog, retention: see there). Writes the
controller's copy of the catalog and returns the result as data
(``result``: ft_result.checkpoint; ``missing``: the copies that could not be
made, which leave the checkpoint committed). An emulated host whose network
namespace is gone counts as down and is never contacted (its address would
be routed off this machine). Check mode scans and plans only."""

import json
import os

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.vcluster.cluster.plugins.module_utils import ckpt as C
from ansible_collections.vcluster.cluster.plugins.module_utils import ft_checkpoint as F
from ansible_collections.vcluster.cluster.plugins.module_utils import paths
from ansible_collections.vcluster.cluster.plugins.module_utils import testbed


def _plain(value):
    """Rendered values as plain JSON data (no lazy containers, no tagged strings)."""
    return json.loads(json.dumps(value, default=str))


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("cluster", "hosts", "emulated", "vnodes", "sites", "replicas", "placement", "retention",
                             "max_chain", "lease", "controller_dir"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        a = _plain(self._task.args)
        hosts = {}
        for name, access in sorted(a["hosts"].items()):
            if name in a.get("emulated", []) and not os.path.exists("/run/netns/" + testbed.netns_name(name)):
                continue  # the emulated host is gone (scripts/fault, destroy.yml): down
            hosts[name] = access
        if not hosts:
            raise AnsibleActionFail("checkpoint.yml: no compute host answered (%s: down, unreachable or not deployed); "
                                    "nothing was done. deploy.yml builds the cluster." % ", ".join(sorted(a["hosts"])))
        try:
            out = F.checkpoint(hosts, a["cluster"], a["vnodes"], a["sites"], int(a["replicas"]), a["placement"],
                               int(a["retention"]), int(a["max_chain"]), lease=float(a["lease"]),
                               check=self._task.check_mode)
        except F.NoHost as exc:
            raise AnsibleActionFail("checkpoint.yml: %s" % exc) from exc
        except C.CheckpointError as exc:
            raise AnsibleActionFail(str(exc)) from exc
        if self._task.check_mode:
            result.update(changed=True, plan=out, msg="would take checkpoint %d: %s" % (out["id"], "; ".join(
                "%s dumps %s" % (h, ", ".join(v)) for h, v in sorted(out["dumps"].items()))))
            return result
        top = paths.cluster_dir(a["cluster"], a.get("controller_dir"))
        os.makedirs(top, mode=0o700, exist_ok=True)
        tmp_path = paths.catalog_path(a["cluster"], a.get("controller_dir")) + ".tmp"
        with open(os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            json.dump(out["catalog"], f, indent=4, sort_keys=True)
        os.replace(tmp_path, paths.catalog_path(a["cluster"], a.get("controller_dir")))
        result.update(changed=True, result=out["result"], missing=out["missing"], down=out["down"])
        return result
