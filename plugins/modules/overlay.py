#!/usr/bin/python
"""Give a host its overlay bridge (ports, MTU, address, routes)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: overlay
short_description: Make the host's overlay bridge
description:
  - Creates the bridge vnodes attach to, puts the host's overlay uplink(s) in it (the interface that carries the
    site's overlay segment), sets the overlay MTU on all of them, and on gateways the gateway's overlay address and
    the routes to the other sites' LANs through their gateways.
  - Looks at the current links and routes first and runs only what is missing; check mode reports it.
options:
  bridge:
    description: Name of the overlay bridge.
    type: str
    default: vcbr0
  mtu:
    description: MTU of the bridge and its ports (the inventory's C(vc_overlay_mtu)).
    type: int
    required: true
  ports:
    description: Interfaces to put in the bridge (must exist).
    type: list
    elements: str
    default: []
  address:
    description: Address of the host on the overlay, as ADDRESS/PREFIX (gateways only); none when omitted.
    type: str
  mac:
    description: MAC address of the bridge; by default one derived from the host's name and the bridge's, so it
      does not change when ports come and go.
    type: str
  routes:
    description: Routes through the bridge, each with C(to) (network) and C(via) (address).
    type: list
    elements: dict
    default: []
author: vcluster team
"""

EXAMPLES = r"""
- name: Make the overlay bridge of a compute host
  vcluster.cluster.overlay:
    mtu: 1400
    ports: [ovl0]
"""

RETURN = r"""
actions:
  description: What was done (or, in check mode, would be done).
  returned: always
  type: list
  elements: str
"""

import json
import socket

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vcluster.cluster.plugins.module_utils import overlay


def main():
    module = AnsibleModule(
        argument_spec={
            "bridge": {"type": "str", "default": "vcbr0"},
            "mtu": {"type": "int", "required": True},
            "ports": {"type": "list", "elements": "str", "default": []},
            "address": {"type": "str"},
            "routes": {"type": "list", "elements": "dict", "default": []},
            "mac": {"type": "str"},
        },
        supports_check_mode=True,
    )

    def run_json(argv):
        rc, out, _err = module.run_command(argv)
        return json.loads(out) if rc == 0 and out.strip() else None

    spec = dict(module.params)
    spec["mac"] = spec["mac"] or overlay.stable_mac("%s/%s" % (socket.gethostname(), spec["bridge"]))
    try:
        actions = overlay.plan(spec, overlay.read_state(run_json))
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    if not module.check_mode:
        for _desc, argv in actions:
            rc, out, err = module.run_command(argv)
            if rc != 0:
                module.fail_json(msg="%s failed: %s" % (" ".join(argv), (err or out).strip()), rc=rc)
    module.exit_json(changed=bool(actions), actions=[desc for desc, _argv in actions])


if __name__ == "__main__":
    main()
