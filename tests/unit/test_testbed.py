"""Unit tests of the testbed planner (plugins/module_utils/testbed.py)."""

import copy

import pytest

from ansible_collections.vcluster.cluster.plugins.module_utils import testbed as tb

MODEL = {
    "cluster": "demo",
    "mgmt_subnet": "10.240.0.0/24",
    "wan_subnet": "198.18.0.0/24",
    "sites": {
        "site_a": {"subnet": "10.240.1.0/24", "gateway": "a-gw", "hosts": ["a-gw", "a-h1"]},
        "site_b": {"subnet": "10.240.2.0/24", "gateway": "b-gw", "hosts": ["b-gw"]},
    },
    "hosts": {
        "a-gw": {"site": "site_a", "emulated": True, "gateway": True, "mgmt_ip": "10.240.0.11",
                 "lan_ip": "10.240.1.1", "wan_ip": "198.18.0.1"},
        "a-h1": {"site": "site_a", "emulated": True, "gateway": False, "mgmt_ip": "10.240.0.12",
                 "lan_ip": "10.240.1.11"},
        "b-gw": {"site": "site_b", "emulated": True, "gateway": True, "mgmt_ip": "10.240.0.21",
                 "lan_ip": "10.240.2.1", "wan_ip": "198.18.0.2"},
        "real": {"site": "site_b", "emulated": False, "gateway": False, "lan_ip": "10.240.2.9"},
    },
}


@pytest.fixture(name="spec")
def fixture_spec():
    return tb.build_spec(MODEL, "/state")


def converged(spec):
    """The state ``read_state`` would report once ``spec`` is built."""
    def link(up=True, master=None, addresses=()):
        return {"up": up, "master": master, "addresses": sorted(addresses)}

    fabric = {"lo": link()}
    fabric.update({b: link() for b in spec["bridges"]})
    state = {"netns": {}, "root": {}, "sshd": {}, "hostname": {}}
    root = spec["root_link"]
    state["root"][root["name"]] = link(addresses=[root["address"]])
    fabric[root["peer"]] = link(master=root["bridge"])
    for host in spec["hosts"]:
        links = {"lo": link()}
        for lk in host["links"]:
            links[lk["name"]] = link(addresses=[lk["address"]] if lk["address"] else [])
            fabric[lk["peer"]] = link(master=lk["bridge"])
        via = host["routes"][0]["via"] if host["routes"] else None
        state["netns"][host["netns"]] = {"links": links, "default_via": via, "forwarding": host["forwarding"]}
        state["sshd"][host["name"]] = True
        state["hostname"][host["name"]] = host["name"]
    state["netns"][spec["fabric"]] = {"links": fabric, "default_via": None, "forwarding": False}
    return state


def test_spec_has_only_emulated_hosts_with_their_links(spec):
    assert [h["name"] for h in spec["hosts"]] == ["a-gw", "a-h1", "b-gw"]
    assert spec["fabric"] == "vcl-demo-fabric"
    assert spec["root_link"] == {"name": "vcl-demo", "peer": "ctl", "bridge": "br-mgmt",
                                 "address": "10.240.0.1/24"}
    gw = spec["hosts"][0]
    assert [(lk["name"], lk["peer"], lk["bridge"], lk["address"]) for lk in gw["links"]] == [
        ("mgmt0", "m-a-gw", "br-mgmt", "10.240.0.11/24"),
        ("lan0", "l-a-gw", "br-site_a", "10.240.1.1/24"),
        ("ovl0", "o-a-gw", "bo-site_a", None),
        ("wan0", "w-a-gw", "br-wan", "198.18.0.1/24"),
    ]
    assert gw["forwarding"] and gw["routes"] == []
    compute = spec["hosts"][1]
    assert compute["routes"] == [{"to": "default", "via": "10.240.1.1"}]
    assert not compute["forwarding"]
    assert spec["bridges"] == ["br-mgmt", "br-wan", "br-site_a", "bo-site_a", "br-site_b", "bo-site_b"]


