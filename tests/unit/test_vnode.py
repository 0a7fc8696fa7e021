"""Unit tests of the vnode model (plugins/module_utils/vnode.py)."""

import pytest

from ansible_collections.vcluster.cluster.plugins.module_utils import vnode

ROOT = "/var/lib/vcluster/vnodes"
IMAGE = "abc123def456"


def spec(name="vn-a1", ip="10.241.0.11", **kw):
    return dict({"name": name, "ip": ip, "prefix": 24, "mtu": 1400, "bridge": "vcbr0",
                 "net_up": "/usr/local/libexec/vcluster/vnode-net-up"}, **kw)


def running(s, **kw):
    return dict({"marker": vnode.marker(s, IMAGE), "config": vnode.lxc_config(s, ROOT), "mounted": True,
                 "running": True}, **kw)


def test_mac_is_derived_from_the_ip_only():
    assert vnode.mac_for("10.241.0.11") == "02:56:0a:f1:00:0b"
    assert vnode.mac_for("10.241.0.11") != vnode.mac_for("10.241.0.12")


def test_veth_name_fits_the_kernel_limit_and_is_stable():
    assert vnode.veth_name("vn-a1") == "vcv-vn-a1"
    long = vnode.veth_name("a-very-long-vnode-name")
    assert len(long) == 15 and long.startswith("vcv-") and long == vnode.veth_name("a-very-long-vnode-name")


def test_config_is_checkpointable_and_carries_ip_mac_mtu():
    text = vnode.lxc_config(spec(), ROOT)
    assert "lxc.apparmor" not in text  # CRIU refuses to restore with a profile on this kernel
    assert "lxc.rootfs.path = dir:%s/vn-a1/rootfs" % ROOT in text
    assert "lxc.net.0.ipv4.address = 10.241.0.11/24" in text
    assert "lxc.net.0.hwaddr = 02:56:0a:f1:00:0b" in text
    assert "lxc.net.0.mtu = 1400" in text
    assert "lxc.net.0.script.up = /usr/local/libexec/vcluster/vnode-net-up vcbr0" in text
    assert "lxc.net.0.link" not in text  # LXC would look the bridge up in the wrong /sys


def test_new_vnode_is_created_mounted_configured_started():
    assert vnode.plan([spec()], {}, IMAGE, ROOT) == [
        ("create", "vn-a1"), ("mount", "vn-a1"), ("write-config", "vn-a1"), ("start", "vn-a1")]


def test_running_vnode_needs_nothing():
    assert vnode.plan([spec()], {"vn-a1": running(spec())}, IMAGE, ROOT) == []


def test_stopped_vnode_is_started():
    assert vnode.plan([spec()], {"vn-a1": running(spec(), running=False)}, IMAGE, ROOT) == [("start", "vn-a1")]


def test_unmounted_vnode_is_mounted_then_started():
    present = {"vn-a1": running(spec(), running=False, mounted=False)}
    assert vnode.plan([spec()], present, IMAGE, ROOT) == [("mount", "vn-a1"), ("start", "vn-a1")]


def test_changed_ip_restarts_with_the_new_config():
    present = {"vn-a1": running(spec())}
    assert vnode.plan([spec(ip="10.241.0.99")], present, IMAGE, ROOT) == [
        ("stop", "vn-a1"), ("write-config", "vn-a1"), ("start", "vn-a1")]


def test_other_base_image_recreates_the_vnode():
    present = {"vn-a1": running(spec())}
    assert vnode.plan([spec()], present, "another", ROOT) == [
        ("recreate", "vn-a1"), ("mount", "vn-a1"), ("write-config", "vn-a1"), ("start", "vn-a1")]


def test_vnode_no_longer_here_is_removed_first():
    present = {"vn-old": running(spec("vn-old", "10.241.0.50"))}
    steps = vnode.plan([spec()], present, IMAGE, ROOT)
    assert steps[0] == ("remove", "vn-old")
    assert ("create", "vn-a1") in steps


@pytest.mark.parametrize("ip", ["10.241.0.11", "192.168.7.200"])
def test_marker_records_ip_mac_and_image(ip):
    assert vnode.marker(spec(ip=ip), IMAGE) == {"name": "vn-a1", "ip": ip, "mac": vnode.mac_for(ip), "image": IMAGE}
