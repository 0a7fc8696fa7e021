#!/usr/bin/python
"""Copy vnode checkpoints from host to host over SSH (runs on the controller)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: ckpt_copy
short_description: Copy vnode checkpoints between hosts over SSH
description:
  - Runs on the controller. For every copy C({vnode, src, dst, ids}), streams the directory of I(vnode) in each
    checkpoint of I(ids) from host C(src) (C(tar) over SSH) into an incoming directory on host C(dst) (C(tar) over
    SSH), without a temporary copy on the controller. The receiving host verifies and moves it into place
    afterwards (C(vcluster.cluster.ckpt_host op=accept)); a copy counts only once its checksums match.
  - SSH uses each host's address, user, key and options from the inventory; host-key checking stays whatever the
    inventory says (on, in this project), and BatchMode is forced.
  - Copies run I(parallel) at a time.
options:
  copies:
    description: The copies, each C({vnode, src, dst, ids}).
    type: list
    elements: dict
    required: true
  hosts:
    description: Per host name C({address, user, store, key, ssh_args}).
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
    copies: [{vnode: vn-a1, src: a-h1, dst: b-h1, ids: [7]}]
    hosts:
      a-h1: {address: 10.240.0.12, user: root, store: /srv/store, key: /root/.ssh/id_ed25519, ssh_args: ""}
      b-h1: {address: 10.240.0.22, user: root, store: /srv/store, key: /root/.ssh/id_ed25519, ssh_args: ""}
  delegate_to: localhost
"""

RETURN = r"""
copies:
  description: Per copy, C({vnode, src, dst, ids, seconds}).
  type: list
  returned: always
"""

import concurrent.futures
import os
import subprocess
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vcluster.cluster.plugins.module_utils import ckpt as C


def copy_one(copy, hosts, cluster):
    start = time.monotonic()
    for ckpt in copy["ids"]:
        send, recv = C.copy_commands(hosts[copy["src"]], hosts[copy["dst"]], cluster, ckpt, copy["vnode"])
        with tempfile.TemporaryFile() as err_s, tempfile.TemporaryFile() as err_r:
            sender = subprocess.Popen(send, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err_s)
            receiver = subprocess.Popen(recv, stdin=sender.stdout, stdout=subprocess.DEVNULL, stderr=err_r)
            sender.stdout.close()
            rc_r = receiver.wait()
            rc_s = sender.wait()
            if rc_s or rc_r:
                err_s.seek(0)
                err_r.seek(0)
                return dict(copy, error="copy of checkpoint %s of %s from %s to %s failed (send rc %d: %s; "
                            "receive rc %d: %s)" % (ckpt, copy["vnode"], copy["src"], copy["dst"], rc_s,
                                                    err_s.read().decode(errors="replace").strip()[-500:], rc_r,
                                                    err_r.read().decode(errors="replace").strip()[-500:]))
    return dict(copy, seconds=round(time.monotonic() - start, 3))


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