def test_plan_from_nothing_builds_everything(spec):
    state = {"netns": {}, "root": {}, "sshd": {}, "hostname": {}}
    argvs = [argv for _desc, argv in tb.plan(spec, state)]
    assert argvs[0] == ["ip", "netns", "add", "vcl-demo-fabric"]
    assert ["ip", "netns", "add", "vcl-a-h1"] in argvs
    assert ["ip", "-n", "vcl-a-h1", "link", "add", "mgmt0", "type", "veth", "peer", "name", "m-a-h1",
            "netns", "vcl-demo-fabric"] in argvs
    assert ["ip", "-n", "vcl-a-h1", "route", "replace", "default", "via", "10.240.1.1"] in argvs
    assert ["@sysctl", "vcl-a-gw", "net.ipv4.ip_forward", "1"] in argvs
    assert ["@uts", "/run/vcluster/uts/vcl-b-gw", "b-gw"] in argvs
    assert sum(1 for a in argvs if a[0] == "@sshd") == 3
    # namespaces exist before anything is put into them
    assert argvs.index(["ip", "netns", "add", "vcl-a-h1"]) < argvs.index(
        ["ip", "-n", "vcl-a-h1", "link", "set", "lo", "up"])


def test_plan_on_converged_state_is_empty(spec):
    assert not tb.plan(spec, converged(spec), previous=spec)


def test_plan_repairs_only_what_drifted(spec):
    state = converged(spec)
    state["netns"]["vcl-a-h1"]["links"]["lan0"]["addresses"] = ["10.240.1.99/24"]
    state["netns"]["vcl-demo-fabric"]["links"]["l-b-gw"]["master"] = None
    state["sshd"]["b-gw"] = False
    argvs = [argv for _desc, argv in tb.plan(spec, state, previous=spec)]
    assert argvs == [
        ["ip", "-n", "vcl-a-h1", "addr", "flush", "dev", "lan0"],
        ["ip", "-n", "vcl-a-h1", "addr", "add", "10.240.1.11/24", "dev", "lan0"],
        ["ip", "-n", "vcl-demo-fabric", "link", "set", "l-b-gw", "master", "br-site_b", "up"],
        ["@sshd", "vcl-b-gw", "/run/vcluster/uts/vcl-b-gw", "/state/hosts/b-gw/ssh/sshd_config",
         "/state/hosts/b-gw/ssh/sshd.pid"],
    ]


def test_host_removed_from_inventory_is_removed(spec):
    smaller = copy.deepcopy(MODEL)
    del smaller["hosts"]["a-h1"]
    new = tb.build_spec(smaller, "/state")
    argvs = [argv for _desc, argv in tb.plan(new, converged(spec), previous=spec)]
    assert argvs == [["@kill-netns", "vcl-a-h1"], ["ip", "netns", "del", "vcl-a-h1"]]


def test_other_clusters_namespaces_are_left_alone(spec):
    state = converged(spec)
    state["netns"]["vcl-other"] = {"links": {}, "default_via": None, "forwarding": False}
    assert not tb.plan(spec, state, previous=spec)
    argvs = [argv for _desc, argv in tb.plan_absent([spec, None], state, [])]
    assert ["ip", "netns", "del", "vcl-other"] not in argvs


def test_absent_removes_hosts_then_fabric_then_link(spec):
    state = converged(spec)
    uts = ["/run/vcluster/uts/vcl-a-gw", "/run/vcluster/uts/unrelated"]
    argvs = [argv for _desc, argv in tb.plan_absent([spec, spec], state, uts)]
    assert argvs == [
        ["@kill-netns", "vcl-a-gw"], ["ip", "netns", "del", "vcl-a-gw"],
        ["@kill-netns", "vcl-a-h1"], ["ip", "netns", "del", "vcl-a-h1"],
        ["@kill-netns", "vcl-b-gw"], ["ip", "netns", "del", "vcl-b-gw"],
        ["ip", "netns", "del", "vcl-demo-fabric"],
        ["ip", "link", "del", "vcl-demo"],
        ["@uts-del", "/run/vcluster/uts/vcl-a-gw"],
    ]


