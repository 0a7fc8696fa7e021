#!/usr/bin/python
"""A VXLAN port of the overlay bridge, carried by a site-to-site tunnel."""

from __future__ import annotations

DOCUMENTATION = r"""
module: vxlan_port
short_description: Bridge VXLAN over a tunnel into the overlay bridge (or remove it)
description:
  - Creates the VXLAN interface I(name) from this gateway's tunnel address I(local) to the peer's I(remote), puts it
    in the overlay bridge with port isolation (a full mesh of tunnels makes no L2 loop) and the overlay MTU.
  - With I(local_on_lo), I(local) is also kept on the loopback interface as a /32 (tunnels such as strongSwan's
    kernel-libipsec route the peer's address through their own device but give this end no address).
  - With C(state=absent) removes the interface and the loopback address (switching backends).
  - Reads the current state with C(ip -j) in the host's own network namespace (not /sys, which shows the
    machine's namespace on emulated hosts). Check mode reports what would change.
options:
  name:
    description: Name of the VXLAN interface.
    type: str
    required: true
  state:
    description: C(present) or C(absent).
    type: str
    choices: [present, absent]
    default: present
  vxlan_id:
    description: VXLAN network identifier (the same at both ends).
    type: int
  local:
    description: This end's tunnel address (no prefix).
    type: str
  remote:
    description: The peer's tunnel address.
    type: str
  dev:
    description: Underlying device of the VXLAN (none = routed).
    type: str
  local_on_lo:
    description: Keep I(local) on the loopback interface as a /32.
    type: bool
    default: false
  bridge:
    description: The overlay bridge.
    type: str
    default: vcbr0
  mtu:
    description: MTU of the VXLAN interface (the overlay MTU).
    type: int
author: vcluster team
"""

EXAMPLES = r"""
- name: VXLAN to site_b over the IPsec tunnel
  vcluster.cluster.vxlan_port:
    name: vi0s
    vxlan_id: 100
    local: 169.254.100.1
    remote: 169.254.100.2
    local_on_lo: true
    mtu: 1350
"""

RETURN = r"""
actions:
  description: What was done (or would be done).
  returned: always
  type: list
  elements: str
"""

import json

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "vxlan_id": {"type": "int"},
            "local": {"type": "str"},
            "remote": {"type": "str"},
            "dev": {"type": "str"},
            "local_on_lo": {"type": "bool", "default": False},
            "bridge": {"type": "str", "default": "vcbr0"},
            "mtu": {"type": "int"},
        },
        required_if=[("state", "present", ["vxlan_id", "local", "remote", "mtu"])],
        supports_check_mode=True,
    )
    p = module.params
    actions = []

    def run(argv, check=True):
        rc, out, err = module.run_command(argv)
        if check and rc != 0:
            module.fail_json(msg="%s failed: %s" % (" ".join(argv), (err or out).strip()), rc=rc)
        return rc, out

    def act(desc, *argvs):
        actions.append(desc)
        if not module.check_mode:
            for argv in argvs:
                run(argv)

    def link(name, details=False):
        rc, out = run(["ip", "-j"] + (["-d"] if details else []) + ["addr", "show", "dev", name], check=False)
        return json.loads(out)[0] if rc == 0 and out.strip() else None

    lo = link("lo") or {"addr_info": []}
    lo_addresses = [a["local"] for a in lo.get("addr_info", []) if a.get("family") == "inet"]
    vx = link(p["name"], details=True)
    if p["state"] == "absent":
        if vx is not None:
            act("remove %s" % p["name"], ["ip", "link", "del", p["name"]])
        if p["local"] and p["local"] in lo_addresses:
            act("remove %s from lo" % p["local"], ["ip", "addr", "del", p["local"] + "/32", "dev", "lo"])
        module.exit_json(changed=bool(actions), actions=actions)

    if p["local_on_lo"] and p["local"] not in lo_addresses:
        act("%s/32 on lo" % p["local"], ["ip", "addr", "add", p["local"] + "/32", "dev", "lo"])
    data = ((vx or {}).get("linkinfo") or {}).get("info_data") or {}
    if vx is None or data.get("id") != p["vxlan_id"] or data.get("local") != p["local"] or \
            data.get("remote") != p["remote"]:
        argvs = [["ip", "link", "del", p["name"]]] if vx is not None else []
        argvs.append(["ip", "link", "add", p["name"], "mtu", str(p["mtu"]), "type", "vxlan", "id", str(p["vxlan_id"]),
                      "local", p["local"], "remote", p["remote"], "dstport", "4789"]
                     + (["dev", p["dev"]] if p["dev"] else []))
        act("VXLAN %s (id %d) %s -> %s" % (p["name"], p["vxlan_id"], p["local"], p["remote"]), *argvs)
        vx = {"mtu": p["mtu"], "master": None, "flags": []}
    if vx.get("mtu") != p["mtu"] or vx.get("master") != p["bridge"] or "UP" not in vx.get("flags", []):
        act("put %s in %s, isolated" % (p["name"], p["bridge"]),
            ["ip", "link", "set", p["name"], "mtu", str(p["mtu"]), "master", p["bridge"], "up"],
            ["bridge", "link", "set", "dev", p["name"], "isolated", "on"])
    module.exit_json(changed=bool(actions), actions=actions)


if __name__ == "__main__":
    main()
