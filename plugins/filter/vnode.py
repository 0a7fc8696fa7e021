"""Filters about vnodes: thin glue over plugins/module_utils/vnode.py and inventory.py."""

from ansible_collections.vcluster.cluster.plugins.module_utils import inventory, vnode


class FilterModule:
    def filters(self):
        return {"vc_vnode_mac": vnode.mac_for, "vc_vnode_backends": inventory.with_backends,
                "vc_vnode_link_local": vnode.link_local, "vc_vm_ssh_args": vnode.vm_ssh_args,
                "vc_vnode_vms": vnode.running_vms}
