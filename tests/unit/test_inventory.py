"""build_model and validate (plugins/module_utils/inventory.py): the embedded
default is valid, and each rule reports its problem with one exact message."""

import copy
import pathlib
import re

import pytest

from ansible_collections.vcluster.cluster.plugins.module_utils import inventory
from ansible_collections.vcluster.cluster.plugins.module_utils.inventory import build_model, guess_sites, validate

SITES = ["site_a", "site_b"]
# host: (site, ansible_host, vc_lan_ip, vc_wan_ip)
HOSTS = {
    "a-gw": ("site_a", "10.240.0.11", "10.240.1.1", "198.18.0.1"),
    "a-h1": ("site_a", "10.240.0.12", "10.240.1.11", None),
    "a-h2": ("site_a", "10.240.0.13", "10.240.1.12", None),
    "b-gw": ("site_b", "10.240.0.21", "10.240.2.1", "198.18.0.2"),
    "b-h1": ("site_b", "10.240.0.22", "10.240.2.11", None),
    "b-h2": ("site_b", "10.240.0.23", "10.240.2.12", None),
}
CLUSTER = {
    "vc_cluster_name": "demo",
    "vc_overlay_subnet": "10.241.0.0/24",
    "vc_overlay_mtu": 1400,
    "vc_wan_subnet": "198.18.0.0/24",
    "vc_mgmt_subnet": "10.240.0.0/24",
    "vc_vnodes": [{"name": "vn-a1", "host": "a-h1", "ip": "10.241.0.11"},
                  {"name": "vn-a2", "host": "a-h2", "ip": "10.241.0.12"},
                  {"name": "vn-b1", "host": "b-h1", "ip": "10.241.0.21"},
                  {"name": "vn-b2", "host": "b-h2", "ip": "10.241.0.22"}],
    "vc_wan_links": [{"sites": ["site_a", "site_b"], "latency_ms": 0, "jitter_ms": 0, "bandwidth_mbit": 1000}],
    "vc_ft_replicas": 1,
    "vc_ft_placement": "spread",
    "vc_ft_retention": 3,
}


@pytest.fixture(name="inv")
def fixture_inv():
    """hostvars and groups of the embedded default (inventories/local), rendered as the action plugin passes them."""
    hostvars = {}
    for host, (site, mgmt, lan, wan) in HOSTS.items():
        hostvars[host] = dict(copy.deepcopy(CLUSTER), ansible_host=mgmt, vc_lan_ip=lan,
                              vc_site_subnet="10.240.%s.0/24" % ("1" if site == "site_a" else "2"),
                              vc_store_dir="/var/lib/vcluster/testbed/hosts/%s/disk" % host,
                              vc_ssh_host_key="/var/lib/vcluster/testbed/hosts/%s/ssh/ssh_host_ed25519_key.pub" % host,
                              vc_ssh_authorized_keys="/var/lib/vcluster/testbed/hosts/%s/ssh/authorized_keys" % host)
        if wan:
            hostvars[host]["vc_wan_ip"] = wan
    groups = {"all": sorted(HOSTS), "ungrouped": [], "sites": sorted(HOSTS), "emulated": sorted(HOSTS),
              "gateways": ["a-gw", "b-gw"]}
    for site in SITES:
        groups[site] = sorted(h for h in HOSTS if HOSTS[h][0] == site)
    return hostvars, groups


def check(inv, site_names=SITES):
    return validate(build_model(inv[0], inv[1], site_names))


def set_all(inv, name, value):
    for host in inv[0].values():
        host[name] = copy.deepcopy(value)


GW_SSH = "/var/lib/vcluster/testbed/hosts/a-gw/ssh/"


def test_embedded_default_is_valid(inv):
    model = build_model(*inv, site_names=SITES)
    assert validate(model) == []
    assert model["cluster"] == "demo"
    assert model["sites"]["site_a"] == {"subnet": "10.240.1.0/24", "hosts": ["a-gw", "a-h1", "a-h2"],
                                        "gateways": ["a-gw"], "gateway": "a-gw"}
    assert model["hosts"]["a-gw"] == {"site": "site_a", "sites": ["site_a"], "gateway": True, "emulated": True,
                                      "lan_ip": "10.240.1.1", "wan_ip": "198.18.0.1", "mgmt_ip": "10.240.0.11",
                                      "store_dir": "/var/lib/vcluster/testbed/hosts/a-gw/disk",
                                      "overlay_ip": "10.241.0.254", "interfaces": {}, "dirs": {},
                                      "replication_mbit": None,
                                      "ssh_files": {"vc_ssh_host_key": GW_SSH + "ssh_host_ed25519_key.pub",
                                                    "vc_ssh_authorized_keys": GW_SSH + "authorized_keys"},
                                      "paths": {"store": "/var/lib/vcluster/testbed/hosts/a-gw/disk",
                                                "vnodes": "/var/lib/vcluster/testbed/hosts/a-gw/vnodes",
                                                "replication_key": "/etc/vcluster/ft/replication_ed25519",
                                                "replication_known_hosts": "/etc/vcluster/ft/replication_known_hosts",
                                                "ssh_host_key": GW_SSH + "ssh_host_ed25519_key.pub",
                                                "ssh_authorized_keys": GW_SSH + "authorized_keys"}}
    assert model["hosts"]["b-gw"]["overlay_ip"] == "10.241.0.253"
    assert model["vpn"] == "openvpn"
    assert model["hosts"]["b-h2"]["wan_ip"] is None and not model["hosts"]["b-h2"]["gateway"]
    assert [v["name"] for v in model["vnodes"]] == ["vn-a1", "vn-a2", "vn-b1", "vn-b2"]
    assert {v["backend"] for v in model["vnodes"]} == {"lxc"} and "memory_mb" not in model["vnodes"][0]
    assert model["ft"] == {"replicas": 1, "placement": "spread", "retention": 3, "checkpoint_cost_s": None,
                           "restart_cost_s": None, "host_mtbf_h": None, "periodic": None, "interval_s": None,
                           "lease_s": None, "max_chain": None, "lock_dir": None, "controller_dir": None,
                           "paths": {"controller_dir": "/var/lib/vcluster/ft",
                                     "cluster_dir": "/var/lib/vcluster/ft/demo",
                                     "catalog": "/var/lib/vcluster/ft/demo/catalog.json",
                                     "lock": "/run/lock/vcluster-demo.ft",
                                     "vm_known_hosts": "/var/lib/vcluster/ft/demo/vm_known_hosts"}}
    assert model["overlay"] == {"subnet": "10.241.0.0/24", "prefix": 24, "mtu": 1400}
    assert (model["wan_subnet"], model["mgmt_subnet"]) == ("198.18.0.0/24", "10.240.0.0/24")
    assert model["stray_hosts"] == {} and model["mismatches"] == []


