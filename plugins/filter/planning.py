"""Filters of plan.yml: thin glue over plugins/module_utils/planning.py (the
same plan scripts/plan prints)."""

from ansible.errors import AnsibleFilterError

from ansible_collections.vcluster.cluster.plugins.module_utils import planning

PARAMS = {"checkpoint_cost_s": "vc_ft_checkpoint_cost_s", "restart_cost_s": "vc_ft_restart_cost_s",
          "host_mtbf_h": "vc_ft_host_mtbf_h"}


def vc_ft_plan(model, target=planning.DEFAULT_TARGET, trials=20000, seed=0):
    """planning.plan() for the cluster model (playbooks/validate.yml's
    vc_model), its costs taken from the model's ft section."""
    ft = model.get("ft") or {}
    params = {var: ft.get(key) for key, var in PARAMS.items()}
    try:
        return planning.plan(model, params, target=float(target), trials=int(trials), seed=int(seed))
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError("plan: %s" % exc) from exc


def vc_ft_plan_text(result, source="the inventory"):
    """The plan in words, one list item per line (for debug)."""
    return planning.plan_text(result, source).split("\n")


class FilterModule:
    def filters(self):
        return {"vc_ft_plan": vc_ft_plan, "vc_ft_plan_text": vc_ft_plan_text}
