"""Checks common to every VPN backend's scenario (molecule/gateway*), run by
testinfra over SSH. Addresses and sites come from the scenario's inventory."""

import os

import pytest
from testinfra.utils.ansible_runner import AnsibleRunner

# Molecule hands testinfra the scenario inventory directory (hosts + group_vars).
RUNNER = AnsibleRunner(os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "inventory"))
HOSTS = RUNNER.get_hosts("sites")
VARS = {h: RUNNER.get_variables(h) for h in HOSTS}


def site_of(name):
    return [g for g in VARS[name]["group_names"] if g not in ("sites", "gateways", "emulated")][0]


def name_of(host):
    return host.backend.get_hostname()


def test_overlay_bridge_holds_the_uplink_with_the_overlay_mtu(host):
    ports = host.check_output("bridge link show master vcbr0")
    assert "ovl0" in ports and "mtu %s" % VARS[name_of(host)]["vc_overlay_mtu"] in ports


@pytest.mark.parametrize("other", HOSTS)
def test_hosts_reach_the_other_site_through_the_vpn(host, other):
    if site_of(other) != site_of(name_of(host)):
        assert host.run("ping -n -c2 -W3 %s" % VARS[other]["vc_lan_ip"]).rc == 0


def test_gateway_wan_is_closed_but_for_the_tunnel(host):
    name = name_of(host)
    if "gateways" not in VARS[name]["group_names"]:
        return
    peers = [VARS[h]["vc_wan_ip"] for h in HOSTS if "gateways" in VARS[h]["group_names"] and h != name]
    rules = host.check_output("iptables -S INPUT").splitlines()
    for peer in peers:
        assert any(r.startswith(("-A INPUT -s %s/32 -i wan0 -p udp -m udp --dport " % peer,
                                 "-A INPUT -s %s/32 -i wan0 -p udp -m multiport --dports 500,4500 " % peer))
                   and r.endswith("ACCEPT") for r in rules), rules
    assert rules[-1].startswith("-A INPUT -i wan0") and rules[-1].endswith("-j DROP"), rules
    assert "-A FORWARD -i wan0 -m conntrack --ctstate INVALID,NEW" in host.check_output("iptables -S FORWARD")
