#!/usr/bin/python
"""Documentation of the action plugin vcluster.cluster.ft_restore (it has no module code)."""

DOCUMENTATION = r"""
module: ft_restore
short_description: Restore the whole cluster to a checkpoint in one step
description:
  - Runs on the controller (the engine is C(plugins/module_utils/ft_restore.py)). Opens one SSH session per compute
    host and runs the project's agent there; a host whose session does not start counts as down and is left out.
  - Verifies every copy on the live hosts against its manifest and plans where each vnode is restored (its home
    when that host is up, else a host holding a verified copy of its whole chain); refuses, before anything changes,
    when a vnode has no verified copy on a live host or I(ckpt) is not a committed checkpoint.
  - The hosts that hold a copy a restoring host lacks push it there (rsync host to host, delta against the copies it
    has); the receiver verifies it.
  - Then every live host stops its vnode instances and loads its vnodes from the checkpoint with their processes
    frozen; all resume only when all are loaded (the agents finish the restore if the controller dies). A failed
    load stops every vnode and changes no checkpoint.
  - Writes the catalog, with where every vnode runs now, on every host and on the controller.
options:
  ckpt:
    description: The checkpoint, an id or C(latest).
    type: str
    default: latest
  net:
    description: The vnodes' network C({prefix, mtu, bridge, net_up, image_dir, image_suite}).
    type: dict
    required: true
attributes:
  check_mode:
    support: full
    description: Verifies and plans; changes nothing and returns the plan.
extends_documentation_fragment: vcluster.cluster.ft_agents
author: vcluster team
"""

EXAMPLES = r"""
- name: Restore the latest checkpoint
  vcluster.cluster.ft_restore:
    cluster: demo
    hosts: "{{ ansible_play_hosts_all | vcluster.cluster.vc_ft_ssh_hosts(hostvars) }}"
    emulated: "{{ groups['emulated'] | default([]) }}"
    vnodes: "{{ vc_model.vnodes }}"
    ckpt: latest
    net: {prefix: 24, mtu: 1400, bridge: vcbr0, net_up: /usr/local/libexec/vcluster/vnode-net-up,
          image_dir: /var/lib/vcluster/images, image_suite: bookworm}
    lease: 5
    controller_dir: /var/lib/vcluster/ft
  delegate_to: localhost
  run_once: true
  register: restored
"""

RETURN = r"""
lines:
  description: The plan as a person reads it - the checkpoint, the hosts down, per vnode where it is restored and
    from which copy, the damaged copies skipped.
  returned: always
  type: list
  elements: str
result:
  description: The restore's result (plugins/module_utils/ft_result.py) - id, hosts, per-vnode loads, placement,
    moved vnodes, skipped copies, the restore phase's seconds.
  returned: success, not in check mode
  type: dict
plan:
  description: In check mode, the restore plan.
  returned: check mode
  type: dict
"""
