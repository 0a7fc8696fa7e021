#!/usr/bin/python
"""Wait for checkpoint requests made inside the vnodes (runs on the controller)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: ckpt_watch
short_description: Wait for checkpoint requests made inside the vnodes, answer the ones already honoured
description:
  - Runs on the controller. Opens one SSH session per host and starts the checkpoint agent there in watch mode
    (plugins/module_utils/ft_agent.py; its source goes over the session, nothing is installed). The agent looks
    every half second for requests that jobs made with C(vcluster-checkpoint) inside the host's vnodes (a
    C(<token>.req) file in C(/var/lib/vcluster/ckpt-requests)).
  - A request whose token is in I(answers) was honoured already (also when a restore brought the request back);
    its answer, the checkpoint id, is written next to it at once and it is not reported again.
  - Returns when a new request arrived (after I(settle) seconds more, for requests made at the same time), or
    after I(wait) seconds, and never before every host looked once. Hosts that cannot be reached are reported, not
    fatal. Changes nothing but the answer files.
options:
  hosts:
    description: Per host name C({address, user, key, ssh_args, root, python}).
    type: dict
    required: true
  wait:
    description: Seconds to wait for a new request (0 - answer and look once).
    type: float
    default: 0
  answers:
    description: Requests honoured already, C({token - checkpoint id}).
    type: dict
    default: {}
  settle:
    description: Seconds to go on collecting after the first new request.
    type: float
    default: 1
author: vcluster team
"""

EXAMPLES = r"""
- name: Wait up to 10 minutes for a request
  vcluster.cluster.ckpt_watch:
    wait: 600
    answers: {vn-a1-1764320000-77: 7}
    hosts:
      a-h1: {address: 10.240.0.12, user: root, key: /root/.ssh/id_ed25519, ssh_args: "", root: /srv/vnodes,
             python: /usr/bin/python3}
  delegate_to: localhost
"""

RETURN = r"""
requests:
  description: New requests, C([{vnode, token, host}]).
  type: list
  returned: always
answered:
  description: Requests answered now from I(answers), C([{vnode, token, host, ckpt}]).
  type: list
  returned: always
down:
  description: Hosts that could not be watched, C({host - why}).
  type: dict
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vcluster.cluster.plugins.module_utils import ft_agent as A


def main():
    module = AnsibleModule(
        argument_spec=dict(
            hosts=dict(type="dict", required=True),
            wait=dict(type="float", default=0),
            answers=dict(type="dict", default={}),
            settle=dict(type="float", default=1),
        ),
        supports_check_mode=True,
    )
    p = module.params
    program = A.program()
    if module.check_mode:  # look once, write nothing: every waiting request is listed
        result = A.watch_requests(p["hosts"], program, 0, {}, settle=0)
        module.exit_json(changed=False, **result)
    result = A.watch_requests(p["hosts"], program, p["wait"], p["answers"], settle=p["settle"])
    module.exit_json(changed=bool(result["answered"]), **result)


if __name__ == "__main__":
    main()
