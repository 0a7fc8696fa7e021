"""Backend-specific checks of the overlay and gateway roles (ipsec backend:
strongSwan IKEv2, ESP in UDP through kernel-libipsec, carrying VXLAN) over
SSH; the common ones are in molecule/shared/test_overlay.py."""

HOSTS_DIR = "/var/lib/vcluster/molecule-gatewayipsec/hosts"


def name_of(host):
    return host.backend.get_hostname()


def test_ipsec_sa_is_established_with_aes_gcm_and_the_key_stays_private(host):
    name = name_of(host)
    if "gw" not in name:
        return
    key = host.file("%s/%s/etc/gateway/ipsec/private/gateway.pem" % (HOSTS_DIR, name))
    assert key.mode == 0o600 and key.user == "root"
    sas = host.check_output("swanctl --list-sas --uri unix://%s/%s/run/gateway/charon.vici" % (HOSTS_DIR, name))
    peer_site = "m_site2" if name == "mi-gw1" else "m_site1"
    assert "%s: #" % peer_site in sas and "ESTABLISHED" in sas, sas
    assert "INSTALLED, TUNNEL-in-UDP" in sas and "ESP:AES_GCM_16-256" in sas, sas
    side = "s" if name == "mi-gw1" else "c"
    bridge = host.check_output("bridge -d link show dev vi0%s" % side)
    assert "master vcbr0" in bridge and "isolated on" in bridge
