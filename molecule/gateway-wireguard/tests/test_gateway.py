"""Backend-specific checks of the overlay and gateway roles (wireguard backend:
WireGuard carrying VXLAN) over SSH; the common ones are in
molecule/shared/test_overlay.py."""

HOSTS_DIR = "/var/lib/vcluster/molecule-gatewaywg/hosts"


def name_of(host):
    return host.backend.get_hostname()


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
