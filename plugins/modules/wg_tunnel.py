#!/usr/bin/python
"""One WireGuard tunnel to a peer gateway, carrying VXLAN into the overlay bridge."""

from __future__ import annotations

DOCUMENTATION = r"""
module: wg_tunnel
short_description: Configure a WireGuard tunnel to a peer gateway and bridge VXLAN over it
description:
  - Configures the WireGuard interface I(name) (created by wireguard-go or the kernel module) with this gateway's
    private key, its listen port and one peer (public key, endpoint, the peer's tunnel address), gives it its
    tunnel address, and creates a VXLAN interface over it that joins the overlay bridge (port isolated, so a full
    mesh of tunnels makes no L2 loop).
  - Reads the current configuration (C(wg show dump), C(ip -j)) and changes only what differs; check mode
    reports it. The private key is read from a file and never returned.
options:
  name:
    description: The WireGuard interface.
    type: str
    required: true
  private_key_file:
    description: File holding this gateway's private key (mode 0600).
    type: path
    required: true
  listen_port:
    description: UDP port.
    type: int
    required: true
  peer_public_key:
    description: The peer gateway's public key.
    type: str
    required: true
  endpoint:
    description: The peer's WAN address and port, C(ADDRESS:PORT).
    type: str
    required: true
  address:
    description: This end's tunnel address, C(ADDRESS/PREFIX).
    type: str
    required: true
  peer_address:
    description: The peer's tunnel address.
    type: str
    required: true
  wg_mtu:
    description: MTU of the WireGuard interface.
    type: int
    default: 1420
  vxlan:
    description: Name of the VXLAN interface.
    type: str
    required: true
  vxlan_id:
    description: VXLAN network identifier (the same at both ends).
    type: int
    required: true
  bridge:
    description: The overlay bridge.
    type: str
    default: vcbr0
  mtu:
    description: MTU of the VXLAN interface (the overlay MTU).
    type: int
    required: true
author: vcluster team
"""

EXAMPLES = r"""
- name: Tunnel to site_b
  vcluster.cluster.wg_tunnel:
    name: wg0s
    private_key_file: /etc/vcluster/gateway/wg.key
    listen_port: 1194
    peer_public_key: "{{ hostvars['b-gw'].gateway_wg_public_key }}"
    endpoint: 198.18.0.2:1194
    address: 169.254.100.1/30
    peer_address: 169.254.100.2
    vxlan: vx0s
    vxlan_id: 100
    mtu: 1370
"""

RETURN = r"""
actions:
  description: What was done (or would be done).
  returned: always
  type: list
  elements: str
"""

import json
import time

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "private_key_file": {"type": "path", "required": True, "no_log": False},
            "listen_port": {"type": "int", "required": True},
            "peer_public_key": {"type": "str", "required": True},
            "endpoint": {"type": "str", "required": True},
            "address": {"type": "str", "required": True},
            "peer_address": {"type": "str", "required": True},
            "wg_mtu": {"type": "int", "default": 1420},
            "vxlan": {"type": "str", "required": True},
            "vxlan_id": {"type": "int", "required": True},
            "bridge": {"type": "str", "default": "vcbr0"},
            "mtu": {"type": "int", "required": True},
        },
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

    deadline = time.time() + 10
    while link(p["name"]) is None and time.time() < deadline and not module.check_mode:
        time.sleep(0.2)
    wg = link(p["name"])
    if wg is None and not module.check_mode:
        module.fail_json(msg="WireGuard interface %s does not exist (is its wireguard-go running?)" % p["name"])

    # WireGuard: key, port, the one peer
    with open(p["private_key_file"]) as f:
        private_key = f.read().strip()
    _rc, dump = run(["wg", "show", p["name"], "dump"], check=False)
    lines = [line.split("\t") for line in dump.splitlines()]
    ours = lines[0] if lines else []
    peers = {fields[0]: fields for fields in lines[1:]}
    allowed = "%s/32" % p["peer_address"]
    peer = peers.get(p["peer_public_key"])
    if (not ours or ours[0] != private_key or ours[2] != str(p["listen_port"]) or peer is None
            or peer[2] != p["endpoint"] or peer[3] != allowed or len(peers) != 1):
        argvs = [["wg", "set", p["name"], "peer", old, "remove"] for old in peers if old != p["peer_public_key"]]
        argvs.append(["wg", "set", p["name"], "listen-port", str(p["listen_port"]), "private-key",
                      p["private_key_file"], "peer", p["peer_public_key"], "endpoint", p["endpoint"],
                      "allowed-ips", allowed, "persistent-keepalive", "25"])
        act("configure %s (port %d, peer %s)" % (p["name"], p["listen_port"], p["endpoint"]), *argvs)

    wg = wg or {"mtu": None, "flags": [], "addr_info": []}
    addresses = ["%s/%s" % (a["local"], a["prefixlen"]) for a in wg.get("addr_info", []) if a.get("family") == "inet"]
    if addresses != [p["address"]]:
        act("address %s on %s" % (p["address"], p["name"]), ["ip", "addr", "flush", "dev", p["name"]],
            ["ip", "addr", "add", p["address"], "dev", p["name"]])
    if wg.get("mtu") != p["wg_mtu"] or "UP" not in wg.get("flags", []):
        act("MTU %d and up on %s" % (p["wg_mtu"], p["name"]),
            ["ip", "link", "set", p["name"], "mtu", str(p["wg_mtu"]), "up"])

    # VXLAN over the tunnel, in the overlay bridge
    local = p["address"].split("/")[0]
    vx = link(p["vxlan"], details=True)
    data = ((vx or {}).get("linkinfo") or {}).get("info_data") or {}
    if vx is None or data.get("id") != p["vxlan_id"] or data.get("local") != local or \
            data.get("remote") != p["peer_address"]:
        argvs = [["ip", "link", "del", p["vxlan"]]] if vx is not None else []
        argvs.append(["ip", "link", "add", p["vxlan"], "mtu", str(p["mtu"]), "type", "vxlan", "id", str(p["vxlan_id"]),
                      "local", local, "remote", p["peer_address"], "dstport", "4789", "dev", p["name"]])
        act("VXLAN %s (id %d) over %s" % (p["vxlan"], p["vxlan_id"], p["name"]), *argvs)
        vx = {"mtu": p["mtu"], "master": None, "flags": []}
    if vx.get("mtu") != p["mtu"] or vx.get("master") != p["bridge"] or "UP" not in vx.get("flags", []):
        act("put %s in %s, isolated" % (p["vxlan"], p["bridge"]),
            ["ip", "link", "set", p["vxlan"], "mtu", str(p["mtu"]), "master", p["bridge"], "up"],
            ["bridge", "link", "set", "dev", p["vxlan"], "isolated", "on"])
    module.exit_json(changed=bool(actions), actions=actions)


if __name__ == "__main__":
    main()