def test_absent_on_nothing_does_nothing():
    assert tb.plan_absent([None, None], {"netns": {}, "root": {}}, []) == []


def test_read_state_parses_ip_json():
    outputs = {
        ("ip", "-j", "netns", "list"): [{"name": "vcl-a-h1"}, {"name": "foreign"}],
        ("ip", "-j", "addr", "show"): [{"ifname": "vcl-demo", "flags": ["UP"],
                                        "addr_info": [{"family": "inet", "local": "10.240.0.1", "prefixlen": 24}]}],
        ("ip", "-j", "-n", "vcl-a-h1", "route", "show", "default"): [{"dst": "default", "gateway": "10.240.1.1"}],
        ("ip", "-j", "-n", "vcl-a-h1", "addr", "show"): [
            {"ifname": "lan0", "flags": ["BROADCAST", "UP"], "master": None,
             "addr_info": [{"family": "inet6", "local": "fe80::1", "prefixlen": 64},
                           {"family": "inet", "local": "10.240.1.11", "prefixlen": 24}]}],
    }
    state = tb.read_state(lambda argv: outputs.get(tuple(argv)), lambda ns, path: "0\n")
    assert list(state["netns"]) == ["vcl-a-h1"]
    assert state["netns"]["vcl-a-h1"]["links"]["lan0"] == {"master": None, "up": True,
                                                           "addresses": ["10.240.1.11/24"]}
    assert state["netns"]["vcl-a-h1"]["default_via"] == "10.240.1.1"
    assert state["root"]["vcl-demo"]["addresses"] == ["10.240.0.1/24"]


def test_destroy_removes_only_what_the_testbed_made():
    spec = {"hosts": [{"dir": "/srv/tb/hosts/a-h1"}, {"dir": "/srv/tb/hosts/a-gw"}]}
    record = {"hosts": [{"dir": "/srv/tb/hosts/old-h9"}, {"dir": "/elsewhere/x"}]}  # a foreign path is never taken
    assert tb.owned_paths([spec, record, None], "/srv/tb") == [
        "/srv/tb/controller", "/srv/tb/hosts/a-gw", "/srv/tb/hosts/a-h1", "/srv/tb/hosts/old-h9", "/srv/tb/known_hosts",
        "/srv/tb/testbed.json"]


def test_a_namespace_no_record_names_belongs_to_another_cluster():
    spec = {"fabric": "vcl-demo-fabric", "hosts": [{"name": "a-h1", "netns": "vcl-a-h1"},
                                                   {"name": "a-h2", "netns": "vcl-a-h2"}]}
    existing = {"vcl-a-h1", "vcl-a-h2", "vcl-demo-fabric", "vcl-x"}
    assert tb.foreign_namespaces(spec, spec, existing) == []
    assert tb.foreign_namespaces(spec, None, existing) == ["a-h1", "a-h2", "vcl-demo-fabric"]
    assert tb.foreign_namespaces(spec, dict(spec, hosts=spec["hosts"][:1]), existing) == ["a-h2"]


def test_sshd_listens_on_the_lan_of_compute_hosts_only(spec):
    for host in spec["hosts"]:
        listen = [line.split()[1] for line in tb.sshd_config(host, "/state").splitlines()
                  if line.startswith("ListenAddress")]
        assert listen == [host["mgmt_ip"]] + ([] if host["forwarding"] else [host["lan_ip"]]), host["name"]
    assert any(h["forwarding"] for h in spec["hosts"]) and not all(h["forwarding"] for h in spec["hosts"])


def test_sshd_of_an_emulated_host_does_not_run_the_controllers_shell_start_up_files(spec):
    config = tb.sshd_config(spec["hosts"][0], "/state").splitlines()
    assert "SetEnv SHLVL=1" in config  # bash reads ~/.bashrc for an sshd command only at SHLVL 1
