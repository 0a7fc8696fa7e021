"""Unit tests of the overlay bridge planner (plugins/module_utils/overlay.py)."""

import pytest

from ansible_collections.vcluster.cluster.plugins.module_utils import overlay

SPEC = {"bridge": "vcbr0", "mtu": 1400, "ports": ["ovl0"], "address": "10.241.0.254/24",
        "routes": [{"to": "10.240.2.0/24", "via": "10.241.0.253"}], "mac": "02:aa:bb:cc:dd:ee"}


def link(**kw):
    base = {"master": None, "mtu": 1500, "up": True, "kind": None, "mac": "0a:00:00:00:00:01", "addresses": []}
    base.update(kw)
    return base


def test_from_nothing():
    state = {"links": {"ovl0": link()}, "routes": {}}
    argvs = [argv for _d, argv in overlay.plan(SPEC, state)]
    assert argvs == [
        ["ip", "link", "add", "vcbr0", "mtu", "1400", "type", "bridge"],
        ["ip", "link", "set", "vcbr0", "address", "02:aa:bb:cc:dd:ee"],
        ["ip", "link", "set", "ovl0", "mtu", "1400"],
        ["ip", "link", "set", "ovl0", "master", "vcbr0", "up"],
        ["ip", "addr", "add", "10.241.0.254/24", "dev", "vcbr0"],
        ["ip", "link", "set", "vcbr0", "up"],
        ["ip", "route", "replace", "10.240.2.0/24", "via", "10.241.0.253", "dev", "vcbr0"],
    ]


def test_converged_is_empty():
    state = {"links": {"ovl0": link(master="vcbr0", mtu=1400),
                       "vcbr0": link(kind="bridge", mtu=1400, mac="02:aa:bb:cc:dd:ee", addresses=["10.241.0.254/24"])},
             "routes": {"10.240.2.0/24": ("10.241.0.253", "vcbr0")}}
    assert overlay.plan(SPEC, state) == []


def test_missing_uplink_and_wrong_kind_are_errors():
    with pytest.raises(ValueError, match="overlay uplink ovl0 does not exist"):
        overlay.plan(SPEC, {"links": {}, "routes": {}})
    with pytest.raises(ValueError, match="vcbr0 exists but is a veth"):
        overlay.plan(SPEC, {"links": {"vcbr0": link(kind="veth"), "ovl0": link()}, "routes": {}})


def test_stable_mac_is_local_unicast_and_deterministic():
    mac = overlay.stable_mac("a-gw/vcbr0")
    assert mac == overlay.stable_mac("a-gw/vcbr0") != overlay.stable_mac("b-gw/vcbr0")
    assert mac.startswith("02:") and len(mac.split(":")) == 6
