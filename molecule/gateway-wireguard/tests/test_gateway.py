"""Verify the overlay and gateway roles (wireguard backend: WireGuard carrying VXLAN) over SSH."""

LAN = {"mw-gw1": "10.233.1.1", "mw-h1": "10.233.1.11", "mw-gw2": "10.233.2.1"}
SITE = {"mw-gw1": "1", "mw-h1": "1", "mw-gw2": "2"}
HOSTS_DIR = "/var/lib/vcluster/molecule-gatewaywg/hosts"


def name_of(host):
    return host.backend.get_hostname()


def test_overlay_bridge_holds_the_uplink_with_the_overlay_mtu(host):
    ports = host.check_output("bridge link show master vcbr0")
    assert "ovl0" in ports and "mtu 1370" in ports


def test_hosts_reach_the_other_site_through_the_vpn(host):
    for other, ip in LAN.items():
        if SITE[other] != SITE[name_of(host)]:
            assert host.run("ping -n -c2 -W3 %s" % ip).rc == 0, other


def test_gateway_tunnel_is_up_with_its_private_key_private(host):
    name = name_of(host)
    if "gw" not in name:
        return
    assert host.file("%s/%s/etc/gateway/wg.key" % (HOSTS_DIR, name)).mode == 0o600
    side = "s" if name == "mw-gw1" else "c"
    dump = host.check_output("wg show wg0%s dump" % side).splitlines()
    assert len(dump) == 2  # the interface and its one peer
    peer = dump[1].split("\t")
    assert peer[2] == ("198.22.0.2:1194" if side == "s" else "198.22.0.1:1194")
    assert int(peer[4]) > 0, "no handshake with the peer"
    bridge = host.check_output("bridge -d link show dev vx0%s" % side)
    assert "master vcbr0" in bridge and "isolated on" in bridge


def test_gateway_wan_is_closed_but_for_the_tunnel(host):
    name = name_of(host)
    if "gw" not in name:
        return
    peer = "198.22.0.2" if name == "mw-gw1" else "198.22.0.1"
    rules = host.check_output("iptables -S INPUT").splitlines()
    assert any(r.startswith("-A INPUT -s %s/32 -i wan0 -p udp -m udp --dport 1194 " % peer) and r.endswith("ACCEPT")
               for r in rules), rules
    assert rules[-1].startswith("-A INPUT -i wan0") and rules[-1].endswith("-j DROP"), rules
    forward = host.check_output("iptables -S FORWARD")
    assert "-A FORWARD -i wan0 -m conntrack --ctstate INVALID,NEW" in forward
