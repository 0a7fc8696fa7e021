"""The paths the project derives (plugins/module_utils/paths.py)."""

from ansible_collections.vcluster.cluster.plugins.module_utils import paths


def test_defaults():
    assert paths.host_paths() == {"store": "/var/lib/vcluster/store", "vnodes": "/var/lib/vcluster/vnodes",
                                  "replication_key": "/etc/vcluster/ft/replication_ed25519",
                                  "replication_known_hosts": "/etc/vcluster/ft/replication_known_hosts",
                                  "ssh_host_key": "/etc/ssh/ssh_host_ed25519_key.pub",
                                  "ssh_authorized_keys": "/root/.ssh/authorized_keys"}
    assert paths.host_paths(etc="/srv/h1/etc")["replication_key"] == "/srv/h1/etc/ft/replication_ed25519"
    assert paths.cluster_paths("demo") == {"controller_dir": "/var/lib/vcluster/ft",
                                           "cluster_dir": "/var/lib/vcluster/ft/demo",
                                           "catalog": "/var/lib/vcluster/ft/demo/catalog.json",
                                           "lock": "/run/lock/vcluster-demo.ft",
                                           "vm_known_hosts": "/var/lib/vcluster/ft/demo/vm_known_hosts"}


def test_vnodes_go_beside_the_store_unless_vnode_root_is_set():
    assert paths.vnode_root("/srv/hpc/store") == "/srv/hpc/vnodes"
    assert paths.vnode_root("/srv/hpc/store/") == "/srv/hpc/vnodes"  # the same store, the same vnodes
    assert paths.host_paths("/srv/hpc/store", "/data/vn")["vnodes"] == "/data/vn"
    assert paths.host_paths("", "")["vnodes"] == "/var/lib/vcluster/vnodes"  # empty means unset


def test_cluster_paths_follow_the_inventory():
    assert paths.cluster_paths("c2", "/srv/ft", "/var/run/x") == {
        "controller_dir": "/srv/ft", "cluster_dir": "/srv/ft/c2", "catalog": "/srv/ft/c2/catalog.json",
        "lock": "/var/run/x/vcluster-c2.ft", "vm_known_hosts": "/srv/ft/c2/vm_known_hosts"}