@pytest.mark.parametrize("change, expected", [
    ({"vc_gateway_vpn": "pptp"},
     "cluster: vc_gateway_vpn 'pptp' is not one of ipsec, openvpn, wireguard; use openvpn (OpenVPN 2.6 in tap "
     "mode), wireguard (WireGuard carrying VXLAN) or ipsec (strongSwan IKEv2/ESP carrying VXLAN)"),
    ({"vc_gateway_vpn": "ipsec"},
     "cluster: vc_overlay_mtu 1400 is too large for the ipsec tunnel (at most 1350 over a 1500-byte WAN); "
     "set vc_overlay_mtu to 1350 or less"),
    ({"vc_gateway_vpn": "wireguard"},
     "cluster: vc_overlay_mtu 1400 is too large for the wireguard tunnel (at most 1370 over a 1500-byte WAN); "
     "set vc_overlay_mtu to 1370 or less"),
    ({"vc_overlay_mtu": 1500},
     "cluster: vc_overlay_mtu 1500 is too large for the openvpn tunnel (at most 1434 over a 1500-byte WAN); "
     "set vc_overlay_mtu to 1434 or less"),
])
def test_vpn_backend_and_its_mtu(inv, change, expected):
    for host_vars in inv[0].values():
        host_vars.update(change)
    assert validate(build_model(*inv, site_names=SITES)) == [expected]


def test_gateway_overlay_address_is_checked(inv):
    inv[0]["a-gw"]["vc_overlay_ip"] = "10.241.0.11"  # vn-a1's
    inv[0]["a-h1"]["vc_overlay_ip"] = "10.241.0.99"
    errors = validate(build_model(*inv, site_names=SITES))
    assert "host a-h1: has vc_overlay_ip but is not a gateway; remove it (compute hosts have no overlay address, " \
           "their vnodes do)" in errors
    assert any(e.startswith("vnode vn-a1: ip 10.241.0.11 is already used by host a-gw (vc_overlay_ip)")
               for e in errors), errors


def test_sites_are_guessed_without_the_hierarchy(inv):
    assert guess_sites(inv[1]) == SITES
    assert check(inv, site_names=None) == []


def test_jitter_defaults_to_zero(inv):
    set_all(inv, "vc_wan_links", [{"sites": ["site_a", "site_b"], "latency_ms": 5, "bandwidth_mbit": 10}])
    assert build_model(*inv, site_names=SITES)["wan_links"][0]["jitter_ms"] == 0
    assert check(inv) == []


def test_real_hosts_need_no_management_subnet(inv):
    inv[1]["emulated"] = []
    set_all(inv, "vc_mgmt_subnet", None)
    set_all(inv, "vc_cluster_name", "a-long-cluster-name")  # only emulated clusters name links
    assert check(inv) == []


@pytest.mark.parametrize("bad", [None, 5, "x", {"a": 5, 7: {}}, {"a": {"vc_vnodes": "x", "vc_wan_links": {}}}])
@pytest.mark.parametrize("groups", [None, {}, {"sites": "a", "gateways": 5}, {"sites": ["a", None], "g": ["a"]}])
def test_bad_input_never_raises(bad, groups):
    errors = validate(build_model(bad, groups, site_names=5 if bad == 5 else None))
    assert errors and all(isinstance(e, str) for e in errors)


def test_everything_missing_is_reported_once(inv):
    for host in inv[0].values():
        for name in list(host):
            if name.startswith("vc_") and name not in ("vc_lan_ip", "vc_wan_ip", "vc_site_subnet", "vc_store_dir",
                                                       "vc_ssh_host_key", "vc_ssh_authorized_keys"):
                del host[name]
    assert check(inv) == [
        "cluster: vc_cluster_name is not set; set it to lower-case letters, digits and '-', starting with a letter "
        "and not ending with '-', at most 31 characters, e.g. demo",
        "cluster: vc_ft_placement is not set; use spread (prefer hosts at other sites) or random",
        "cluster: vc_ft_replicas is not set; set the number of peer copies of each checkpoint, e.g. 1",
        "cluster: vc_ft_retention is not set; keep at least the last checkpoint, e.g. 3",
        "cluster: vc_mgmt_subnet is not set; set it to an IPv4 network, e.g. 10.240.0.0/24",
        "cluster: vc_overlay_mtu is not set; set it to the overlay's MTU, e.g. 1500",
        "cluster: vc_overlay_subnet is not set; set it to an IPv4 network, e.g. 10.241.0.0/24",
        "cluster: vc_vnodes is not set; set it to a list of {name, host, ip} (or [] for none)",
        "cluster: vc_wan_subnet is not set; set it to an IPv4 network, e.g. 198.18.0.0/24",
        "sites site_a and site_b: no WAN link between them; add an entry with sites: [site_a, site_b] to "
        "vc_wan_links",
    ]


def host(name, **values):
    def mutate(inv):
        inv[0][name].update(values)
    return mutate


def cluster(**values):
    def mutate(inv):
        for name, value in values.items():
            set_all(inv, name, value)
    return mutate


def group(name, hosts):
    def mutate(inv):
        inv[1][name] = hosts
    return mutate


def vnode(index, **values):
    def mutate(inv):
        for h in inv[0].values():
            h["vc_vnodes"][index].update(values)
    return mutate


