"""Unit tests of the inventory model and its validation (plugins/module_utils/inventory.py)."""

import copy

import pytest

from ansible_collections.vcluster.cluster.plugins.module_utils import inventory as inv

CLUSTER = {
    "vc_cluster_name": "demo",
    "vc_overlay_subnet": "10.241.0.0/24",
    "vc_overlay_mtu": 1500,
    "vc_wan_subnet": "198.18.0.0/24",
    "vc_mgmt_subnet": "10.240.0.0/24",
    "vc_wan_links": [{"sites": ["site_a", "site_b"], "latency_ms": 0, "jitter_ms": 0, "bandwidth_mbit": 1000}],
    "vc_vnodes": [{"name": "vn-a1", "host": "a-h1", "ip": "10.241.0.11"},
                  {"name": "vn-b1", "host": "b-h1", "ip": "10.241.0.21"}],
    "vc_ft_replicas": 1,
    "vc_ft_placement": "spread",
    "vc_ft_retention": 3,
}
HOSTS = {  # name: (site, lan ip, mgmt ip, wan ip)
    "a-gw": ("site_a", "10.240.1.1", "10.240.0.11", "198.18.0.1"),
    "a-h1": ("site_a", "10.240.1.11", "10.240.0.12", None),
    "b-gw": ("site_b", "10.240.2.1", "10.240.0.21", "198.18.0.2"),
    "b-h1": ("site_b", "10.240.2.11", "10.240.0.22", None),
}
SUBNETS = {"site_a": "10.240.1.0/24", "site_b": "10.240.2.0/24"}


def inventory():
    """(hostvars, groups, site names) of a valid two-site emulated cluster."""
    hostvars = {}
    for name, (site, lan, mgmt, wan) in HOSTS.items():
        hostvars[name] = dict(CLUSTER, vc_site_subnet=SUBNETS[site], vc_lan_ip=lan, ansible_host=mgmt,
                              vc_wan_ip=wan, vc_store_dir="/var/lib/vcluster/testbed/hosts/%s/disk" % name)
    groups = {
        "all": sorted(HOSTS), "sites": sorted(HOSTS), "emulated": sorted(HOSTS),
        "site_a": ["a-gw", "a-h1"], "site_b": ["b-gw", "b-h1"], "gateways": ["a-gw", "b-gw"],
    }
    return hostvars, groups, ["site_a", "site_b"]


def errors_after(change):
    hostvars, groups, sites = inventory()
    change(hostvars, groups, sites)
    return inv.validate(inv.build_model(hostvars, groups, sites))


def set_all(hostvars, name, value):
    for host_vars in hostvars.values():
        host_vars[name] = value


def test_valid_inventory_has_no_errors_and_a_complete_model():
    model = inv.build_model(*inventory())
    assert inv.validate(model) == []
    assert model["cluster"] == "demo"
    assert model["sites"]["site_a"] == {"subnet": "10.240.1.0/24", "hosts": ["a-gw", "a-h1"],
                                        "gateways": ["a-gw"], "gateway": "a-gw"}
    assert model["hosts"]["a-h1"] == {"site": "site_a", "sites": ["site_a"], "gateway": False, "emulated": True,
                                      "lan_ip": "10.240.1.11", "wan_ip": None, "mgmt_ip": "10.240.0.12",
                                      "store_dir": "/var/lib/vcluster/testbed/hosts/a-h1/disk"}
    assert model["ft"] == {"replicas": 1, "placement": "spread", "retention": 3}


def test_real_hosts_need_no_management_subnet():
    def real(hostvars, groups, _sites):
        groups["emulated"] = []
        set_all(hostvars, "vc_mgmt_subnet", None)
    assert errors_after(real) == []


@pytest.mark.parametrize("hostvars", [{}, None, {"x": None}, {"a-gw": {"vc_vnodes": "nonsense"}}])
def test_build_model_never_raises_on_garbage(hostvars):
    model = inv.build_model(hostvars, {"site_a": ["a-gw"], "gateways": ["a-gw", "ghost"]}, ["site_a"])
    assert inv.validate(model)  # reported, not raised


def test_no_sites():
    errors = inv.validate(inv.build_model({}, {}, []))
    assert "inventory has no sites: declare each site as a child group of the group 'sites'" in errors


