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


# Virtual machines (backend kvm) --------------------------------------------

VM = {"image": "/var/lib/vcluster/images/bookworm-vm-0123456789ab", "image_id": "0123456789ab", "accel": "tcg"}


def vm_spec(name="vn-k1", ip="10.241.0.31", **kw):
    return spec(name, ip, **dict({"backend": "kvm", "memory_mb": 512, "vcpus": 1, "admin_keys": ["ssh-ed25519 A c"]},
                                 **kw))


def vm_running(s, **kw):
    return dict({"marker": vnode.marker(s, VM["image_id"]), "config": vnode.config_text(s, ROOT, VM),
                 "mounted": True, "running": True, "backend": "kvm"}, **kw)


def test_link_local_is_the_eui64_of_the_mac():
    assert vnode.mac_for("10.241.0.21") == "02:56:0a:f1:00:15"
    assert vnode.link_local("10.241.0.21") == "fe80::56:aff:fef1:15"


def test_qemu_command_line_boots_the_image_on_the_vms_own_overlay_with_its_mac_and_tap():
    argv = vnode.qemu_argv(vm_spec(memory_mb=1024, vcpus=2), ROOT, VM["image"], "tcg")
    line = " ".join(argv)
    assert argv[0] == "qemu-system-x86_64"
    assert "-accel tcg,tb-size=64 -cpu max" in line and "-m 1024 -smp 2" in line
    assert "filename=%s/vn-k1/disk.qcow2" % ROOT in line
    assert "mac=02:56:0a:f1:00:1f" in line and "ifname=vct-vn-k1,script=no" in line
    assert "vcluster.ip=10.241.0.31/24 vcluster.mtu=1400" in argv[argv.index("-append") + 1]
    assert "-kernel %s/vmlinuz -initrd %s/initrd.img" % (VM["image"], VM["image"]) in line
    assert "unix:%s/vn-k1/qmp.sock,server=on,wait=off" % ROOT in line
    assert "name=opt/vcluster/ssh_host_ed25519_key,file=%s/vn-k1/ssh_host_ed25519_key" % ROOT in line
    assert "-accel kvm -cpu host" in " ".join(vnode.qemu_argv(vm_spec(), ROOT, VM["image"], "kvm"))


def test_a_new_vm_is_created_configured_and_started_without_a_mount():
    assert vnode.plan([vm_spec()], {}, IMAGE, ROOT, vm=VM) == [
        ("create", "vn-k1"), ("write-config", "vn-k1"), ("start", "vn-k1")]


def test_a_running_vm_is_left_alone():
    s = vm_spec()
    assert vnode.plan([s], {"vn-k1": vm_running(s)}, IMAGE, ROOT, vm=VM) == []


def test_a_vm_whose_memory_or_admin_keys_change_is_restarted():
    s = vm_spec()
    for changed in (vm_spec(memory_mb=1024), vm_spec(admin_keys=["ssh-ed25519 B c"])):
        assert vnode.plan([changed], {"vn-k1": vm_running(s)}, IMAGE, ROOT, vm=VM) == [
            ("stop", "vn-k1"), ("write-config", "vn-k1"), ("start", "vn-k1")]


def test_a_vm_on_another_image_or_a_container_turned_vm_is_recreated():
    s = vm_spec()
    assert vnode.plan([s], {"vn-k1": vm_running(s)}, IMAGE, ROOT, vm=dict(VM, image_id="fedcba987654")) == [
        ("recreate", "vn-k1"), ("write-config", "vn-k1"), ("start", "vn-k1")]
    container = spec("vn-k1", "10.241.0.31")
    assert vnode.plan([s], {"vn-k1": running(container)}, IMAGE, ROOT, vm=VM)[0] == ("recreate", "vn-k1")


def test_a_stopped_vm_is_started():
    s = vm_spec()
    assert vnode.plan([s], {"vn-k1": vm_running(s, running=False)}, IMAGE, ROOT, vm=VM) == [("start", "vn-k1")]


def test_vm_ssh_goes_through_its_host_to_the_link_local_address_with_keys_checked():
    jump = {"ansible_host": "10.240.0.12", "ansible_user": "root", "ansible_port": 22,
            "ansible_ssh_private_key_file": "/k/id", "ansible_ssh_common_args": "-o UserKnownHostsFile=/k/kh"}
    args = vnode.vm_ssh_args(jump, "vn-k1", "10.241.0.21", "vcbr0", "/ft/demo/vm_known_hosts")
    assert "-o HostKeyAlias=vn-k1 -o UserKnownHostsFile=/ft/demo/vm_known_hosts -o StrictHostKeyChecking=yes" in args
    proxy = args.split("ProxyCommand=", 1)[1]
    for part in ("-i /k/id", "-o UserKnownHostsFile=/k/kh", "-p 22", "[fe80::56:aff:fef1:15%%vcbr0]:22",
                 "root@10.240.0.12"):
        assert part in proxy


def test_running_vms_are_read_from_each_hosts_vnode_result():
    hostvars = {"a-h1": {"vnode_result": {"vnodes": {
        "vn-a1": {"backend": "lxc", "ip": "10.241.0.11"},
        "vn-k1": {"backend": "kvm", "ip": "10.241.0.31", "bridge": "vcbr0", "host_key": "ssh-ed25519 AAA"}}}},
        "a-h2": {"vnode_result": {"vnodes": {"vn-k2": {"backend": "kvm", "ip": "10.241.0.32", "bridge": "vcbr0",
                                                        "host_key": None}}}},
        "a-gw": {}}
    assert vnode.running_vms(hostvars, ["a-gw", "a-h1", "a-h2"]) == [
        {"name": "vn-k1", "host": "a-h1", "ip": "10.241.0.31", "bridge": "vcbr0", "host_key": "ssh-ed25519 AAA"}]
