"""Site-to-site network plan from the inventory model: plain Python.

``overlay_routes`` gives a gateway its routes to the other sites' LANs
through their gateways' overlay addresses; ``vpn_peers`` gives a gateway one
tunnel per other site (full mesh), each with a stable UDP port and a fixed
TLS role, so that both ends of a pair agree without talking to each other.
"""


def _gateways(model):
    return sorted((site, s["gateway"]) for site, s in model["sites"].items() if s.get("gateway"))


def overlay_routes(model, host):
    """Routes of ``host`` (a gateway) to every other site's LAN."""
    me = model["hosts"][host]
    if not me.get("gateway"):
        return []
    return [{"to": model["sites"][site]["subnet"], "via": model["hosts"][gw]["overlay_ip"]}
            for site, gw in _gateways(model) if gw != host]


def vpn_peers(model, host, port_base=1194):
    """One tunnel per other site for the gateway ``host``.

    Pairs are numbered in the sorted order of sites, so pair (i, j) uses port
    ``port_base + index`` at both ends; the gateway of the site that sorts
    first is the TLS server."""
    gateways = _gateways(model)
    sites = [site for site, _gw in gateways]
    mine = model["hosts"][host]["site"]
    peers = []
    index = 0
    for i, a in enumerate(sites):
        for b in sites[i + 1:]:
            if mine in (a, b):
                other = b if mine == a else a
                gw = dict(gateways)[other]
                side = "server" if mine == a else "client"
                peers.append({"site": other, "host": gw, "wan_ip": model["hosts"][gw]["wan_ip"],
                              "port": port_base + index, "tls": side, "device": "vt-" + other,
                              # WireGuard: interface names unique on the machine (wireguard-go's
                              # control sockets share /var/run/wireguard), a /30 per pair
                              "index": index, "wg": "wg%d%s" % (index, side[0]), "vxlan": "vx%d%s" % (index, side[0]),
                              "wg_address": "169.254.%d.%d/30" % (100 + index, 1 if side == "server" else 2),
                              "wg_peer_address": "169.254.%d.%d" % (100 + index, 2 if side == "server" else 1),
                              # IPsec (kernel-libipsec): the same pair of addresses as the SA's traffic
                              # selectors, VXLAN between them; the first-sorted site initiates
                              "ipsec_vxlan": "vi%d%s" % (index, side[0]),
                              "ipsec_local": "169.254.%d.%d" % (100 + index, 1 if side == "server" else 2),
                              "ipsec_remote": "169.254.%d.%d" % (100 + index, 2 if side == "server" else 1),
                              "ipsec_initiator": side == "server"})
            index += 1
    return peers


def wan_peers(model, host):
    """The emulated WAN links of the gateway ``host``: per other site's
    gateway, its WAN address and the link's latency, jitter and bandwidth,
    with an NFQUEUE number (the order of the links in the inventory)."""
    mine = model["hosts"][host]["site"]
    gateways = dict(_gateways(model))
    peers = []
    for index, link in enumerate(model.get("wan_links") or []):
        if mine in link["sites"]:
            other = [s for s in link["sites"] if s != mine][0]
            peers.append({"peer": model["hosts"][gateways[other]]["wan_ip"], "site": other,
                          "latency_ms": link["latency_ms"], "jitter_ms": link.get("jitter_ms") or 0,
                          "bandwidth_mbit": link["bandwidth_mbit"], "queue": index})
    return peers