@pytest.mark.parametrize("change, expected", [
    (lambda hv, g, s: hv["a-h1"].update(vc_lan_ip="10.240.2.99"),
     "host a-h1: vc_lan_ip 10.240.2.99 is not in site_a's vc_site_subnet 10.240.1.0/24; pick a free address in "
     "10.240.1.0/24"),
    (lambda hv, g, s: hv["a-h1"].update(vc_lan_ip="10.240.1.0"),
     "host a-h1: vc_lan_ip 10.240.1.0 is the network or broadcast address of 10.240.1.0/24; pick a host address"),
    (lambda hv, g, s: hv["b-h1"].update(vc_lan_ip="10.240.1.11"),
     "host b-h1: vc_lan_ip 10.240.1.11 is already used by host a-h1 (vc_lan_ip); every address must be unique"),
    (lambda hv, g, s: hv["b-gw"].update(vc_wan_ip=None),
     "host b-gw: vc_wan_ip is not set; give it an address in vc_wan_subnet"),
    (lambda hv, g, s: hv["a-h1"].update(vc_store_dir="relative/dir"),
     "host a-h1: vc_store_dir 'relative/dir' is not an absolute path; set it to the directory of the host's "
     "checkpoint store"),
    (lambda hv, g, s: g.update(gateways=["a-gw"]),
     "site site_b: has no gateway; add exactly one of its hosts to the group 'gateways'"),
    (lambda hv, g, s: g.update(gateways=["a-gw", "b-gw", "ghost"]),
     "host ghost: it is in 'gateways' but in no site; add it to one child group of 'sites'"),
    (lambda hv, g, s: g["site_b"].append("a-h1"),
     "host a-h1: it is in 2 sites (site_a, site_b); a host belongs to exactly one site"),
    (lambda hv, g, s: set_all(hv, "vc_wan_subnet", "10.240.1.0/25"),
     "site site_a vc_site_subnet 10.240.1.0/24 overlaps cluster vc_wan_subnet 10.240.1.0/25; give every network "
     "its own range"),
    (lambda hv, g, s: set_all(hv, "vc_cluster_name", "Demo!"),
     "vc_cluster_name 'Demo!' is not a valid name; use lower-case letters, digits and '-' (at most 31 characters, "
     "starting with a letter)"),
    (lambda hv, g, s: set_all(hv, "vc_cluster_name", "a-very-long-name"),
     "vc_cluster_name 'a-very-long-name' is too long for an emulated cluster (it names a link); use at most 11 "
     "characters"),
    (lambda hv, g, s: set_all(hv, "vc_overlay_mtu", "1500"),
     "cluster: vc_overlay_mtu '1500' is not an integer between 576 and 9000; use e.g. 1500"),
    (lambda hv, g, s: set_all(hv, "vc_vnodes", "vn-a1"),
     "cluster: vc_vnodes must be a list of {name, host, ip}"),
    (lambda hv, g, s: set_all(hv, "vc_vnodes", [{"name": "VN", "host": "a-h1", "ip": "10.241.0.5"}]),
     "vnode VN: name 'VN' is not a valid host name; use lower-case letters, digits and '-'"),
    (lambda hv, g, s: set_all(hv, "vc_wan_links", [{"sites": ["site_a", "site_b"], "latency_ms": True,
                                                    "bandwidth_mbit": 10}]),
     "vc_wan_links[0]: latency_ms True is not a number >= 0; write a plain number, e.g. latency_ms: 0.5"),
    (lambda hv, g, s: set_all(hv, "vc_wan_links", [{"sites": ["site_a", "site_b"], "latency_ms": 1,
                                                    "jitter_ms": -1, "bandwidth_mbit": 10}]),
     "vc_wan_links[0]: jitter_ms -1 is not a number >= 0; write a plain number, e.g. jitter_ms: 0.5"),
    (lambda hv, g, s: set_all(hv, "vc_wan_links", [{"sites": ["site_a", "site_a"], "latency_ms": 1,
                                                    "bandwidth_mbit": 10}]),
     "vc_wan_links[0]: sites must name two different sites, e.g. [site_a, site_b]"),
    (lambda hv, g, s: set_all(hv, "vc_wan_links", CLUSTER["vc_wan_links"] * 2),
     "vc_wan_links[1]: a second link between site_a and site_b (first: vc_wan_links[0]); keep one"),
    (lambda hv, g, s: set_all(hv, "vc_ft_replicas", 4),
     "cluster: vc_ft_replicas 4 must be smaller than the number of physical hosts (4); use at most 3"),
    (lambda hv, g, s: set_all(hv, "vc_ft_replicas", "one"),
     "cluster: vc_ft_replicas 'one' is not an integer >= 0; set the number of peer copies, e.g. 1"),
])
def test_each_rule_names_the_problem_and_the_fix(change, expected):
    assert expected in errors_after(change)


def test_every_problem_is_reported_not_just_the_first():
    def many(hostvars, _groups, _sites):
        hostvars["a-h1"]["vc_lan_ip"] = "10.240.2.99"
        set_all(hostvars, "vc_ft_placement", "nearest")
        set_all(hostvars, "vc_ft_retention", 0)
    errors = errors_after(many)
    assert len(errors) == 3


def test_model_is_a_plain_copy():
    hostvars, groups, sites = inventory()
    model = inv.build_model(hostvars, groups, sites)
    before = copy.deepcopy(model)
    inv.validate(model)
    assert model == before
