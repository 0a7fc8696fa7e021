"""Verify the overlay and gateway roles (openvpn backend) over SSH."""

LAN = {"mg-gw1": "10.235.1.1", "mg-h1": "10.235.1.11", "mg-gw2": "10.235.2.1"}
SITE = {"mg-gw1": "1", "mg-h1": "1", "mg-gw2": "2"}
HOSTS_DIR = "/var/lib/vcluster/molecule-gateway/hosts"


def name_of(host):
    return host.backend.get_hostname()


def test_overlay_bridge_holds_the_uplink_with_the_overlay_mtu(host):
    ports = host.check_output("bridge link show master vcbr0")
    assert "ovl0" in ports and "mtu 1400" in ports


def test_hosts_reach_the_other_site_through_the_vpn(host):
    for other, ip in LAN.items():
        if SITE[other] != SITE[name_of(host)]:
            assert host.run("ping -n -c2 -W3 %s" % ip).rc == 0, other


def test_gateway_tunnel_is_up_with_its_private_key_private(host):
    name = name_of(host)
    if "gw" not in name:
        return
    assert host.file("%s/%s/etc/gateway/key.pem" % (HOSTS_DIR, name)).mode == 0o600
    peer = "m_site2" if name == "mg-gw1" else "m_site1"
    assert "vt-" + peer in host.check_output("bridge link show master vcbr0")
    log = host.file("%s/%s/run/gateway/vpn-%s.log" % (HOSTS_DIR, name, peer)).content_string
    assert "Initialization Sequence Completed" in log
    assert "Data Channel: cipher 'AES-256-GCM'" in log


def test_gateway_wan_is_closed_but_for_the_tunnel(host):
    name = name_of(host)
    if "gw" not in name:
        return
    peer = "198.21.0.2" if name == "mg-gw1" else "198.21.0.1"
    rules = host.check_output("iptables -S INPUT").splitlines()
    assert any(r.startswith("-A INPUT -s %s/32 -i wan0 -p udp -m udp --dport 1194 " % peer) and r.endswith("ACCEPT")
               for r in rules), rules
    assert rules[-1].startswith("-A INPUT -i wan0") and rules[-1].endswith("-j DROP"), rules
    forward = host.check_output("iptables -S FORWARD")
    assert "-A FORWARD -i wan0 -m conntrack --ctstate INVALID,NEW" in forward
