"""Host-to-host replication: authorized keys, known hosts, the push command
(plugins/module_utils/replication.py)."""

import pytest

from ansible_collections.vcluster.cluster.plugins.module_utils import replication as R

PUB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests root@a-h1"


def test_authorized_key_allows_only_rsync_writes_under_the_store():
    line = R.authorized_key(PUB, "/var/lib/vcluster/store/demo/", "a-h1")
    assert line == ('command="/usr/bin/rrsync -wo -no-lock /var/lib/vcluster/store/demo",restrict ssh-ed25519 '
                    'AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests vcluster-replication:a-h1')


@pytest.mark.parametrize("pub, root", [("not a key", "/s"), (PUB + "\nssh-rsa AAAA x", "/s"), (PUB, "relative"),
                                       (PUB, '/s" ,no-restrict'), ("", "/s")])
def test_authorized_key_refuses_what_could_widen_it(pub, root):
    with pytest.raises(R.ReplicationError):
        R.authorized_key(pub, root, "a-h1")


def test_known_hosts_from_the_controllers_verified_keys():
    text = "# testbed\n10.240.0.12 ssh-ed25519 AAAAh1\n10.240.0.13,a-h2 ssh-ed25519 AAAAh2\n@revoked * ssh-rsa X\n"
    assert R.hostkey_of(text, "10.240.0.13") == "ssh-ed25519 AAAAh2"
    assert R.hostkey_of(text, "10.240.0.99") is None
    peers = {"b-h1": {"address": "10.240.2.11", "hostkey": "ssh-ed25519 AAAAb1 comment"},
             "a-h2": {"address": "10.240.1.12", "hostkey": R.hostkey_of(text, "10.240.0.13")}}
    assert R.known_hosts(peers) == ["10.240.1.12 ssh-ed25519 AAAAh2", "10.240.2.11 ssh-ed25519 AAAAb1"]
    with pytest.raises(R.ReplicationError):
        R.known_hosts({"x": {"address": "10.0.0.1", "hostkey": "ssh-ed25519"}})


def test_push_is_a_niced_delta_rsync_anchored_at_the_peers_root():
    argv = R.push_argv("/store/demo/7/vn-a1", "10.240.2.11", "/etc/vcluster/ft/replication_ed25519",
                       "/etc/vcluster/ft/known_hosts", 7, "vn-a1", basis=R.stored(6, "vn-a1"), mbit=100)
    assert argv[:6] == ["nice", "-n", "19", "ionice", "-c", "3"]
    assert "--link-dest=/6/vn-a1" in argv  # a leading '/' is rrsync's root; an absolute server path = full copy
    assert "--bwlimit=12207" in argv  # 100 Mbit/s in KiB/s
    assert argv[-2:] == ["/store/demo/7/vn-a1/", "root@10.240.2.11:7/.incoming-vn-a1/vn-a1/"]
    ssh = argv[argv.index("-e") + 1]
    assert "StrictHostKeyChecking=yes" in ssh and "UserKnownHostsFile=/etc/vcluster/ft/known_hosts" in ssh
    assert "BatchMode=yes" in ssh and "IdentitiesOnly=yes" in ssh
    first = R.push_argv("/s/7/vn-a1/", "10.240.2.11", "k", "kh", 7, "vn-a1")
    assert not [a for a in first if a.startswith(("--link-dest", "--bwlimit", "--checksum"))]
    assert "HostKeyAlgorithms=ssh-ed25519" in ssh and "--delete" in argv
    assert "--checksum" in argv  # unchanged = same content (default quick check: mtime to the whole second)
    # a chain member pushed after its parent: the parent's incoming copy is the basis
    second = R.push_argv("/s/8/vn-a1", "p", "k", "kh", 8, "vn-a1", basis=R.incoming(7, "vn-a1"))
    assert "--link-dest=/7/.incoming-vn-a1/vn-a1" in second
    assert R.incoming("migrate", "vn-a1") == "migrate/.incoming-vn-a1/vn-a1/"
    for bad in (dict(mbit=0), dict(mbit=True), dict(basis="/abs/6/vn-a1"), dict(basis="6/../../etc")):
        with pytest.raises(R.ReplicationError):
            R.push_argv("/s", "p", "k", "kh", 7, "vn-a1", **bad)
    with pytest.raises(R.ReplicationError):
        R.incoming("../x", "vn-a1")


def test_sent_bytes_from_rsync_stats():
    stats = "Number of files: 12\nTotal bytes sent: 17,042,569\nTotal bytes received: 1,203\n"
    assert R.sent_bytes(stats) == 17042569
    assert R.sent_bytes("rsync error: some files could not be transferred") is None