def link(**values):
    def mutate(inv):
        for h in inv[0].values():
            h["vc_wan_links"][0].update(values)
    return mutate


def add_site_c(gateway):
    def mutate(inv):
        inv[0]["c-h1"] = dict(copy.deepcopy(inv[0]["b-h1"]), ansible_host="10.240.0.31", vc_lan_ip="10.240.3.11",
                              vc_site_subnet="10.240.3.0/24", vc_store_dir="/srv/c-h1")
        if gateway:
            inv[0]["c-h1"]["vc_wan_ip"] = "198.18.0.3"
        inv[1].update(site_c=["c-h1"], gateways=inv[1]["gateways"] + (["c-h1"] if gateway else []))
        for hv in inv[0].values():
            hv["vc_wan_links"] += [{"sites": [x, "site_c"], "latency_ms": 1, "bandwidth_mbit": 1}
                                   for x in ("site_a", "site_b")]
        for name in ("all", "sites", "emulated"):
            inv[1][name] = inv[1][name] + ["c-h1"]
    return mutate


def both(*mutations):
    def mutate(inv):
        for m in mutations:
            m(inv)
    return mutate


def rename_a_h2(name):
    def mutate(inv):
        inv[0][name] = inv[0].pop("a-h2")
        for members in inv[1].values():
            members[:] = [name if h == "a-h2" else h for h in members]
        vnode(1, host=name)(inv)
    return mutate


def rename_site_a(name):
    def mutate(inv):
        inv[1][name] = inv[1].pop("site_a")
        link(sites=[name, "site_b"])(inv)
    return mutate


