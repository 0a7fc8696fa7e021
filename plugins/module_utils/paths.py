"""Every path the project derives from the inventory, in one place.

The model (inventory.build_model), the filters of plugins/filter/paths.py
(role defaults, playbooks), the FT filters and scripts/ft-service all call
these functions; nothing else joins these paths.

    vc_store_dir                      a host's checkpoint store (default below)
    <dirname of the store>/vnodes     its vnodes' directories (vnode_root)
    <vc_ft_controller_dir>/<cluster>  the controller's FT directory
        catalog.json                  its copy of the catalog (and the placement)
    <vc_ft_lock_dir>/vcluster-<cluster>.ft   the lock of the FT verbs
    <vc_host_etc>/ft/replication_ed25519     a host's replication key (0600)
    <vc_host_etc>/ft/replication_known_hosts its peers' host keys (LAN addresses)
"""

import posixpath

STORE_DIR = "/var/lib/vcluster/store"
CONTROLLER_DIR = "/var/lib/vcluster/ft"
LOCK_DIR = "/run/lock"
CATALOG = "catalog.json"
HOST_ETC = "/etc/vcluster"
SSH_HOST_KEY = "/etc/ssh/ssh_host_ed25519_key.pub"
SSH_AUTHORIZED_KEYS = "/root/.ssh/authorized_keys"


def _given(value, default):
    return str(value) if value not in (None, "") else default


def store_dir(value=None):
    """A host's store: ``vc_store_dir``, or the default."""
    return _given(value, STORE_DIR)


def vnode_root(store=None):
    """The directory of a host's vnodes, beside its store."""
    return posixpath.join(posixpath.dirname(store_dir(store).rstrip("/")) or "/", "vnodes")


def controller_dir(value=None):
    """``vc_ft_controller_dir``, or the default."""
    return _given(value, CONTROLLER_DIR)


def cluster_dir(cluster, value=None):
    """The controller's directory of one cluster's FT files."""
    return posixpath.join(controller_dir(value), str(cluster))


def catalog_path(cluster, value=None):
    """The controller's copy of the catalog of ``cluster``."""
    return posixpath.join(cluster_dir(cluster, value), CATALOG)


def lock_path(cluster, lock_dir=None):
    """The lock the FT verbs of ``cluster`` hold."""
    return posixpath.join(_given(lock_dir, LOCK_DIR), "vcluster-%s.ft" % cluster)


def cluster_paths(cluster, controller=None, lock_dir=None):
    """The cluster-wide paths, for the model."""
    return {"controller_dir": controller_dir(controller), "cluster_dir": cluster_dir(cluster, controller),
            "catalog": catalog_path(cluster, controller), "lock": lock_path(cluster, lock_dir),
            "vm_known_hosts": posixpath.join(cluster_dir(cluster, controller), "vm_known_hosts")}


def host_etc(value=None):
    """``vc_host_etc``, or the default."""
    return _given(value, HOST_ETC)


def replication_key(etc=None):
    """A host's replication key (private half; the public one beside it, .pub)."""
    return posixpath.join(host_etc(etc), "ft", "replication_ed25519")


def replication_known_hosts(etc=None):
    """The host keys of a host's peers, at their LAN addresses."""
    return posixpath.join(host_etc(etc), "ft", "replication_known_hosts")


def host_paths(store=None, root=None, etc=None, host_key=None, authorized_keys=None):
    """A host's paths, for the model: its store, its vnodes' directory
    (``vnode_root`` when the inventory sets it), its replication files, its
    sshd's public host key and the authorized_keys file of root that its sshd
    reads (``vc_ssh_host_key``, ``vc_ssh_authorized_keys``)."""
    return {"store": store_dir(store), "vnodes": _given(root, vnode_root(store)),
            "replication_key": replication_key(etc), "replication_known_hosts": replication_known_hosts(etc),
            "ssh_host_key": _given(host_key, SSH_HOST_KEY),
            "ssh_authorized_keys": _given(authorized_keys, SSH_AUTHORIZED_KEYS)}
