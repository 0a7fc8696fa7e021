#!/usr/bin/python
"""Documentation of the action plugin vcluster.cluster.validate (it has no module code)."""

DOCUMENTATION = r"""
module: validate
short_description: Check the whole cluster inventory before anything is changed
description:
  - Runs on the controller only. Reads every physical host (the hosts of the child groups of I(sites_group)),
    the C(gateways) and C(emulated) groups and the cluster variables (C(vc_*)), and checks them all (sites and
    gateways, subnets and their overlaps, every address inside its subnet and unique, vnodes, WAN links, the
    fault-tolerance policy).
  - Fails with one line per problem, naming the host, site, vnode or variable and the fix, and changes nothing.
  - On success sets the fact C(vc_model), the plain model the other layers use.
  - The checks are plain Python in plugins/module_utils/inventory.py.
options:
  sites_group:
    description: The group whose child groups are the sites.
    type: str
    default: sites
attributes:
  check_mode:
    support: full
    description: Never changes anything.
author: vcluster team
"""

EXAMPLES = r"""
- name: Check every host, site, subnet, vnode and FT setting
  vcluster.cluster.validate:
"""

RETURN = r"""
msg:
  description: A one-line summary, or every problem, one per line.
  returned: always
  type: str
errors:
  description: One message per problem.
  returned: failed
  type: list
  elements: str
ansible_facts:
  description: C(vc_model), the validated model of the cluster (sites, hosts, vnodes, WAN links, FT policy).
  returned: success
  type: dict
"""