WAN_AB = "sites site_a and site_b: no WAN link between them; add an entry with sites: [site_a, site_b] to vc_wan_links"
RULES = {
    # Sites and gateways
    "no sites": (lambda inv: (inv[0].clear(), inv[1].clear()),
                 ["cluster: the inventory has no sites; declare each site as a child group of the group 'sites'"]),
    "site without gateway": (add_site_c(gateway=False), [
        "site site_c: has no gateway; add exactly one of its hosts (c-h1) to the group 'gateways'"]),
    "site with a gateway is fine": (add_site_c(gateway=True), []),
    "two gateways": (group("gateways", ["a-gw", "a-h1", "b-gw"]), [
        "host a-h1: vc_wan_ip is not set; give it a free address in vc_wan_subnet 198.18.0.0/24",
        "site site_a: has 2 gateways (a-gw, a-h1); keep exactly one of them in the group 'gateways'",
        "vnode vn-a1: host a-h1 is its site's gateway, which runs no vnodes (nor checkpoints); use a compute host: "
        "a-h2, b-h1, b-h2"]),
    "empty site": (group("site_c", []), [
        "site site_c: has no hosts; add the site's hosts to the group site_c or remove the group",
        "sites site_a and site_c: no WAN link between them; add an entry with sites: [site_a, site_c] to vc_wan_links",
        "sites site_b and site_c: no WAN link between them; add an entry with sites: [site_b, site_c] to vc_wan_links",
    ]),
    "bad site name": (rename_site_a("site_number_one"), [
        "site site_number_one: the group name is not a valid site name; rename the group with lower-case letters, "
        "digits and '_', starting with a letter, at most 12 characters"]),
    "host in two sites": (group("site_b", ["a-h1", "b-gw", "b-h1", "b-h2"]), [
        "host a-h1: it is in 2 sites (site_a, site_b); a host belongs to exactly one site"]),
    "gateway in no site": (group("gateways", ["a-gw", "b-gw", "c-gw"]), [
        "host c-gw: it is in 'gateways' but is in no site; add it to exactly one child group of 'sites'"]),
    "host with a LAN address in no site": (lambda inv: inv[0].update(x={"vc_lan_ip": "10.1.1.1"}), [
        "host x: it has vc_lan_ip but is in no site; add it to exactly one child group of 'sites'"]),
    # Names
    "cluster name": (cluster(vc_cluster_name="Demo"), [
        "cluster: vc_cluster_name 'Demo' is not a valid name; set it to lower-case letters, digits and '-', "
        "starting with a letter and not ending with '-', at most 31 characters, e.g. demo"]),
    "emulated cluster name too long": (cluster(vc_cluster_name="demo-cluster"), [
        "cluster: vc_cluster_name 'demo-cluster' is too long for an emulated cluster (it names network links); "
        "use at most 11 characters"]),
    "emulated host name": (rename_a_h2("a-very-long-host"), [
        "host a-very-long-host: the name of an emulated host must be lower-case letters, digits and '-', starting with "
        "a letter and not ending with '-', at most 12 characters (it names network links and is its host name); "
        "rename it"]),
    # Addresses
    "LAN address outside the site": (host("a-h1", vc_lan_ip="10.240.2.50"), [
        "host a-h1: vc_lan_ip 10.240.2.50 is not in site_a's vc_site_subnet 10.240.1.0/24; pick a free address in "
        "10.240.1.0/24"]),
    "duplicate LAN address": (host("b-h2", vc_lan_ip="10.240.2.11"), [
        "host b-h2: vc_lan_ip 10.240.2.11 is already used by host b-h1 (vc_lan_ip); pick a free address in "
        "10.240.2.0/24"]),
    "duplicate across kinds": (host("b-h2", ansible_host="10.241.0.11"), [
        "host b-h2: ansible_host 10.241.0.11 is not in vc_mgmt_subnet 10.240.0.0/24; pick a free address in "
        "10.240.0.0/24",
        "vnode vn-a1: ip 10.241.0.11 is already used by host b-h2 (ansible_host); pick a free address in "
        "10.241.0.0/24"]),
    "invalid address": (host("b-h1", vc_lan_ip="10.240.2.300"), [
        "host b-h1: vc_lan_ip '10.240.2.300' is not an IPv4 address; give it a free address in site_b's "
        "vc_site_subnet 10.240.2.0/24"]),
    "address not a string": (host("b-h1", vc_lan_ip=42), [
        "host b-h1: vc_lan_ip 42 is not an IPv4 address; give it a free address in site_b's vc_site_subnet "
        "10.240.2.0/24"]),
    "broadcast address": (host("b-h1", vc_lan_ip="10.240.2.255"), [
        "host b-h1: vc_lan_ip 10.240.2.255 is the broadcast address of site_b's vc_site_subnet 10.240.2.0/24; "
        "pick a free address in 10.240.2.0/24"]),
    "missing LAN address": (lambda inv: inv[0]["a-h2"].pop("vc_lan_ip"), [
        "host a-h2: vc_lan_ip is not set; give it a free address in site_a's vc_site_subnet 10.240.1.0/24"]),
    "WAN address on a compute host": (host("a-h1", vc_wan_ip="198.18.0.9"), [
        "host a-h1: has vc_wan_ip but is not a gateway; remove vc_wan_ip or make the host its site's gateway in "
        "the group 'gateways'"]),
    "WAN address outside the WAN": (host("a-gw", vc_wan_ip="198.19.0.1"), [
        "host a-gw: vc_wan_ip 198.19.0.1 is not in vc_wan_subnet 198.18.0.0/24; pick a free address in "
        "198.18.0.0/24"]),
    "management address of the controller": (host("a-h1", ansible_host="10.240.0.1"), [
        "host a-h1: ansible_host 10.240.0.1 is already used by the controller (first address of vc_mgmt_subnet); "
        "pick a free address in 10.240.0.0/24"]),
    "missing management address": (lambda inv: inv[0]["a-h1"].pop("ansible_host"), [
        "host a-h1: ansible_host is not set; give it a free address in vc_mgmt_subnet 10.240.0.0/24"]),
    "relative store": (host("a-h1", vc_store_dir="disk"), [
        "host a-h1: vc_store_dir 'disk' is not an absolute path; set it to the directory of the host's checkpoint "
        "store"]),
    # Subnets
    "invalid subnet": (lambda inv: [inv[0][h].update(vc_site_subnet="10.240.2.1/24") for h in inv[1]["site_b"]], [
        "site site_b: vc_site_subnet '10.240.2.1/24' is not an IPv4 network; write it as ADDRESS/PREFIX with the "
        "host bits zero, e.g. 10.240.2.0/24"]),
    "subnet nonsense": (cluster(vc_wan_subnet="wan"), [
        "cluster: vc_wan_subnet 'wan' is not an IPv4 network; write it as ADDRESS/PREFIX with the host bits zero, "
        "e.g. 198.18.0.0/24"]),
    "site subnets overlap": (lambda inv: [inv[0][h].update(vc_site_subnet="10.240.0.0/22") for h in inv[1]["site_b"]],
                             ["site site_b: vc_site_subnet 10.240.0.0/22 overlaps site_a's vc_site_subnet "
                              "10.240.1.0/24; give every network its own range",
                              "site site_b: vc_site_subnet 10.240.0.0/22 overlaps vc_mgmt_subnet 10.240.0.0/24; "
                              "give every network its own range"]),
    "overlay overlaps WAN": (both(cluster(vc_wan_subnet="10.241.0.0/16"), host("a-gw", vc_wan_ip="10.241.1.1"),
                                  host("b-gw", vc_wan_ip="10.241.1.2")), [
        "cluster: vc_wan_subnet 10.241.0.0/16 overlaps vc_overlay_subnet 10.241.0.0/24; give every network its own "
        "range"]),
    "site subnet differs per host": (host("a-h2", vc_site_subnet="10.240.9.0/24"), [
        "host a-h2: vc_site_subnet '10.240.9.0/24' differs from a-gw's '10.240.1.0/24'; set it once, in "
        "group_vars/site_a, not per host"]),
    "setting differs per host": (host("b-h2", vc_vnodes=[]), [
        "host b-h2: vc_vnodes differs from a-gw's; set it once, in group_vars/all, not per host"]),
    # Overlay MTU
    "MTU too small": (cluster(vc_overlay_mtu=100), [
        "cluster: vc_overlay_mtu 100 is not an integer from 576 to 9000; set it to the overlay's MTU, e.g. 1500"]),
    "MTU as a string": (cluster(vc_overlay_mtu="1500"), [
        "cluster: vc_overlay_mtu '1500' is not an integer from 576 to 9000; set it to the overlay's MTU, e.g. "
        "1500"]),
    # Vnodes
    "vnode on unknown host": (vnode(1, host="a-h9"), [
        "vnode vn-a2: host 'a-h9' is not a physical host of the inventory; use one of a-h1, a-h2, b-h1, b-h2"]),
    "duplicate vnode name": (vnode(1, name="vn-a1"), [
        "vnode vn-a1: declared twice in vc_vnodes (entries 0 and 1); give every vnode its own name"]),
    "vnode named like a host": (vnode(1, name="a-h1"), ["vnode a-h1: the name is also a physical host's; rename the "
                                                        "vnode"]),
    "invalid vnode name": (vnode(1, name="VN_2"), [
        "vc_vnodes[1]: name 'VN_2' is not a valid name; set it to lower-case letters, digits and '-', starting with "
        "a letter and not ending with '-', at most 31 characters, e.g. demo"]),
    "duplicate vnode address": (vnode(1, ip="10.241.0.11"), [
        "vnode vn-a2: ip 10.241.0.11 is already used by vnode vn-a1 (ip); pick a free address in 10.241.0.0/24"]),
    "vnode outside the overlay": (vnode(1, ip="10.242.0.12"), [
        "vnode vn-a2: ip 10.242.0.12 is not in vc_overlay_subnet 10.241.0.0/24; pick a free address in "
        "10.241.0.0/24"]),
    "vnode on the network address": (vnode(1, ip="10.241.0.0"), [
        "vnode vn-a2: ip 10.241.0.0 is the network address of vc_overlay_subnet 10.241.0.0/24; pick a free address "
        "in 10.241.0.0/24"]),
    "vnode key typo": (vnode(1, hots="a-h2"), ["vnode vn-a2: unknown key 'hots'; a vnode has only name, host, ip, backend, memory_mb, vcpus"]),
    "vnode backend unknown": (vnode(1, backend="xen"), [
        "vnode vn-a2: backend 'xen' is not one of lxc, kvm; use lxc (a system container) or kvm (a virtual machine), "
        "on the vnode or in vc_vnode_backend"]),
    "default backend unknown": (cluster(vc_vnode_backend="qemu"), [
        "cluster: vc_vnode_backend 'qemu' is not one of lxc, kvm; use lxc (system containers, the default) or kvm "
        "(virtual machines)"]),
    "memory on a container": (vnode(1, memory_mb=1024), [
        "vnode vn-a2: memory_mb is set but the vnode is an lxc container (only kvm vnodes have it); remove it or set "
        "backend: kvm"]),
    "vm memory too small": (vnode(1, backend="kvm", memory_mb=64), [
        "vnode vn-a2: memory_mb 64 is not an integer from 128 to 1048576; e.g. memory_mb: 512"]),
    "vm vcpus as string": (vnode(1, backend="kvm", vcpus="2"), [
        "vnode vn-a2: vcpus '2' is not an integer from 1 to 256; e.g. vcpus: 1"]),
    "vm as head vnode": (vnode(0, backend="kvm"), [
        "vnode vn-a1: is the head vnode (the first of vc_vnodes: jobs start there, in an LXC container) and a kvm "
        "vnode; put an lxc vnode first in vc_vnodes"]),
    "vm default backend makes the head a vm": (cluster(vc_vnode_backend="kvm"), [
        "vnode vn-a1: is the head vnode (the first of vc_vnodes: jobs start there, in an LXC container) and a kvm "
        "vnode; put an lxc vnode first in vc_vnodes"]),
    "vnode not a mapping": (cluster(vc_vnodes=["vn-a1"]), [
        "vc_vnodes[0]: is not a mapping; write it as {name: ..., host: ..., ip: ...}"]),
    "vnodes not a list": (cluster(vc_vnodes="vn-a1"), [
        "cluster: vc_vnodes 'vn-a1' is not a list; set it to a list of {name, host, ip} (or [] for none)"]),
    # WAN links
    "unknown site": (link(sites=["site_a", "site_z"]), [
        WAN_AB, "vc_wan_links[0]: unknown site 'site_z'; use one of site_a, site_b"]),
    "link to itself": (link(sites=["site_a", "site_a"]), [
        WAN_AB, "vc_wan_links[0]: sites ['site_a', 'site_a'] is not two different sites; write e.g. sites: "
                "[site_a, site_b]"]),
    "missing link": (cluster(vc_wan_links=[]), [WAN_AB]),
    "second link": (lambda inv: [h["vc_wan_links"].append(dict(h["vc_wan_links"][0])) for h in inv[0].values()], [
        "vc_wan_links[1]: a second link between site_a and site_b (the first is vc_wan_links[0]); keep one"]),
    "latency not a number": (link(latency_ms="fast"), [
        "vc_wan_links[0]: latency_ms 'fast' is not a number >= 0; write the one-way latency in milliseconds, e.g. "
        "latency_ms: 20"]),
    "negative jitter": (link(jitter_ms=-1), [
        "vc_wan_links[0]: jitter_ms -1 is not a number >= 0; write the jitter in milliseconds, e.g. jitter_ms: 0"]),
    "bandwidth zero": (link(bandwidth_mbit=0), [
        "vc_wan_links[0]: bandwidth_mbit 0 is not a number > 0; write the bandwidth in Mbit/s, e.g. "
        "bandwidth_mbit: 1000"]),
    "bandwidth boolean": (link(bandwidth_mbit=True), [
        "vc_wan_links[0]: bandwidth_mbit True is not a number > 0; write the bandwidth in Mbit/s, e.g. "
        "bandwidth_mbit: 1000"]),
    "link key typo": (link(latency=5), [
        "vc_wan_links[0]: unknown key 'latency'; a WAN link has only sites, latency_ms, jitter_ms, bandwidth_mbit"]),
    "links not a list": (cluster(vc_wan_links={"sites": ["site_a", "site_b"]}), [
        "cluster: vc_wan_links {'sites': ['site_a', 'site_b']} is not a list; set it to a list of {sites, "
        "latency_ms, jitter_ms, bandwidth_mbit}", WAN_AB]),
    # Fault tolerance
    "k not below hosts": (cluster(vc_ft_replicas=6), [
        "cluster: vc_ft_replicas 6 is not smaller than the number of hosts that hold checkpoints (4, gateways hold "
        "none); use at most 3"]),
    "checkpoint cost zero": (cluster(vc_ft_checkpoint_cost_s=0), [
        "cluster: vc_ft_checkpoint_cost_s 0 is not a number > 0; set it to a positive number, e.g. 2.5 (seconds), "
        "or remove it"]),
    "mtbf not a number": (cluster(vc_ft_host_mtbf_h="often"), [
        "cluster: vc_ft_host_mtbf_h 'often' is not a number > 0; set it to a positive number, e.g. 8760 (hours), "
        "or remove it"]),
    "k negative": (cluster(vc_ft_replicas=-1), [
        "cluster: vc_ft_replicas -1 is not an integer >= 0; set the number of peer copies of each checkpoint, e.g. "
        "1"]),
    "unknown placement": (cluster(vc_ft_placement="nearest"), [
        "cluster: vc_ft_placement 'nearest' is not one of random, spread; use spread (prefer hosts at other sites) "
        "or random"]),
    "periodic not a boolean": (cluster(vc_ft_periodic="sometimes"), [
        "cluster: vc_ft_periodic 'sometimes' is not true or false; set it to true (deploy.yml starts the periodic "
        "checkpoint service) or false"]),
    "interval too short": (cluster(vc_ft_interval_s=5), [
        "cluster: vc_ft_interval_s 5 is not a number of seconds >= 10; set it to e.g. 600, or remove it to use the "
        "planned (Daly) interval"]),
    "lease too short": (cluster(vc_ft_lease_s=0.5), [
        "cluster: vc_ft_lease_s 0.5 is not a number of seconds from 2 to 600; set it to e.g. 5, or remove it "
        "(default 5)"]),
    "retention zero": (cluster(vc_ft_retention=0), [
        "cluster: vc_ft_retention 0 is not an integer >= 1; keep at least the last checkpoint, e.g. 3"]),
    "vnode on a gateway": (vnode(2, host="b-gw"), [
        "vnode vn-b1: host b-gw is its site's gateway, which runs no vnodes (nor checkpoints); use a compute host: "
        "a-h1, a-h2, b-h1, b-h2"]),
    "store is /": (host("a-h1", vc_store_dir="/"), [
        "host a-h1: vc_store_dir / is the root directory; the project deletes what it stores there: give the host "
        "a directory of its own, e.g. /var/lib/vcluster/store"]),
    "store is a system directory": (host("b-h2", vc_store_dir="/var/lib"), [
        "host b-h2: vc_store_dir /var/lib is the system directory /var/lib; the project deletes what it stores "
        "there: give the host a directory of its own, e.g. /var/lib/vcluster/store"]),
    "store a parent of system directories": (host("b-h2", vc_store_dir="/usr/../"), [
        "host b-h2: vc_store_dir /usr/../ is not a plain absolute path (no '.', '..' or '//'); the project deletes "
        "what it stores there: give the host a directory of its own, e.g. /var/lib/vcluster/store"]),
    "two emulated hosts share a store": (host("b-h1", vc_store_dir="/var/lib/vcluster/testbed/hosts/a-h2/disk"), [
        "host b-h1: vc_store_dir /var/lib/vcluster/testbed/hosts/a-h2/disk is a-h2's vc_store_dir "
        "/var/lib/vcluster/testbed/hosts/a-h2/disk; emulated hosts share one file system, so each needs its own "
        "directories (they would delete each other's vnodes and checkpoints)"]),
    "host run dir is /run": (host("a-gw", vc_host_run="/run"), [
        "host a-gw: vc_host_run '/run' is the system directory /run; give the project a directory of its own, e.g. "
        "/run/vcluster"]),
    "bad interface name": (host("a-gw", vc_wan_interface="wan interface 0"), [
        "host a-gw: vc_wan_interface 'wan interface 0' is not an interface name (at most 15 letters, digits, '_', "
        "'.', '-'); give the name of an interface of the host, or remove it for the default"]),
    "misspelt variable": (host("a-h1", vc_gateway_vnp="wireguard"), [
        "inventory: vc_gateway_vnp is not a variable of vcluster; did you mean vc_gateway_vpn?"]),
    "unknown variable": (cluster(vc_colour="blue"), [
        "inventory: vc_colour is not a variable of vcluster; see docs/inventory.md for the variables"]),
    "port base too high": (cluster(vc_vpn_port_base=65536), [
        "cluster: vc_vpn_port_base 65536 is not a UDP port from 1 to 65535 (one port per pair of sites: 1); set it "
        "to e.g. 1194, or remove it (default 1194)"]),
    "port base a string": (cluster(vc_vpn_port_base="1194"), [
        "cluster: vc_vpn_port_base '1194' is not a UDP port from 1 to 65535 (one port per pair of sites: 1); set it "
        "to e.g. 1194, or remove it (default 1194)"]),
    "max chain zero": (cluster(vc_ft_max_chain=0), [
        "cluster: vc_ft_max_chain 0 is not an integer from 1 to 100; set it to e.g. 3, or remove it (default "
        "vc_ft_retention)"]),
    "controller dir is /var": (cluster(vc_ft_controller_dir="/var"), [
        "cluster: vc_ft_controller_dir '/var' is the system directory /var; give the controller a directory of the "
        "project's own, e.g. /var/lib/vcluster/ft"]),
    "lock dir relative": (cluster(vc_ft_lock_dir="lock"), [
        "cluster: vc_ft_lock_dir 'lock' is not an absolute path; give the controller a directory of the project's "
        "own, e.g. /run/lock"]),
    "mpi packages not a list": (cluster(vc_mpi_packages="openmpi-bin"), [
        "cluster: vc_mpi_packages 'openmpi-bin' is not a list of Debian package names; list the packages of the "
        "vnodes' MPI stack, e.g. [openmpi-bin, python3-mpi4py, python3-numpy]"]),
    "mpi package with a shell character": (cluster(vc_mpi_packages=["openmpi-bin;rm"]), [
        "cluster: vc_mpi_packages ['openmpi-bin;rm'] is not a list of Debian package names; list the packages of the "
        "vnodes' MPI stack, e.g. [openmpi-bin, python3-mpi4py, python3-numpy]"]),
}


