#!/usr/bin/python
"""Have hosts push vnode checkpoints to each other over SSH (run from the controller, which relays no data)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: ckpt_copy
short_description: Have hosts push vnode checkpoints to their peers over SSH
description:
  - Runs on the controller. For every copy C({vnode, src, dst, ids, basis}), asks host C(src) (over the
    controller's SSH) to push the directory of I(vnode) in each checkpoint of I(ids) straight to host C(dst) over
    the site LANs - rsync over SSH with C(src)'s replication key, which C(dst) authorizes only for rsync writes into
    its store (rrsync), C(dst)'s host key checked, at the lowest CPU and I/O priority, capped at C(src)'s
    C(vc_ft_replication_mbit). The checkpoint's bytes never pass through the controller.
  - Delta - the first id is sent against C(dst)'s copy of checkpoint I(basis) of the vnode (when given), each
    later id against the one pushed before it; identical files are hard-linked, not stored twice.
  - The copy lands in an incoming directory; the receiving host verifies it against its manifest and moves it into
    place afterwards (C(vcluster.cluster.ckpt_host op=accept)); a copy counts only once its checksums match.
  - Copies run I(parallel) at a time.
options:
  copies:
    description: The copies, each C({vnode, src, dst, ids, basis}).
    type: list
    elements: dict
    required: true
  hosts:
    description: Per host name C({address, user, store, key, ssh_args, lan_ip, repl_key, repl_known_hosts, mbit}).
    type: dict
    required: true
  cluster:
    description: The cluster's name.
    type: str
    required: true
  parallel:
    description: Copies at a time.
    type: int
    default: 4
author: vcluster team
"""

EXAMPLES = r"""
- name: Copy checkpoint 7 of vn-a1 from a-h1 to b-h1
  vcluster.cluster.ckpt_copy:
    cluster: demo
    copies: [{vnode: vn-a1, src: a-h1, dst: b-h1, ids: [7], basis: 6}]
    hosts:
      a-h1: {address: 10.240.0.12, user: root, store: /srv/store, key: /root/.ssh/id_ed25519, ssh_args: "",
             lan_ip: 10.240.1.12, repl_key: /etc/vcluster/ft/replication_ed25519,
             repl_known_hosts: /etc/vcluster/ft/replication_known_hosts, mbit: null}
      b-h1: {address: 10.240.0.22, user: root, store: /srv/store, key: /root/.ssh/id_ed25519, ssh_args: "",
             lan_ip: 10.240.2.11, repl_key: /etc/vcluster/ft/replication_ed25519,
             repl_known_hosts: /etc/vcluster/ft/replication_known_hosts, mbit: null}
  delegate_to: localhost
"""

RETURN = r"""
copies:
  description: Per copy, C({vnode, src, dst, ids, basis, seconds, sent}) (C(sent) the bytes rsync sent), or with
    C(error) when it failed.
  type: list
  returned: always
"""

import concurrent.futures
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vcluster.cluster.plugins.module_utils import ckpt as C
from ansible_collections.vcluster.cluster.plugins.module_utils import ft_host as H


def copy_one(copy, hosts, cluster):
    src, dst = hosts.get(copy["src"], {}), hosts.get(copy["dst"], {})
    return H.push(copy, lambda ckpt, basis: C.push_command(src, dst, cluster, ckpt, copy["vnode"], basis))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            copies=dict(type="list", elements="dict", required=True),
            hosts=dict(type="dict", required=True),
            cluster=dict(type="str", required=True),
            parallel=dict(type="int", default=4),
        ),
        supports_check_mode=True,
    )
    p = module.params
    todo = [c for c in p["copies"] if c.get("ids")]
    if module.check_mode or not todo:
        module.exit_json(changed=bool(todo), copies=todo)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, p["parallel"])) as pool:
        done = list(pool.map(lambda c: copy_one(c, p["hosts"], p["cluster"]), todo))
    failed = [c["error"] for c in done if c.get("error")]
    if failed:
        module.fail_json(msg="; ".join(failed), copies=done)
    module.exit_json(changed=True, copies=done, pid=os.getpid())


if __name__ == "__main__":
    main()
