"""Filters for the paths the project derives (plugins/module_utils/paths.py,
the one place that joins them): role defaults and playbooks use these."""

from ansible_collections.vcluster.cluster.plugins.module_utils import paths


class FilterModule:
    def filters(self):
        return {
            "vc_path_store": paths.store_dir,
            "vc_path_vnodes": paths.vnode_root,
            "vc_path_catalog": paths.catalog_path,
        }
