#!/usr/bin/python
"""Documentation of the action plugin vcluster.cluster.validate (it has no module code)."""

DOCUMENTATION = r"""
module: validate
short_description: Check the whole cluster inventory before anything is changed
description:
  - Runs on the controller only and takes no arguments. Reads the sites (the child groups of C(sites)), their hosts,
    the C(gateways) and C(emulated) groups and the cluster variables (C(vc_*)), and checks them all together.
  - It checks sites and gateways, names, subnets and their overlaps, every address (valid, inside its subnet,
    unique), vnodes, WAN links and the fault-tolerance policy.
  - Fails with one line per problem, each naming the host, site, vnode or WAN link, the variable and the fix; it
    changes nothing, so it is the first task of every entry playbook.
  - On success sets the fact C(vc_model), the plain model of the cluster the other layers use.
  - The checks are plain Python in C(plugins/module_utils/inventory.py).
options: {}
attributes:
  check_mode:
    support: full
    description: Never changes anything; behaves the same in check mode.
  diff_mode:
    support: none
    description: Nothing to show.
  platform:
    platforms: all
    description: Runs on the controller.
author: vcluster team
"""

EXAMPLES = r"""
- name: Check every host, site, subnet, vnode and FT setting
  vcluster.cluster.validate:
  register: __vc_validate

- name: Report the cluster
  ansible.builtin.debug:
    msg: "{{ __vc_validate.msg }}"
"""

RETURN = r"""
msg:
  description: A one-line summary, or every problem, one per line.
  returned: always
  type: str
  sample: "Inventory is valid: 2 sites, 6 hosts, 4 vnodes"
errors:
  description: One message per problem, sorted.
  returned: failed
  type: list
  elements: str
  sample:
    - "host a-h1: vc_lan_ip 10.240.2.50 is not in site_a's vc_site_subnet 10.240.1.0/24; pick a free address in
      10.240.1.0/24"
ansible_facts:
  description: The validated model of the cluster.
  returned: success
  type: dict
  contains:
    vc_model:
      description: C(cluster) (name), C(sites) (subnet, hosts, gateway), C(hosts) (site, lan_ip, wan_ip, mgmt_ip,
        gateway, emulated, store_dir), C(vnodes), C(wan_links) (jitter_ms filled in), C(ft) (replicas, placement,
        retention), C(overlay) (subnet, mtu), C(wan_subnet), C(mgmt_subnet).
      type: dict
      returned: success
"""
