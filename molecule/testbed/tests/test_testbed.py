"""Verify the testbed role: each emulated host seen over SSH (host-key
checking on) and from the controller."""

import testinfra

CONTROLLER = testinfra.get_host("local://")
MGMT = {"mt-gw1": "10.237.0.11", "mt-h1": "10.237.0.12", "mt-gw2": "10.237.0.21"}


def name_of(host):
    return host.backend.get_hostname()


def test_host_is_its_own_namespace_with_its_own_hostname(host):
    name = name_of(host)
    assert host.check_output("hostname") == name
    assert CONTROLLER.run("ip netns list").stdout.split().count("vcl-" + name) == 1
    # the host's sshd runs in the host's namespace, not in the controller's
    assert host.check_output("readlink /proc/self/ns/net") != CONTROLLER.check_output("readlink /proc/self/ns/net")


def test_connection_uses_the_registered_host_key(host):
    name = name_of(host)
    known = CONTROLLER.file("/var/lib/vcluster/molecule-testbed/known_hosts").content_string
    key = CONTROLLER.file("/var/lib/vcluster/molecule-testbed/hosts/%s/ssh/ssh_host_ed25519_key.pub" % name)
    assert "%s %s" % (MGMT[name], " ".join(key.content_string.split()[:2])) in known
    private = CONTROLLER.file("/var/lib/vcluster/molecule-testbed/hosts/%s/ssh/ssh_host_ed25519_key" % name)
    assert private.mode == 0o600


def test_links_addresses_and_routes(host):
    name = name_of(host)
    addrs = dict(line.split()[1:4:2] for line in host.check_output("ip -o -4 addr show scope global").splitlines())
    assert addrs["mgmt0"] == MGMT[name] + "/24"
    if name.startswith("mt-gw"):
        assert set(addrs) == {"mgmt0", "lan0", "wan0"}
        assert host.check_output("cat /proc/sys/net/ipv4/ip_forward") == "1"
    else:
        assert set(addrs) == {"mgmt0", "lan0"}
        assert host.check_output("ip route show default").startswith("default via 10.237.1.1 dev lan0")


def test_site_and_wan_wiring(host):
    name = name_of(host)
    if name == "mt-h1":
        assert host.run("ping -c1 -W2 10.237.1.1").rc == 0      # its gateway, same site
        assert host.run("ping -c1 -W1 10.237.2.1").rc != 0      # the other site: no route yet (overlay layer)
    if name == "mt-gw1":
        assert host.run("ping -c1 -W2 198.20.0.2").rc == 0      # the other gateway over the WAN
