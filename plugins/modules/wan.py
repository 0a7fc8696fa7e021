#!/usr/bin/python
"""Shape an emulated WAN link: bandwidth (htb) and the NFQUEUE rules of the delayer."""

from __future__ import annotations

DOCUMENTATION = r"""
module: wan
short_description: Emulate the WAN links of a gateway (bandwidth and delay rules)
description:
  - On the gateway's WAN interface, limits the traffic sent to each peer gateway to the link's bandwidth (an htb
    class per peer, matched on the peer's address), and sends every packet arriving from a peer with a delay to
    that link's NFQUEUE (iptables mangle PREROUTING, C(--queue-bypass) so traffic flows undelayed if the delayer
    is not running). The delayer daemon (vcl-delay) holds the packets; this module only sets the rules.
  - Each direction of a link is delayed once, by the receiving gateway, so the one-way latency is the link's.
  - Compares with what it applied last (recorded in I(state_file)) and with the live qdisc and rules; re-applies
    everything only when they differ. Check mode reports it.
options:
  interface:
    description: The WAN interface.
    type: str
    default: wan0
  links:
    description: One entry per peer gateway, with C(peer) (its WAN address), C(latency_ms), C(jitter_ms),
      C(bandwidth_mbit) and C(queue) (NFQUEUE number).
    type: list
    elements: dict
    required: true
  state_file:
    description: Where the applied settings are recorded.
    type: path
    required: true
author: vcluster team
"""

EXAMPLES = r"""
- name: Emulate the link to site_b
  vcluster.cluster.wan:
    links:
      - {peer: 198.18.0.2, latency_ms: 2.5, jitter_ms: 0, bandwidth_mbit: 1000, queue: 0}
    state_file: /run/vcluster/wan/applied.json
"""

RETURN = r"""
commands:
  description: The commands run (or, in check mode, that would run).
  returned: always
  type: list
  elements: str
"""

import json
import os
import shlex

from ansible.module_utils.basic import AnsibleModule

COMMENT = "vcluster wan delay"


def desired_commands(interface, links):
    """The tc and iptables commands that set up ``links`` from scratch."""
    cmds = [["tc", "qdisc", "add", "dev", interface, "root", "handle", "1:", "htb", "default", "999"],
            ["tc", "class", "add", "dev", interface, "parent", "1:", "classid", "1:999", "htb", "rate",
             "100gbit"]]
    for i, link in enumerate(links):
        rate = "%smbit" % link["bandwidth_mbit"]
        burst = "%dk" % max(64, int(float(link["bandwidth_mbit"]) * 1000 / 8 / 100))  # 10 ms worth, >= 64 KiB
        classid = "1:%d" % (10 + i)
        cmds.append(["tc", "class", "add", "dev", interface, "parent", "1:", "classid", classid, "htb", "rate",
                     rate, "ceil", rate, "burst", burst, "cburst", burst])
        cmds.append(["tc", "filter", "add", "dev", interface, "parent", "1:", "protocol", "ip", "prio", "1",
                     "handle", "800::%x" % (0x800 + i), "u32", "match", "ip", "dst", "%s/32" % link["peer"],
                     "flowid", classid])
        if float(link["latency_ms"]) > 0 or float(link.get("jitter_ms") or 0) > 0:
            cmds.append(["iptables", "-t", "mangle", "-A", "PREROUTING", "-i", interface, "-s", "%s/32" % link["peer"],
                         "-m", "comment", "--comment", COMMENT, "-j", "NFQUEUE", "--queue-num", str(link["queue"]),
                         "--queue-bypass"])
    return cmds


def main():
    module = AnsibleModule(
        argument_spec={
            "interface": {"type": "str", "default": "wan0"},
            "links": {"type": "list", "elements": "dict", "required": True},
            "state_file": {"type": "path", "required": True},
        },
        supports_check_mode=True,
    )
    interface, links = module.params["interface"], module.params["links"]
    wanted = json.dumps({"interface": interface, "links": links}, sort_keys=True)

    def run(argv, check=True):
        rc, out, err = module.run_command(argv)
        if check and rc != 0:
            module.fail_json(msg="%s failed: %s" % (" ".join(argv), (err or out).strip()), rc=rc)
        return rc, out

    cmds = desired_commands(interface, links)
    rules = [c for c in cmds if c[0] == "iptables"]
    try:
        with open(module.params["state_file"]) as f:
            applied = f.read() == wanted
    except OSError:
        applied = False
    _rc, qdisc = run(["tc", "qdisc", "show", "dev", interface, "root"])
    _rc, mangle = run(["iptables", "-t", "mangle", "-S", "PREROUTING"])
    ours = [line for line in mangle.splitlines() if COMMENT in line]
    live = ("htb 1:" in qdisc and len(ours) == len(rules)
            and all(run(["iptables", "-t", "mangle", "-C"] + r[4:], check=False)[0] == 0 for r in rules))
    if applied and live:
        module.exit_json(changed=False, commands=[])
    # our old rules, as iptables -S prints them ("-A PREROUTING ..."), deleted first
    todo = [["iptables", "-t", "mangle", "-D"] + shlex.split(line)[1:] for line in ours] + cmds
    if not module.check_mode:
        run(["tc", "qdisc", "del", "dev", interface, "root"], check=False)  # start from a clean qdisc
        for argv in todo:
            run(argv)
        os.makedirs(os.path.dirname(module.params["state_file"]), mode=0o755, exist_ok=True)
        with open(module.params["state_file"], "w") as f:
            f.write(wanted)
    module.exit_json(changed=True, commands=[" ".join(c) for c in todo])


if __name__ == "__main__":
    main()