def test_a_site_named_like_a_testbed_bridge_is_refused(inv):
    hostvars, groups = inv
    groups["mgmt"] = groups.pop("site_b")
    for host in groups["mgmt"]:
        hostvars[host]["vc_wan_links"] = [{"sites": ["site_a", "mgmt"], "latency_ms": 0, "bandwidth_mbit": 1000}]
    for host in groups["site_a"]:
        hostvars[host]["vc_wan_links"] = [{"sites": ["site_a", "mgmt"], "latency_ms": 0, "bandwidth_mbit": 1000}]
    assert check(inv, ["mgmt", "site_a"]) == [
        "testbed: the management bridge and site mgmt's LAN bridge would both be the link of the fabric namespace "
        "br-mgmt; rename the site or host"]


def test_a_host_named_like_the_fabric_namespace_is_refused(inv):
    hostvars, groups = inv
    hostvars["demo-fabric"] = hostvars.pop("b-h2")
    for name in ("all", "sites", "emulated", "site_b"):
        groups[name] = sorted("demo-fabric" if h == "b-h2" else h for h in groups[name])
    for h in hostvars.values():
        h["vc_vnodes"][3]["host"] = "demo-fabric"
    assert check(inv) == ["testbed: the fabric namespace and host demo-fabric's namespace would both be the network "
                          "namespace vcl-demo-fabric; rename the site or host"]


