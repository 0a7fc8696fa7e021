#!/usr/bin/python
"""Load a checkpoint on every host at once, frozen, then resume everywhere (runs on the controller)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: ckpt_restore
short_description: Restore every host's vnodes from a checkpoint, frozen, then resume the whole cluster
description:
  - Runs on the controller. Opens one SSH session per live host and starts the checkpoint agent there in restore mode
    (plugins/module_utils/ft_agent.py; its source goes over the session), then drives every host in lock step -
    C(load) (stop every vnode instance of the host, remove those restored elsewhere, rebuild the file system of each
    of its vnodes from the chain of saves and restore the processes with CRIU, left frozen), then, only when every
    host has loaded, C(resume) (thaw) everywhere.
  - The agents hold a lease the coordinator renews every second. If the controller dies (or its link to a host
    breaks) after the load began, every agent finishes its load and resumes its vnodes within I(lease) seconds - the
    cluster ends fully in the restored state without the controller. A host that cannot load makes the coordinator
    stop every vnode instead (the checkpoints are intact; run restore.yml again).
  - Check mode reports what would be restored and changes nothing.
options:
  hosts:
    description: Per live host C({address, user, key, ssh_args, store, root, python, vnodes}); I(vnodes) are the
      C({name, ip}) it restores (may be empty - its instances are then only stopped or removed).
    type: dict
    required: true
  cluster:
    description: The cluster's name.
    type: str
    required: true
  ckpt:
    description: The checkpoint's id.
    type: int
    required: true
  net:
    description: C({prefix, mtu, bridge, net_up, image_dir, image_suite}) of the vnodes.
    type: dict
    required: true
  timeout:
    description: Seconds a host may take to load its vnodes.
    type: int
    default: 600
  lease:
    description: Seconds without a word from the coordinator after which an agent finishes on its own.
    type: float
    default: 5.0
author: vcluster team
"""

EXAMPLES = r"""
- name: Restore checkpoint 7
  vcluster.cluster.ckpt_restore:
    cluster: demo
    ckpt: 7
    net: {prefix: 16, mtu: 1400, bridge: vcbr0, net_up: /usr/local/libexec/vcluster/vnode-net-up,
          image_dir: /var/lib/vcluster/images, image_suite: bookworm}
    hosts:
      a-h1: {address: 10.240.0.12, user: root, key: /root/.ssh/id_ed25519, ssh_args: "", store: /srv/store,
             root: /srv/vnodes, python: /usr/bin/python3, vnodes: [{name: vn-a1, ip: 10.241.0.11}]}
  delegate_to: localhost
"""

RETURN = r"""
report:
  description: >-
    C({ckpt, loaded, resumed, steps, load, resume, failures}); C(load) and C(resume) are per host, C(load) a list of
    C({vnode, chain, fs_s, total_s, state}) per vnode loaded.
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
            net=dict(type="dict", required=True),
            timeout=dict(type="int", default=600),
            lease=dict(type="float", default=5.0),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if module.check_mode:
        module.exit_json(changed=True, report={"ckpt": p["ckpt"], "check_mode": True,
                                               "restore": {h: v.get("vnodes") for h, v in p["hosts"].items()}})
    report = A.restore(p["hosts"], A.program(), p["cluster"], p["ckpt"], p["net"], timeout=p["timeout"],
                       lease=p["lease"])
    if not report["resumed"]:
        module.fail_json(msg="restore of checkpoint %d failed: %s" % (p["ckpt"], "; ".join(report["failures"])),
                         report=report)
    module.exit_json(changed=True, report=report)


if __name__ == "__main__":
    main()
