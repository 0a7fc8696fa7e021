#!/usr/bin/python
"""One host's part of a coordinated checkpoint or restore (see module_utils/ft_host.py)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: ckpt_host
short_description: One host's part of a cluster checkpoint or restore
description:
  - Runs one step of the fault-tolerance protocol on this host; checkpoint.yml and restore.yml call it on every host
    and coordinate the steps (barrier, two-phase commit, resume-all).
  - C(scan) lists the checkpoints of the store (with I(verify), checks every copy against its manifest).
    C(freeze)/C(thaw) freeze and thaw the vnodes. C(dump) saves each (frozen) vnode, manifest last (a container
    with CRIU and its file-system changes, a virtual machine as its new qcow2 layer and its RAM and devices). C(prepare) verifies them and writes PREPARED; C(commit) writes COMMITTED; C(abort)
    deletes an uncommitted checkpoint; C(delete) deletes checkpoints (retention). C(accept) verifies a received
    replica and moves it into place. C(stop) stops and removes vnode instances; C(restore) restores vnodes from a
    checkpoint, left frozen. C(catalog) writes the catalog. C(migrate_out) freezes one vnode and dumps it in full
    into the store's C(migrate) directory, stopping it (a migration; C(restore) with I(ckpt=migrate) brings it back
    up on the target). C(remove) stops and removes the vnodes named (their instance, not their checkpoints).
    C(announce) makes each vnode send one ping to I(address) (the bridges learn where it is).
  - Must run in the host's network namespace (it does over SSH).
options:
  op:
    description: The step.
    type: str
    required: true
    choices: [scan, freeze, dump, prepare, commit, abort, thaw, delete, accept, stop, restore, catalog, migrate_out,
              announce, remove]
  store:
    description: The host's checkpoint store (vc_store_dir).
    type: path
    required: true
  cluster:
    description: The cluster's name (vc_cluster_name).
    type: str
    required: true
  root:
    description: Directory of the host's vnodes (the LXC path).
    type: path
  ckpt:
    description: The checkpoint id, or C(migrate) (a migration's dump).
    type: str
  ids:
    description: Checkpoint ids (for C(delete); C(migrate) too).
    type: list
    elements: str
    default: []
  vnodes:
    description: Vnode names (C(freeze), C(dump), C(prepare), C(thaw), C(accept); for C(stop) the vnodes kept
      stopped, all others are removed) or, for C(restore), C({name, ip}) dicts.
    type: list
    elements: raw
    default: []
  verify:
    description: With C(scan), verify every copy against its manifest.
    type: bool
    default: false
  max_chain:
    description: Longest chain of incremental file-system saves; a vnode whose chain is this long is saved in full.
    type: int
    default: 3
  image_dir:
    description: Where base images are (C(restore) uses the one each vnode's checkpoint was made on).
    type: path
    default: /var/lib/vcluster/images
  image_suite:
    description: Debian suite of the base images (their directory is C(<suite>-<image id>)).
    type: str
    default: bookworm
  prefix:
    description: Overlay prefix length (C(restore)).
    type: int
  mtu:
    description: Vnode MTU (C(restore)).
    type: int
  bridge:
    description: The overlay bridge (C(restore)).
    type: str
    default: vcbr0
  net_up:
    description: The vnode network script (C(restore)).
    type: path
  catalog:
    description: The catalog to write (C(catalog)).
    type: dict
  host:
    description: This host's inventory name (recorded as the origin of its dumps).
    type: str
  address:
    description: An overlay address the vnodes ping (C(announce)).
    type: str
author: vcluster team
"""

EXAMPLES = r"""
- name: Dump this host's frozen vnodes into checkpoint 7
  vcluster.cluster.ckpt_host:
    op: dump
    store: /var/lib/vcluster/store
    cluster: demo
    ckpt: 7
    root: /var/lib/vcluster/vnodes
    vnodes: [vn-a1]
"""