def test_every_documented_variable_is_known_to_the_validator_and_the_reverse():
    docs = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "inventory.md").read_text()
    documented = set()
    for line in docs.splitlines():
        if line.startswith("| `vc_"):
            documented.update(re.findall(r"`(vc_[a-z0-9_]+)`", line.split("|")[1]))
    assert documented == set(inventory.KNOWN_VARIABLES)


def test_a_runtime_fact_is_not_an_unknown_variable(inv):
    set_all(inv, "vc_model", {"cluster": "demo"})
    set_all(inv, "vc_placement", {})
    assert check(inv) == []


@pytest.mark.parametrize("mutate, expected", RULES.values(), ids=RULES.keys())
def test_rule(inv, mutate, expected):
    mutate(inv)
    assert check(inv, sorted(g for g in inv[1] if g.startswith("site") and g != "sites")) == expected


# Values YAML reads but the project cannot use: each class is refused with one line naming the value and the fix.
NAME_FIX = "set it to lower-case letters, digits and '-', starting with a letter and not ending with '-', at most 31 " \
           "characters, e.g. demo"
VALUE_RULES = {
    # .inf and .nan are floats: not numbers for any setting, and .nan (never equal to itself) is not a mismatch
    "latency infinite": (link(latency_ms=float("inf")), [
        "vc_wan_links[0]: latency_ms .inf is not a number >= 0; write the one-way latency in milliseconds, e.g. "
        "latency_ms: 20"]),
    "bandwidth not a number": (link(bandwidth_mbit=float("nan")), [
        "vc_wan_links[0]: bandwidth_mbit .nan is not a number > 0; write the bandwidth in Mbit/s, e.g. "
        "bandwidth_mbit: 1000"]),
    "interval infinite": (cluster(vc_ft_interval_s=float("inf")), [
        "cluster: vc_ft_interval_s .inf is not a number of seconds >= 10; set it to e.g. 600, or remove it to use "
        "the planned (Daly) interval"]),
    "checkpoint cost minus infinity": (cluster(vc_ft_checkpoint_cost_s=float("-inf")), [
        "cluster: vc_ft_checkpoint_cost_s -.inf is not a number > 0; set it to a positive number, e.g. 2.5 "
        "(seconds), or remove it"]),
    "mtbf infinite": (cluster(vc_ft_host_mtbf_h=float("inf")), [
        "cluster: vc_ft_host_mtbf_h .inf is not a number > 0; set it to a positive number, e.g. 8760 (hours), or "
        "remove it"]),
    "replicas not a number": (cluster(vc_ft_replicas=float("nan")), [
        "cluster: vc_ft_replicas .nan is not an integer >= 0; set the number of peer copies of each checkpoint, "
        "e.g. 1"]),
    "replicas a fraction": (cluster(vc_ft_replicas=1.5), [
        "cluster: vc_ft_replicas 1.5 is not an integer >= 0; set the number of peer copies of each checkpoint, "
        "e.g. 1"]),
    "retention a boolean": (cluster(vc_ft_retention=True), [
        "cluster: vc_ft_retention True is not an integer >= 1; keep at least the last checkpoint, e.g. 3"]),
    # networks need a prefix (a bare address would be a /32)
    "overlay without prefix": (cluster(vc_overlay_subnet="10.241.0.0"), [
        "cluster: vc_overlay_subnet '10.241.0.0' has no prefix length (it would be a single address); write it as "
        "ADDRESS/PREFIX, e.g. 10.241.0.0/24"]),
    "site subnet without prefix": (lambda inv: [inv[0][h].update(vc_site_subnet="10.240.2.1")
                                               for h in inv[1]["site_b"]],
                                   ["site site_b: vc_site_subnet '10.240.2.1' has no prefix length (it would be a "
                                    "single address); write it as ADDRESS/PREFIX, e.g. 10.240.2.0/24"]),
    "IPv6 subnet": (cluster(vc_wan_subnet="2001:db8::/64"), [
        "cluster: vc_wan_subnet '2001:db8::/64' is not an IPv4 network; write it as ADDRESS/PREFIX with the host "
        "bits zero, e.g. 198.18.0.0/24"]),
    # names: no '-' at the end (a host name), no newline at the end (a YAML block scalar)
    "vnode name ends with '-'": (vnode(1, name="vn-a-"), [
        "vc_vnodes[1]: name 'vn-a-' is not a valid name; " + NAME_FIX]),
    "vnode name ends with a newline": (vnode(1, name="vn-a2\n"), [
        "vc_vnodes[1]: name 'vn-a2\\n' is not a valid name; " + NAME_FIX]),
    "cluster name ends with a newline": (cluster(vc_cluster_name="demo\n"), [
        "cluster: vc_cluster_name 'demo\\n' is not a valid name; " + NAME_FIX]),
    "emulated host name ends with '-'": (rename_a_h2("a-h2-"), [
        "host a-h2-: the name of an emulated host must be lower-case letters, digits and '-', starting with a letter "
        "and not ending with '-', at most 12 characters (it names network links and is its host name); rename it"]),
    "interface name '..'": (host("a-gw", vc_wan_interface=".."), [
        "host a-gw: vc_wan_interface '..' is not an interface name (at most 15 letters, digits, '_', '.', '-'); "
        "give the name of an interface of the host, or remove it for the default"]),
    # paths: white space at an end or a control character; '..' reported once per host, not as an overlap too
    "store with a trailing space": (host("b-h2", vc_store_dir="/var/lib/vcluster/testbed/hosts/b-h2/disk "), [
        "host b-h2: vc_store_dir '/var/lib/vcluster/testbed/hosts/b-h2/disk ' has white space at its start or end, "
        "or a control character; the project deletes what it stores there: give the host a directory of its own, "
        "e.g. /var/lib/vcluster/store"]),
    "run dir with a newline": (host("a-h1", vc_host_run="/srv/vcluster/run\n"), [
        "host a-h1: vc_host_run '/srv/vcluster/run\\n' has white space at its start or end, or a control character; "
        "give the project a directory of its own, e.g. /run/vcluster"]),
    "lock dir with a leading space": (cluster(vc_ft_lock_dir=" /run/lock"), [
        "cluster: vc_ft_lock_dir ' /run/lock' is not an absolute path; give the controller a directory of the "
        "project's own, e.g. /run/lock"]),
    "'..' in every emulated host's etc": (lambda inv: [hv.update(vc_host_etc="/srv/vc/%s/../etc" % name)
                                                      for name, hv in inv[0].items()],
                                          ["host %s: vc_host_etc '/srv/vc/%s/../etc' is not a plain absolute path (no "
                                           "'.', '..' or '//'); give the project a directory of its own, e.g. "
                                           "/etc/vcluster" % (h, h) for h in sorted(HOSTS)]),
    # interfaces: an emulated host has the testbed's; a gateway's three are different
    "emulated host with another interface": (host("a-gw", vc_lan_interface="eth1"), [
        "host a-gw: vc_lan_interface 'eth1' is not an interface of an emulated host (the testbed makes lan0 for "
        "it); remove vc_lan_interface"]),
    "emulated host with the testbed's interface": (host("a-gw", vc_lan_interface="lan0", vc_overlay_uplink="ovl0"),
                                                   []),
    "real gateway with one interface for WAN and LAN": (
        both(group("emulated", []), host("b-gw", vc_wan_interface="eth0", vc_lan_interface="eth0")), [
            "host b-gw: vc_lan_interface 'eth0' is also its vc_wan_interface; a gateway's WAN, LAN and overlay uplink "
            "are three different interfaces: give each its own"]),
    "real gateway with the LAN as overlay uplink": (
        both(group("emulated", []), host("a-gw", vc_overlay_uplink="lan0")), [
            "host a-gw: vc_overlay_uplink 'lan0' is also its vc_lan_interface; a gateway's WAN, LAN and overlay uplink "
            "are three different interfaces: give each its own"]),
    "real compute host may use any uplink": (both(group("emulated", []), host("a-h1", vc_overlay_uplink="lan0")), []),
    "replication cap zero": (host("a-h1", vc_ft_replication_mbit=0), [
        "host a-h1: vc_ft_replication_mbit 0 is not a number of Mbit/s from 0.1 to 100000; set it to e.g. 200, or "
        "remove it for no cap"]),
    "replication cap a string": (host("a-h1", vc_ft_replication_mbit="fast"), [
        "host a-h1: vc_ft_replication_mbit 'fast' is not a number of Mbit/s from 0.1 to 100000; set it to e.g. 200, "
        "or remove it for no cap"]),
    "replication cap given": (host("a-h1", vc_ft_replication_mbit=250), []),
    "host key relative": (host("b-h1", vc_ssh_host_key="ssh/key.pub"), [
        "host b-h1: vc_ssh_host_key 'ssh/key.pub' is not an absolute file path (no '..', no spaces); e.g. "
        "/etc/ssh/ssh_host_ed25519_key.pub, or remove it for the default"]),
    "authorized keys with '..'": (
        host("b-h1", vc_ssh_authorized_keys="/srv/b/../.ssh/authorized_keys"), [
            "host b-h1: vc_ssh_authorized_keys '/srv/b/../.ssh/authorized_keys' is not an absolute file path (no "
            "'..', no spaces); e.g. /root/.ssh/authorized_keys, or remove it for the default"]),
    "emulated host with the machine's authorized keys": (
        host("a-h2", vc_ssh_authorized_keys="/root/.ssh/authorized_keys"), [
            "host a-h2: vc_ssh_authorized_keys /root/.ssh/authorized_keys is this machine's own file, which emulated "
            "hosts share; give the testbed's file of the host (inventories/local/group_vars/emulated/testbed.yml)"]),
    "emulated host without its host key": (lambda inv: inv[0]["a-h2"].pop("vc_ssh_host_key"), [
        "host a-h2: vc_ssh_host_key is not set; emulated hosts share this machine's "
        "/etc/ssh/ssh_host_ed25519_key.pub: set it to the testbed's file of the host "
        "(inventories/local/group_vars/emulated/testbed.yml)"]),
    "real host with the default ssh files": (both(group("emulated", []), lambda inv: [
        hv.pop(v) for hv in inv[0].values() for v in ("vc_ssh_host_key", "vc_ssh_authorized_keys")]), []),
}


