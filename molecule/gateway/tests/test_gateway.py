"""Backend-specific checks of the overlay and gateway roles (openvpn backend) over
SSH; the common ones are in molecule/shared/test_overlay.py."""

HOSTS_DIR = "/var/lib/vcluster/molecule-gateway/hosts"


def name_of(host):
    return host.backend.get_hostname()


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