RETURN = r"""
result:
  description: What the step did or found (per op; see module_utils/ft_host.py).
  type: raw
  returned: always
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vcluster.cluster.plugins.module_utils import ckpt as C
from ansible_collections.vcluster.cluster.plugins.module_utils import ft_host as H
from ansible_collections.vcluster.cluster.plugins.module_utils import vnode as V


run = H.local_run


def names(vnodes):
    return [v["name"] if isinstance(v, dict) else str(v) for v in vnodes]


def main():
    module = AnsibleModule(
        argument_spec=dict(
            op=dict(type="str", required=True, choices=["scan", "freeze", "dump", "prepare", "commit", "abort", "thaw",
                                                        "delete", "accept", "stop", "restore", "catalog",
                                                        "migrate_out", "announce", "remove"]),
            store=dict(type="path", required=True),
            cluster=dict(type="str", required=True),
            root=dict(type="path"),
            ckpt=dict(type="str"),
            ids=dict(type="list", elements="str", default=[]),
            vnodes=dict(type="list", elements="raw", default=[]),
            verify=dict(type="bool", default=False),
            max_chain=dict(type="int", default=3),
            image_dir=dict(type="path", default="/var/lib/vcluster/images"),
            image_suite=dict(type="str", default="bookworm"),
            prefix=dict(type="int"),
            mtu=dict(type="int"),
            bridge=dict(type="str", default="vcbr0"),
            net_up=dict(type="path"),
            catalog=dict(type="dict"),
            host=dict(type="str", default=os.uname().nodename),
            address=dict(type="str"),
        ),
        required_if=[("op", "dump", ("ckpt", "root")), ("op", "prepare", ("ckpt",)), ("op", "commit", ("ckpt",)),
                     ("op", "abort", ("ckpt",)), ("op", "freeze", ("root",)), ("op", "thaw", ("root",)),
                     ("op", "accept", ("ckpt",)), ("op", "stop", ("root",)),
                     ("op", "restore", ("ckpt", "root", "prefix", "mtu", "net_up")),
                     ("op", "catalog", ("catalog",)), ("op", "migrate_out", ("root",)), ("op", "remove", ("root",)),
                     ("op", "announce", ("root", "address"))],
        supports_check_mode=True,
    )
    p = module.params
    op, store, cluster = p["op"], p["store"], p["cluster"]
    if p["ckpt"] is not None:
        p["ckpt"] = H.as_id(p["ckpt"])
        if p["ckpt"] != H.MIGRATE and not isinstance(p["ckpt"], int):
            module.fail_json(msg="ckpt=%s is not a checkpoint id (an integer) nor migrate" % p["ckpt"])
    p["ids"] = [H.as_id(i) for i in p["ids"]]
    read_only = op == "scan"
    if module.check_mode and not read_only:
        module.exit_json(changed=op not in ("thaw",), result={"check_mode": True, "op": op})
    start = time.monotonic()
    try:
        if op == "scan":
            result = H.scan(store, cluster, verify=p["verify"], run=run, root=p["root"])
            changed = False
        elif op == "freeze":
            result = H.freeze(run, p["root"], names(p["vnodes"]))
            changed = True
        elif op == "thaw":
            result = H.thaw(run, p["root"], names(p["vnodes"]))
            changed = bool(result)
        elif op == "dump":
            result = [H.dump(run, store, cluster, p["ckpt"], p["root"], name, H.vnode_info(p["root"], name),
                             p["max_chain"],
                             p["host"]) for name in names(p["vnodes"])]
            changed = True
        elif op == "prepare":
            H.prepare(store, cluster, p["ckpt"], names(p["vnodes"]))
            result, changed = "prepared", True
        elif op == "commit":
            H.mark(store, cluster, p["ckpt"], C.COMMITTED)
            result, changed = "committed", True
        elif op == "abort":
            changed = H.abort(store, cluster, p["ckpt"])
            result = "deleted" if changed else "nothing to delete (or committed: kept)"
        elif op == "delete":
            result = H.delete(store, cluster, p["ids"])
            changed = bool(result)
        elif op == "accept":
            result = {name: H.accept(store, cluster, p["ckpt"], name) for name in names(p["vnodes"])}
            changed = True
        elif op == "stop":
            # Stop every vnode of the project here; remove those not in vnodes (restored elsewhere).
            result = H.stop_all(run, p["root"], set(names(p["vnodes"])))
            changed = bool(result)
        elif op == "migrate_out":
            result = []
            for name in names(p["vnodes"]):
                H.freeze(run, p["root"], [name])
                try:
                    result.append(H.dump(run, store, cluster, H.MIGRATE, p["root"], name,
                                         H.vnode_info(p["root"], name), 1, p["host"], stop=True))
                except (H.HostError, OSError):
                    H.thaw(run, p["root"], [name])  # still here and running: the migration did not happen
                    raise
            changed = True
        elif op == "remove":
            for name in names(p["vnodes"]):
                H.remove_vnode(run, p["root"], name, V.veth_name(name))
            result, changed = names(p["vnodes"]), bool(p["vnodes"])
        elif op == "announce":
            result = {name: H.announce(run, p["root"], name, p["address"]) for name in names(p["vnodes"])}
            changed = False
        elif op == "restore":
            net = {k: p[k] for k in ("prefix", "mtu", "bridge", "net_up", "image_dir", "image_suite")}
            result = [H.restore_one(run, store, cluster, p["ckpt"], p["root"], v, net) for v in p["vnodes"]]
            changed = True
        else:  # catalog
            changed = H.write_catalog(store, cluster, p["catalog"])
            result = {"path": os.path.join(store, cluster, C.CATALOG), "catalog": p["catalog"]}
    except (H.HostError, C.CheckpointError, OSError) as exc:
        module.fail_json(msg="%s on %s: %s" % (op, os.uname().nodename, exc), op=op)
    module.exit_json(changed=changed, result=result, seconds=round(time.monotonic() - start, 3))


if __name__ == "__main__":
    main()
