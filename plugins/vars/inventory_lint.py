"""Vars plugin: lint the inventory's variable files before Ansible reads them
(thin over plugins/module_utils/yamlcheck.py)."""

DOCUMENTATION = r"""
name: inventory_lint
short_description: Stop at a YAML mistake in group_vars or host_vars, with its file and line
description:
  - Reads every file of C(group_vars/) and C(host_vars/) beside the inventory (and the playbook) before
    C(ansible.builtin.host_group_vars) does, and fails with one line per problem naming the file, the line and
    the fix - a tab in the indentation, a bad indent, a key given twice. Ansible alone reports such an error
    without the file.
  - Enabled in the project's C(ansible.cfg) (C(vars_plugins_enabled)), ahead of C(host_group_vars).
version_added: "0.3.0"
"""

from ansible.errors import AnsibleParserError
from ansible.plugins.vars import BaseVarsPlugin

from ansible_collections.vcluster.cluster.plugins.module_utils import yamlcheck

_CHECKED = {}


class VarsModule(BaseVarsPlugin):
    is_stateless = True

    def get_vars(self, loader, path, entities, cache=True):
        super().get_vars(loader, path, entities)
        if path not in _CHECKED:
            _CHECKED[path] = yamlcheck.check_inventory_dir(path)
        problems = _CHECKED[path]
        if problems:
            raise AnsibleParserError("Inventory is invalid (%d problem%s):\n%s" % (
                len(problems), "" if len(problems) == 1 else "s", "\n".join(" - " + p for p in problems)))
        return {}
