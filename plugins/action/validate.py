"""Action plugin vcluster.cluster.validate: check the whole inventory on the
controller before anything is changed (the logic is plugins/module_utils/inventory.py)."""

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.vcluster.cluster.plugins.module_utils import inventory

VARIABLES = ("vc_cluster_name", "vc_site_subnet", "vc_lan_ip", "vc_wan_ip", "ansible_host", "vc_store_dir",
             "vc_overlay_subnet", "vc_overlay_mtu", "vc_wan_subnet", "vc_mgmt_subnet", "vc_wan_links",
             "vc_vnodes", "vc_ft_replicas", "vc_ft_placement", "vc_ft_retention")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = frozenset(("sites_group",))

    def run(self, tmp=None, task_vars=None):
        _valid, args = self.validate_argument_spec(
            argument_spec={"sites_group": {"type": "str", "default": "sites"}})
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        hostvars_obj = task_vars.get("hostvars", {})
        groups = task_vars.get("groups", {})
        sites_group = args["sites_group"]
        try:
            site_group = hostvars_obj._inventory.groups.get(sites_group)  # pylint: disable=protected-access
        except AttributeError as exc:
            raise AnsibleActionFail("cannot read the inventory's groups: %s" % exc) from exc
        site_names = [g.name for g in site_group.child_groups] if site_group else []
        physical = {h for s in site_names for h in groups.get(s, [])}
        hostvars = {}
        for host in sorted(physical | set(groups.get("gateways", [])) | set(groups.get("emulated", []))):
            if host not in hostvars_obj:
                continue
            host_vars = hostvars_obj[host]
            hostvars[host] = {name: host_vars.get(name) for name in VARIABLES}
        model = inventory.build_model(hostvars, groups, site_names)
        errors = inventory.validate(model)
        result["changed"] = False
        if errors:
            result["failed"] = True
            result["errors"] = errors
            result["msg"] = "Inventory is invalid (%d problem%s), nothing was changed:\n%s" % (
                len(errors), "" if len(errors) == 1 else "s", "\n".join(" - " + e for e in errors))
            return result
        result["msg"] = "Inventory is valid: %d sites, %d hosts, %d vnodes" % (
            len(model["sites"]), len(model["hosts"]), len(model["vnodes"]))
        result["ansible_facts"] = {"vc_model": model}
        return result
