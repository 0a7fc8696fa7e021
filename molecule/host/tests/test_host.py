"""Verify the host role on the scenario's emulated hosts (over real SSH)."""

import pytest

STATE = "/var/lib/vcluster/molecule-host"


def name_of(host):
    return host.backend.get_hostname()


def test_host_has_its_own_hostname(host):
    assert host.check_output("hostname") == name_of(host)


def test_connected_over_ssh_on_management_address(host):
    client, _port, server, _sport = host.check_output("echo $SSH_CONNECTION").split()
    assert client == "10.239.0.1"
    assert server.startswith("10.239.0.")


@pytest.mark.parametrize("pkg", ["iproute2", "iptables", "rsync", "procps", "openssh-client"])
def test_base_packages_installed(host, pkg):
    assert host.package(pkg).is_installed


def test_criu_check_passes(host):
    out = host.run("criu check")
    assert out.rc == 0, out.stderr
    assert "Looks good" in out.stdout + out.stderr


def test_store_is_private_directory(host):
    store = host.file("%s/hosts/%s/disk" % (STATE, name_of(host)))
    assert store.is_directory
    assert store.mode == 0o700


def test_interfaces_and_routes(host):
    name = name_of(host)
    links = host.check_output("ip -o -4 addr show scope global | awk '{print $2, $4}'").splitlines()
    names = sorted(line.split()[0] for line in links)
    if "gw" in name:
        assert names == ["lan0", "mgmt0", "wan0"]
        assert host.check_output("cat /proc/sys/net/ipv4/ip_forward") == "1"
    else:
        assert names == ["lan0", "mgmt0"]
        assert "default via 10.239.1.1 dev lan0" in host.check_output("ip route show default")


def test_site_lan_reaches_gateway(host):
    if name_of(host) == "mh-h1":
        assert host.run("ping -c1 -W2 10.239.1.1").rc == 0


def test_gateways_reach_each_other_over_wan(host):
    if name_of(host) == "mh-gw1":
        assert host.run("ping -c1 -W2 198.19.0.2").rc == 0


def test_sshd_listens_on_management_and_compute_hosts_on_their_lan(host):
    """Gateways: the management address only; compute hosts also their site LAN address (peers push checkpoint
    copies there), never the WAN."""
    listening = sorted(host.check_output("ss -Htln sport = :22 | awk '{print $4}'").split())
    management = [addr for addr in listening if addr.startswith("10.239.0.")]
    lan = [addr for addr in listening if not addr.startswith("10.239.0.")]
    assert len(management) == 1, listening
    if name_of(host).startswith("mh-gw"):
        assert lan == [], listening
    else:
        assert len(lan) == 1 and lan[0].startswith("10.239.") and not lan[0].startswith("10.239.0."), listening
