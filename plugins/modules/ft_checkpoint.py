#!/usr/bin/python
"""Documentation of the action plugin vcluster.cluster.ft_checkpoint (it has no module code)."""

DOCUMENTATION = r"""
module: ft_checkpoint
short_description: Take a coordinated checkpoint of the whole cluster in one step
description:
  - Runs on the controller (the engine is C(plugins/module_utils/ft_checkpoint.py)). Opens one SSH session per
    compute host and runs the project's agent there (its source is sent over the session, nothing is installed);
    a host whose session does not start counts as down and is left out.
  - Over those sessions it scans every store, discards the checkpoints not committed everywhere, chooses the
    checkpoint's id (refusing, with nothing changed, when a vnode does not run), then runs the pause - freeze every
    vnode (barrier), dump each with CRIU and its file-system changes, manifest last, commit everywhere or abort
    everywhere, thaw - under the agents' lease (a controller that dies leaves no frozen vnode and no half
    checkpoint).
  - After the thaw each host pushes its vnodes' copies to I(replicas) peers placed by I(placement), with rsync over
    SSH on the site LANs (its own replication key, authorized on the peers for rsync writes into the store only;
    host keys pinned), as deltas against each peer's newest copy; the controller relays nothing. The peers verify
    what they received against its manifest; the catalog is written on every host and on the controller, and
    retention deletes the checkpoints beyond I(retention) everywhere.
  - Copies that could not be made leave the checkpoint committed; they are listed in C(missing).
options:
  sites:
    description: Per site, the hosts that may hold copies.
    type: dict
    required: true
  replicas:
    description: Copies of each vnode's checkpoint on peers (k).
    type: int
    required: true
  placement:
    description: How the peers are chosen.
    type: str
    choices: [random, spread]
    required: true
  retention:
    description: Committed checkpoints kept.
    type: int
    required: true
  max_chain:
    description: Longest chain of incremental file-system saves.
    type: int
    required: true
attributes:
  check_mode:
    support: full
    description: Scans and plans; changes nothing and returns the plan.
extends_documentation_fragment: vcluster.cluster.ft_agents
author: vcluster team
"""

EXAMPLES = r"""
- name: Checkpoint the cluster
  vcluster.cluster.ft_checkpoint:
    cluster: demo
    hosts: "{{ ansible_play_hosts_all | vcluster.cluster.vc_ft_ssh_hosts(hostvars) }}"
    emulated: "{{ groups['emulated'] | default([]) }}"
    vnodes: "{{ vc_model.vnodes }}"
    sites: "{{ vc_model.sites | vcluster.cluster.vc_ft_holders(groups['gateways']) }}"
    replicas: 1
    placement: spread
    retention: 3
    max_chain: 3
    lease: 5
    controller_dir: /var/lib/vcluster/ft
  delegate_to: localhost
  run_once: true
  register: ckpt
"""

RETURN = r"""
result:
  description: The checkpoint's result (plugins/module_utils/ft_result.py) - id, pause, dumps, size, replicas with the
    bytes each push sent, replication time, deleted ids, warnings, missing copies, and the seconds of each phase.
  returned: success, not in check mode
  type: dict
missing:
  description: The copies that could not be made (the checkpoint stays committed).
  returned: success, not in check mode
  type: list
  elements: str
down:
  description: The compute hosts that did not answer.
  returned: success, not in check mode
  type: list
  elements: str
plan:
  description: In check mode, the checkpoint it would take - id, dumps per host, ids it would discard.
  returned: check mode
  type: dict
"""
