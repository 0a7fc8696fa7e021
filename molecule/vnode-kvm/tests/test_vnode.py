"""Checks of the vnode and mpi roles over SSH (testinfra): every vnode runs on
the host the inventory names, with its fixed IP and IP-derived MAC, answers on
its IP from the other site, and MPI runs across both sites."""

import pytest

VNODES = {"mv-vn1": ("mv-h1", "10.243.0.11"), "mv-vn2": ("mv-h2", "10.243.0.21")}
HOSTS_DIR = "/var/lib/vcluster/molecule-vnode/hosts"
ENV = "env HOME=/root PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def name_of(host):
    return host.backend.get_hostname()


def in_vnode(host, vnode, command):
    return host.run("lxc-attach -n %s -P %s/%s/vnodes --clear-env -- %s %s"
                    % (vnode, HOSTS_DIR, VNODES[vnode][0], ENV, command))


def mac_of(ip):
    return "02:56:" + ":".join("%02x" % int(b) for b in ip.split("."))


@pytest.mark.parametrize("vnode", sorted(VNODES))
def test_vnode_runs_with_its_ip_and_mac(host, vnode):
    where, ip = VNODES[vnode]
    if name_of(host) != where:
        return
    assert "RUNNING" in host.check_output("lxc-info -n %s -P %s/%s/vnodes -s" % (vnode, HOSTS_DIR, where))
    link = in_vnode(host, vnode, "ip -o addr show eth0").stdout
    assert "inet %s/24" % ip in link
    assert mac_of(ip) in in_vnode(host, vnode, "ip -o link show eth0").stdout
    assert "mtu 1400" in in_vnode(host, vnode, "ip -o link show eth0").stdout
    assert in_vnode(host, vnode, "hostname").stdout.strip() == vnode


@pytest.mark.parametrize("other", sorted(VNODES))
def test_every_vnode_answers_on_its_ip(host, other):
    for vnode, (where, _ip) in VNODES.items():
        if name_of(host) == where and vnode != other:
            assert in_vnode(host, vnode, "ping -n -c2 -W3 %s" % VNODES[other][1]).rc == 0


def test_mpi_runs_across_both_sites(host):
    if name_of(host) != "mv-h1":
        return
    out = in_vnode(host, "mv-vn1", "mpirun --allow-run-as-root -np 2 --hostfile /etc/vcluster-hostfile "
                   "python3 -c 'from mpi4py import MPI; c = MPI.COMM_WORLD; "
                   "print(MPI.Get_processor_name(), c.allreduce(c.rank + 1))'")
    assert out.rc == 0, out.stderr
    assert sorted(out.stdout.split()) == sorted(["mv-vn1", "3", "mv-vn2", "3"])


def test_vnode_private_key_stays_private(host):
    for vnode, (where, _ip) in VNODES.items():
        if name_of(host) == where:
            key = host.file("%s/%s/vnodes/%s/rootfs/root/.ssh/id_ed25519" % (HOSTS_DIR, where, vnode))
            assert key.mode == 0o600 and key.user == "root"
