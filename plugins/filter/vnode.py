"""Filters about vnodes: thin glue over plugins/module_utils/vnode.py."""

from ansible_collections.vcluster.cluster.plugins.module_utils import vnode


class FilterModule:
    def filters(self):
        return {"vc_vnode_mac": vnode.mac_for}
