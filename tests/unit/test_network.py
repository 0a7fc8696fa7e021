"""Unit tests of the site-to-site plan (plugins/module_utils/network.py)."""

from ansible_collections.vcluster.cluster.plugins.module_utils import network

MODEL = {
    "sites": {s: {"subnet": "10.240.%d.0/24" % i, "gateway": "%s-gw" % s} for i, s in enumerate("abc", 1)},
    "hosts": {"%s-gw" % s: {"site": s, "gateway": True, "overlay_ip": "10.241.0.%d" % i,
                            "wan_ip": "198.18.0.%d" % i} for i, s in enumerate("abc", 1)},
}
MODEL["hosts"]["a-h1"] = {"site": "a", "gateway": False}
MODEL["wan_links"] = [{"sites": ["a", "b"], "latency_ms": 2.5, "jitter_ms": 0, "bandwidth_mbit": 100},
                      {"sites": ["c", "a"], "latency_ms": 5, "bandwidth_mbit": 10},
                      {"sites": ["b", "c"], "latency_ms": 0, "jitter_ms": 0.1, "bandwidth_mbit": 1000}]


def test_gateway_routes_to_every_other_site():
    assert network.overlay_routes(MODEL, "b-gw") == [{"to": "10.240.1.0/24", "via": "10.241.0.1"},
                                                     {"to": "10.240.3.0/24", "via": "10.241.0.3"}]
    assert network.overlay_routes(MODEL, "a-h1") == []


def test_full_mesh_ends_agree_on_port_and_roles():
    peers = {h: network.vpn_peers(MODEL, h, 1194) for h in ("a-gw", "b-gw", "c-gw")}
    assert [(p["site"], p["port"], p["tls"]) for p in peers["a-gw"]] == [("b", 1194, "server"), ("c", 1195, "server")]
    assert [(p["site"], p["port"], p["tls"]) for p in peers["b-gw"]] == [("a", 1194, "client"), ("c", 1196, "server")]
    assert [(p["site"], p["port"], p["tls"]) for p in peers["c-gw"]] == [("a", 1195, "client"), ("b", 1196, "client")]
    assert peers["a-gw"][0]["wan_ip"] == "198.18.0.2" and peers["a-gw"][0]["device"] == "vt-b"
    # WireGuard: names unique across gateways, both ends of a pair in one /30
    names = [p["wg"] for ps in peers.values() for p in ps]
    assert len(names) == len(set(names)) == 6
    a_b, b_a = peers["a-gw"][0], peers["b-gw"][0]
    assert (a_b["wg_address"], a_b["wg_peer_address"]) == ("169.254.100.1/30", "169.254.100.2")
    assert (b_a["wg_address"], b_a["wg_peer_address"]) == ("169.254.100.2/30", "169.254.100.1")


def test_wan_links_of_a_gateway_with_their_queue():
    assert network.wan_peers(MODEL, "a-gw") == [
        {"peer": "198.18.0.2", "site": "b", "latency_ms": 2.5, "jitter_ms": 0, "bandwidth_mbit": 100, "queue": 0},
        {"peer": "198.18.0.3", "site": "c", "latency_ms": 5, "jitter_ms": 0, "bandwidth_mbit": 10, "queue": 1}]
    assert [p["queue"] for p in network.wan_peers(MODEL, "c-gw")] == [1, 2]
