"""Checks of the vnode and mpi roles with virtual machines (testinfra, over
SSH to the emulated hosts): each vnode runs on its host with its fixed IP and
IP-derived MAC, containers and virtual machines reach each other across the
sites, the VMs' keys stay where they were made, and NPB CG class S runs
across all four vnodes and verifies."""

import ipaddress
import re

import pytest

STATE = "/var/lib/vcluster/molecule-vnode-kvm"
HOSTS_DIR = STATE + "/hosts"
KEY = STATE + "/controller/id_ed25519"
VM_KNOWN_HOSTS = "/var/lib/vcluster/ft/mkv/vm_known_hosts"
VNODES = {"mk-vn1": ("mk-h1", "10.229.0.11", "lxc"), "mk-vm1": ("mk-h1", "10.229.0.12", "kvm"),
          "mk-vn2": ("mk-h2", "10.229.0.21", "lxc"), "mk-vm2": ("mk-h2", "10.229.0.22", "kvm")}
ENV = "env HOME=/root PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def name_of(host):
    return host.backend.get_hostname()


def mac_of(ip):
    return "02:56:" + ":".join("%02x" % int(b) for b in ip.split("."))


def link_local(ip):
    mac = [int(b, 16) for b in mac_of(ip).split(":")]
    return str(ipaddress.IPv6Address(bytes([0xFE, 0x80] + [0] * 6 + [mac[0] ^ 2] + mac[1:3] + [0xFF, 0xFE]
                                           + mac[3:])))


def in_vnode(host, vnode, command):
    """Run a command in a vnode from its host: lxc-attach into a container, SSH (host key checked) into a VM."""
    where, ip, backend = VNODES[vnode]
    if backend == "lxc":
        return host.run("lxc-attach -n %s -P %s/%s/vnodes --clear-env -- %s %s" % (vnode, HOSTS_DIR, where, ENV,
                                                                                  command))
    return host.run("ssh -i %s -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=%s "
                    "-o HostKeyAlias=%s root@%s%%vcbr0 %s" % (KEY, VM_KNOWN_HOSTS, vnode, link_local(ip),
                                                              host_quote(command)))


def host_quote(command):
    return "'" + command.replace("'", "'\"'\"'") + "'"


def mine(host):
    return [vn for vn, (where, _ip, _b) in sorted(VNODES.items()) if where == name_of(host)]


def test_each_vnode_runs_with_its_ip_mac_mtu_and_name(host):
    for vnode in mine(host):
        where, ip, backend = VNODES[vnode]
        if backend == "lxc":
            assert "RUNNING" in host.check_output("lxc-info -n %s -P %s/%s/vnodes -s" % (vnode, HOSTS_DIR, where))
        else:
            pid = host.file("%s/%s/vnodes/%s/qemu.pid" % (HOSTS_DIR, where, vnode)).content_string.strip()
            assert "qemu-system-x86_64" in host.check_output("cat /proc/%s/cmdline | tr '\\0' ' '" % pid)
        link = in_vnode(host, vnode, "ip -o addr show eth0")
        assert link.rc == 0, link.stderr
        assert "inet %s/24" % ip in link.stdout
        eth0 = in_vnode(host, vnode, "ip -o link show eth0").stdout
        assert mac_of(ip) in eth0 and "mtu 1400" in eth0
        assert in_vnode(host, vnode, "hostname").stdout.strip() == vnode


def test_vm_runs_on_a_tap_of_the_overlay_bridge_with_its_console_logged(host):
    for vnode in mine(host):
        where, _ip, backend = VNODES[vnode]
        if backend != "kvm":
            continue
        tap = "vct-" + vnode
        assert "master vcbr0" in host.check_output("ip -o link show %s" % tap)
        console = host.file("%s/%s/vnodes/%s/serial.log" % (HOSTS_DIR, where, vnode))
        assert "vcluster-vm-init: ready %s" % vnode in console.content_string
        key = host.file("%s/%s/vnodes/%s/ssh_host_ed25519_key" % (HOSTS_DIR, where, vnode))
        assert key.mode == 0o600 and key.user == "root"


@pytest.mark.parametrize("other", sorted(VNODES))
def test_every_vnode_answers_on_its_ip(host, other):
    for vnode in mine(host):
        if vnode != other:
            out = in_vnode(host, vnode, "ping -n -c2 -W3 %s" % VNODES[other][1])
            assert out.rc == 0, "%s -> %s: %s" % (vnode, other, out.stdout + out.stderr)


def test_mpi_keys_are_made_in_each_vnode(host):
    for vnode in mine(host):
        out = in_vnode(host, vnode, "stat -c '%a %U' /root/.ssh/id_ed25519")
        assert out.stdout.strip() == "600 root", out.stderr


def test_npb_cg_class_s_across_containers_and_vms_verifies(host):
    if name_of(host) != "mk-h1":
        return
    out = in_vnode(host, "mk-vn1", "sh -c 'cd /tmp && mpirun --allow-run-as-root -np 4 --hostfile "
                   "/etc/vcluster-hostfile python3 /opt/vcluster/workloads/npb.py cg S --result /tmp/cg.json'")
    assert out.rc == 0, out.stdout + out.stderr
    assert re.search(r"^ Verification\s+=\s+SUCCESSFUL$", out.stdout, re.M), out.stdout
    assert re.search(r"^ Total processes\s+=\s+4$", out.stdout, re.M), out.stdout
