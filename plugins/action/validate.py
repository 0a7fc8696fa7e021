"""Action plugin vcluster.cluster.validate: check the whole inventory on the
controller before anything is changed (the checks are plain Python in
plugins/module_utils/inventory.py)."""

import json
import os
from collections.abc import Mapping

from ansible import context
from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase
from ansible.utils.vars import load_extra_vars

from ansible_collections.vcluster.cluster.plugins.module_utils import ckpt
from ansible_collections.vcluster.cluster.plugins.module_utils import inventory
from ansible_collections.vcluster.cluster.plugins.module_utils import testbed
from ansible_collections.vcluster.cluster.plugins.module_utils import verbs

# The variables the model reads (the other known ones are checked for their
# name only: inventory.KNOWN_VARIABLES).
VARIABLES = ("vc_cluster_name", "vc_site_subnet", "vc_lan_ip", "vc_wan_ip", "ansible_host", "vc_store_dir",
             "vc_overlay_subnet", "vc_overlay_mtu", "vc_wan_subnet", "vc_mgmt_subnet", "vc_wan_links",
             "vc_vnodes", "vc_ft_replicas", "vc_ft_placement", "vc_ft_retention",
             "vc_ft_checkpoint_cost_s", "vc_ft_restart_cost_s", "vc_ft_host_mtbf_h", "vc_ft_periodic",
             "vc_ft_interval_s", "vc_ft_lease_s", "vc_overlay_ip", "vc_gateway_vpn", "vc_overlay_uplink",
             "vc_wan_interface", "vc_lan_interface", "vc_host_etc", "vc_host_run", "vc_vpn_port_base",
             "vc_mpi_packages", "vc_ft_max_chain", "vc_ft_lock_dir", "vc_ft_controller_dir",
             "vc_ft_replication_mbit", "vc_ssh_host_key", "vc_ssh_authorized_keys", "vnode_root", "vc_vnode_backend")


def plain(value):
    """A rendered value as plain Python (no lazy containers, no tagged strings)."""
    if isinstance(value, bool):
        return bool(value)
    for kind in (int, float, str):
        if isinstance(value, kind):
            return kind(value)
    if isinstance(value, Mapping):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [plain(v) for v in value]
    return value


def site_names(hostvars):
    """The child groups of ``sites``. No variable shows the group hierarchy, so
    read it from the inventory behind ``hostvars``; None lets build_model guess
    the sites from the groups, should that attribute ever go away."""
    try:
        group = hostvars._inventory.groups.get("sites")  # pylint: disable=protected-access
    except AttributeError:
        return None
    return sorted(g.name for g in group.child_groups) if group else []


def not_rendered(unrendered):
    """One message per variable and reason that cannot be rendered ([(host, variable, reason)]), naming the
    host, or the hosts when several fail alike (a cluster-wide value fails on every host)."""
    hosts = {}
    for host, name, why in unrendered:
        hosts.setdefault((name, why), []).append(host)
    return ["%s %s: %s cannot be rendered (%s); define the variables it uses"
            % ("hosts" if len(names) > 1 else "host", ", ".join(sorted(names)), name, why)
            for (name, why), names in hosts.items()]


def hides(error, unrendered):
    """Whether ``error`` only follows from a variable that cannot be rendered: it is about that variable, on a
    host where it fails, or it is a cluster-wide or per-site one saying it is not set."""
    owner, _sep, text = error.partition(": ")
    return any(text.startswith(name + " ") and (owner == "host " + host or (
        not owner.startswith("host ") and text.startswith(name + " is not set"))) for host, name, _why in unrendered)


class ActionModule(ActionBase):

    @staticmethod
    def other_clusters(model, state_dir):
        """A host whose namespace exists here but is not this testbed's (its
        record, testbed.json): another cluster on this machine uses the name."""
        try:
            existing = set(os.listdir("/run/netns"))
        except OSError:
            return []
        try:
            with open(os.path.join(state_dir, "testbed.json")) as f:
                record = json.load(f)
        except (OSError, ValueError):
            record = None
        spec = testbed.build_spec(model, state_dir)
        return ["host %s: the network namespace %s exists on this machine and is not this cluster's (%s does not "
                "list it): another cluster here uses the name; rename the host or destroy the other cluster"
                % (name, testbed.netns_name(name), os.path.join(state_dir, "testbed.json"))
                if name != spec["fabric"] else
                "cluster: the network namespace %s exists on this machine and is not this cluster's; another cluster "
                "here has the name %s: rename vc_cluster_name" % (name, model["cluster"])
                for name in testbed.foreign_namespaces(spec, record, existing)]

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        self.validate_argument_spec(argument_spec={"verb": {"type": "str"}})
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        hostvars, groups = task_vars.get("hostvars", {}), plain(task_vars.get("groups", {}))
        values, unrendered = {}, []
        for host in groups.get("all", []):
            values[host] = {}
            try:  # every vc_* name the host sees (a misspelt one is reported), its value not read
                values[host].update({n: None for n in hostvars[host].keys() if str(n).startswith("vc_")})
            except (AnsibleError, KeyError, AttributeError):
                pass
            for name in VARIABLES:
                try:  # reading through hostvars renders templates ("{{ testbed_state_dir }}/...")
                    values[host][name] = plain(hostvars[host].get(name))
                except AnsibleError as exc:
                    unrendered.append((host, name, str(getattr(exc, "message", exc)).splitlines()[0]))
        model = inventory.build_model(values, groups, site_names(hostvars))
        errors = sorted(set([e for e in inventory.validate(model) if not hides(e, unrendered)]
                            + not_rendered(unrendered)))
        emulated = sorted(h for h, info in (model.get("hosts") or {}).items() if info.get("emulated"))
        if emulated and not errors:
            errors += self.other_clusters(model, plain(hostvars[emulated[0]].get("testbed_state_dir"))
                                          or "/var/lib/vcluster/testbed")
        try:
            names = list(load_extra_vars(self._loader)) if context.CLIARGS.get("extra_vars") else []
        except AnsibleError:
            names = []
        inventory_only = sorted(h for h in values if "vc_recreate" in values[h]) if "vc_recreate" not in names else []
        if inventory_only:  # it would recreate the vnodes, losing their processes, at every deploy
            errors.append("host%s %s: vc_recreate is set in the inventory; it is an extra-var of deploy.yml only "
                          "(-e vc_recreate=NAME): remove it from the inventory" % (
                              "s" if len(inventory_only) > 1 else "", ", ".join(inventory_only)))
        verb = self._task.args.get("verb")
        if verb and not errors:
            errors += verbs.check(verb, {n: plain(task_vars.get(n)) for n in names},
                                  [v.get("name") for v in model["vnodes"] or [] if isinstance(v, Mapping)],
                                  [h for h, info in model["hosts"].items() if not info["gateway"]])
        if not errors and task_vars.get("vc_recreate") not in (None, ""):  # an extra-var of deploy.yml
            try:
                ckpt.recreate_names(plain(task_vars["vc_recreate"]), model["vnodes"])
            except ckpt.CheckpointError as exc:
                errors.append(str(exc))
        result["changed"] = False
        if errors:
            result.update(failed=True, errors=errors, msg="Inventory is invalid (%d problem%s):\n%s" % (
                len(errors), "" if len(errors) == 1 else "s", "\n".join(" - " + e for e in errors)))
        else:
            result.update(msg="Inventory is valid: %d sites, %d hosts, %d vnodes" % (
                len(model["sites"]), len(model["hosts"]), len(model["vnodes"])), ansible_facts={"vc_model": model})
        return result
