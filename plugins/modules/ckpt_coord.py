#!/usr/bin/python
"""Drive the pause of a coordinated checkpoint on every host at once (runs on the controller)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: ckpt_coord
short_description: Coordinated checkpoint of every host's vnodes (freeze, dump, commit, thaw)
description:
  - Runs on the controller. Opens one SSH session per host before the pause and starts the checkpoint agent there
    (plugins/module_utils/ft_agent.py; its source goes over the session, nothing is installed), then drives all
    hosts in lock step - freeze every vnode (barrier), dump every vnode (CRIU images, file-system changes, manifest
    last) and verify (PREPARED), commit everywhere (COMMITTED) or, after any failure anywhere, abort everywhere (the
    partial checkpoint is deleted), thaw - so the pause costs the dumps and a few round trips, not Ansible tasks.
  - The agents hold a lease the coordinator renews every second. If the controller dies or its link to a host
    breaks during the pause, each agent deletes its part of the uncommitted checkpoint and thaws its vnodes by itself
    within I(lease) seconds (after the dump it is running); the coordinator likewise counts a silent host as down and
    aborts. A checkpoint committed on some hosts only is discarded everywhere.
  - Fails (after thawing) when the checkpoint was aborted; the previous checkpoints are untouched.
options:
  hosts:
    description: Per host name C({address, user, key, ssh_args, store, root, vnodes, python}).
    type: dict
    required: true
  cluster:
    description: The cluster's name.
    type: str
    required: true
  ckpt:
    description: The new checkpoint's id.
    type: int
    required: true
  max_chain:
    description: Longest chain of incremental file-system saves before a full one.
    type: int
    default: 3
  timeout:
    description: Seconds a host may take for one step (a dump) before the checkpoint is aborted.
    type: int
    default: 300
  lease:
    description: Seconds without a word from the other side after which an agent undoes its work (and the
      coordinator counts the host down).
    type: float
    default: 5.0
author: vcluster team
"""

EXAMPLES = r"""
- name: Checkpoint 7
  vcluster.cluster.ckpt_coord:
    cluster: demo
    ckpt: 7
    hosts:
      a-h1: {address: 10.240.0.12, user: root, key: /root/.ssh/id_ed25519, ssh_args: "", store: /srv/store,
             root: /srv/vnodes, vnodes: [vn-a1], python: /usr/bin/python3}
  delegate_to: localhost
"""

RETURN = r"""
report:
  description: C({ckpt, committed, pause, steps, dumps, failures}); pause is first freeze to last thaw, in seconds.
  type: dict
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vcluster.cluster.plugins.module_utils import ft_agent as A


def main():
    module = AnsibleModule(
        argument_spec=dict(
            hosts=dict(type="dict", required=True),
            cluster=dict(type="str", required=True),
            ckpt=dict(type="int", required=True),
            max_chain=dict(type="int", default=3),
            timeout=dict(type="int", default=300),
            lease=dict(type="float", default=5.0),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if module.check_mode:
        module.exit_json(changed=True, report={"ckpt": p["ckpt"], "check_mode": True})
    program = A.program()
    report = A.coordinate(p["hosts"], program, p["cluster"], p["ckpt"], p["max_chain"], timeout=p["timeout"],
                          lease=p["lease"])
    if not report["committed"]:
        module.fail_json(msg="checkpoint %d aborted and deleted: %s" % (p["ckpt"], "; ".join(report["failures"])),
                         report=report)
    module.exit_json(changed=True, report=report)


if __name__ == "__main__":
    main()
