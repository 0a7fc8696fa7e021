"""A host's overlay bridge: plain Python, no Ansible.

``read_state`` looks at the host's links and routes (``ip -j`` output),
``plan`` returns the ``ip`` commands that give the host its overlay bridge
with the wanted ports, MTU, address and routes; nothing when all is in place.
"""

import hashlib


def read_state(run_json):
    """{links: {name: {master, mtu, up, addresses}}, routes: {dst: (gateway, dev)}}."""
    links = {}
    for link in run_json(["ip", "-j", "addr", "show"]) or []:
        links[link["ifname"]] = {
            "master": link.get("master"),
            "mtu": link.get("mtu"),
            "mac": link.get("address"),
            "up": "UP" in link.get("flags", []),
            "kind": (link.get("linkinfo") or {}).get("info_kind"),
            "addresses": sorted("%s/%s" % (a["local"], a["prefixlen"])
                                for a in link.get("addr_info", []) if a.get("family") == "inet"),
        }
    for link in run_json(["ip", "-j", "-d", "link", "show", "type", "bridge"]) or []:
        if link["ifname"] in links:
            links[link["ifname"]]["kind"] = "bridge"
    routes = {}
    for route in run_json(["ip", "-j", "route", "show"]) or []:
        routes[route["dst"]] = (route.get("gateway"), route.get("dev"))
    return {"links": links, "routes": routes}


def stable_mac(seed):
    """A locally administered unicast MAC derived from ``seed``."""
    digest = hashlib.sha256(seed.encode()).hexdigest()
    return "02:" + ":".join(digest[i:i + 2] for i in range(0, 10, 2))


def plan(spec, state):
    """Commands (description, argv) for the overlay bridge ``spec``:
    {bridge, mtu, ports: [...], address: CIDR or None, routes: [{to, via}]}.
    Raises ValueError naming a port that does not exist."""
    actions = []
    links = state["links"]
    bridge, mtu = spec["bridge"], str(spec["mtu"])
    cur = links.get(bridge)
    if cur is not None and cur.get("kind") not in (None, "bridge"):
        raise ValueError("%s exists but is a %s, not a bridge; remove it or choose another overlay_bridge"
                         % (bridge, cur["kind"]))
    if cur is None:
        actions.append(("create bridge %s" % bridge, ["ip", "link", "add", bridge, "mtu", mtu, "type", "bridge"]))
        cur = {"master": None, "mtu": int(mtu), "up": False, "addresses": []}
    if cur["mtu"] != int(mtu):
        actions.append(("MTU %s on %s" % (mtu, bridge), ["ip", "link", "set", bridge, "mtu", mtu]))
    # A bridge takes the lowest MAC of its ports unless given one: a fixed MAC
    # keeps the neighbours' ARP entries valid when tunnels come and go.
    if spec.get("mac") and cur.get("mac") != spec["mac"]:
        actions.append(("MAC %s on %s" % (spec["mac"], bridge), ["ip", "link", "set", bridge, "address", spec["mac"]]))
    for port in spec["ports"]:
        p = links.get(port)
        if p is None:
            raise ValueError("overlay uplink %s does not exist on this host; set vc_overlay_uplink to the interface "
                             "that carries the site's overlay segment" % port)
        if p["mtu"] != int(mtu):
            actions.append(("MTU %s on %s" % (mtu, port), ["ip", "link", "set", port, "mtu", mtu]))
        if p["master"] != bridge or not p["up"]:
            actions.append(("put %s in %s" % (port, bridge), ["ip", "link", "set", port, "master", bridge, "up"]))
        if p["addresses"]:
            actions.append(("flush addresses of %s (a bridge port)" % port, ["ip", "addr", "flush", "dev", port]))
    wanted = [spec["address"]] if spec.get("address") else []
    if cur["addresses"] != wanted:
        if cur["addresses"]:
            actions.append(("flush addresses of %s" % bridge, ["ip", "addr", "flush", "dev", bridge]))
        for address in wanted:
            actions.append(("address %s on %s" % (address, bridge), ["ip", "addr", "add", address, "dev", bridge]))
    if not cur["up"]:
        actions.append(("bring up %s" % bridge, ["ip", "link", "set", bridge, "up"]))
    for route in spec.get("routes", []):
        if state["routes"].get(route["to"]) != (route["via"], bridge):
            actions.append(("route %s via %s" % (route["to"], route["via"]),
                            ["ip", "route", "replace", route["to"], "via", route["via"], "dev", bridge]))
    return actions