@pytest.mark.parametrize("mutate, expected", VALUE_RULES.values(), ids=VALUE_RULES.keys())
def test_value_rule(inv, mutate, expected):
    mutate(inv)
    assert check(inv) == expected


def test_a_value_that_cannot_be_rendered_is_one_line():
    """plugins/action/validate.py: a cluster-wide value that fails on every host is one line naming the hosts, and
    hides the messages that only follow from it (not set, differs per host)."""
    # pylint: disable-next=import-outside-toplevel
    from ansible_collections.vcluster.cluster.plugins.action import validate as action
    failing = [(h, "vc_vnodes", "'ip_b2' is undefined") for h in ("a-h1", "a-gw")] + [
        ("a-h1", "vc_store_dir", "'disk' is undefined")]
    assert sorted(action.not_rendered(failing)) == [
        "host a-h1: vc_store_dir cannot be rendered ('disk' is undefined); define the variables it uses",
        "hosts a-gw, a-h1: vc_vnodes cannot be rendered ('ip_b2' is undefined); define the variables it uses"]
    assert action.hides("cluster: vc_vnodes is not set; set it to a list", failing)
    assert action.hides("host a-gw: vc_vnodes differs from a-h1's; set it once", failing)
    assert action.hides("host a-h1: vc_store_dir is not set; set it", failing)
    assert not action.hides("host b-h1: vc_store_dir /x is a-h1's vc_store_dir /x; emulated hosts", failing)
    assert not action.hides("cluster: vc_vnodes_x is not set", failing)
