"""An inventory for S sites x H compute hosts x V vnodes, written out: plain Python.

``scripts/make-inventory`` is a thin wrapper. ``generate`` returns the files of
an inventory directory ({relative path: text}) in the layout of
inventories/local: hosts.yml, group_vars/all/*.yml, one group_vars/<site>/
per site and, for a cluster emulated on this machine, group_vars/emulated/.

Names (emulated hosts live in interface names, so they are short): site k is
``site_<letter>``; its gateway ``<prefix><letter>-gw``, its compute hosts
``<prefix><letter>-h<i>``; vnode j of a host ``<host>-v<j>``. Addresses, from
one number NET (10.NET.x.y must be free on this machine, as the management
network is the one the controller joins):

    management   10.NET.0.0/24    gateways .<11+16k>, hosts .<12+16k+i>
    site k LAN   10.NET.<k+1>.0/24  gateway .1, hosts .<10+i>
    overlay      10.<NET+1>.0.0/24 (or /16 past 240 vnodes): vnodes from .11
    WAN          198.18.NET.0/24  gateway of site k .<k+1>

Every pair of sites gets a WAN link (full mesh). A real-machines skeleton
(``emulated=False``) has the same structure with placeholders
(``CHANGE-ME``) where only the operator knows the value; validation refuses
it until they are filled in.
"""

import ipaddress
import string

MAX_SITES = 15            # 16 management addresses per site (.11 + 16k ... .26 + 16k)
MAX_HOSTS_PER_SITE = 14
PLACEHOLDER = "CHANGE-ME"


class GenError(ValueError):
    """Parameters that cannot make a valid inventory (the message says which and why)."""


def _check(sites, hosts_per_site, vnodes_per_host, net, name, prefix):
    if not 1 <= sites <= MAX_SITES:
        raise GenError("--sites %d: give 1 to %d sites" % (sites, MAX_SITES))
    if not 1 <= hosts_per_site <= MAX_HOSTS_PER_SITE:
        raise GenError("--hosts-per-site %d: give 1 to %d compute hosts per site" % (hosts_per_site,
                                                                                      MAX_HOSTS_PER_SITE))
    if not 0 <= vnodes_per_host <= 16:
        raise GenError("--vnodes-per-host %d: give 0 to 16 vnodes per compute host" % vnodes_per_host)
    if not 1 <= net <= 253:
        raise GenError("--net %d: give 1 to 253 (the networks are 10.NET.x.y and 10.NET+1.x.y)" % net)
    if not (name and name[0] in string.ascii_lowercase and len(name) <= 11
            and all(c in string.ascii_lowercase + string.digits + "-" for c in name)):
        raise GenError("--name %r: lower-case letters, digits and '-', starting with a letter, at most 11 "
                       "characters (emulated: it names interfaces)" % name)
    if not (prefix and prefix[0] in string.ascii_lowercase and len(prefix) <= 4
            and all(c in string.ascii_lowercase + string.digits for c in prefix)):
        raise GenError("--prefix %r: 1 to 4 lower-case letters or digits, starting with a letter" % prefix)


def layout(sites, hosts_per_site, vnodes_per_host, net=200, name="gen", prefix=None):
    """The cluster as data: {sites: {site: {subnet, gateway, hosts}}, hosts: {host: {...}}, vnodes: [...],
    overlay, wan_subnet, mgmt_subnet, links}."""
    prefix = prefix or name.replace("-", "")[:3]
    _check(sites, hosts_per_site, vnodes_per_host, net, name, prefix)
    total = sites * hosts_per_site * vnodes_per_host
    overlay = ipaddress.IPv4Network("10.%d.0.0/%d" % (net + 1, 24 if total <= 240 - sites else 16))
    out = {"sites": {}, "hosts": {}, "vnodes": [], "overlay": str(overlay), "wan_subnet": "198.18.%d.0/24" % net,
           "mgmt_subnet": "10.%d.0.0/24" % net, "links": []}
    vnode_ip = overlay.network_address + 11
    for k in range(sites):
        letter = string.ascii_lowercase[k]
        site = "site_" + letter
        gateway = "%s%s-gw" % (prefix, letter)
        out["sites"][site] = {"subnet": "10.%d.%d.0/24" % (net, k + 1), "gateway": gateway, "hosts": [gateway]}
        out["hosts"][gateway] = {"site": site, "mgmt_ip": "10.%d.0.%d" % (net, 11 + 16 * k),
                                 "lan_ip": "10.%d.%d.1" % (net, k + 1), "wan_ip": "198.18.%d.%d" % (net, k + 1)}
        for i in range(1, hosts_per_site + 1):
            host = "%s%s-h%d" % (prefix, letter, i)
            out["sites"][site]["hosts"].append(host)
            out["hosts"][host] = {"site": site, "mgmt_ip": "10.%d.0.%d" % (net, 11 + 16 * k + i),
                                  "lan_ip": "10.%d.%d.%d" % (net, k + 1, 10 + i)}
            for j in range(1, vnodes_per_host + 1):
                out["vnodes"].append({"name": "%s-v%d" % (host, j), "host": host, "ip": str(vnode_ip)})
                vnode_ip += 1
    names = sorted(out["sites"])
    out["links"] = [{"sites": [a, b], "latency_ms": 0, "jitter_ms": 0, "bandwidth_mbit": 1000}
                    for i, a in enumerate(names) for b in names[i + 1:]]
    return out


def _yaml_list(items, indent):
    return "".join("%s- %s\n" % (" " * indent, item) for item in items)


def generate(sites, hosts_per_site, vnodes_per_host, net=200, name="gen", prefix=None, vpn="openvpn",
             emulated=True, state_dir=None, command=""):
    """The inventory's files: {relative path: text}."""
    if vpn not in ("openvpn", "wireguard", "ipsec"):
        raise GenError("--vpn %r: one of openvpn, wireguard, ipsec" % vpn)
    lay = layout(sites, hosts_per_site, vnodes_per_host, net, name, prefix)
    state_dir = state_dir or "/var/lib/vcluster/" + name
    head = "# Made by scripts/make-inventory%s.\n" % (" " + command if command else "")
    hosts = [head + "---\nall:\n  children:\n    sites:\n      children:\n"]
    for site, info in lay["sites"].items():
        hosts.append("        %s:\n          hosts:\n" % site)
        for host in info["hosts"]:
            h = lay["hosts"][host]
            hosts.append("            %s:\n" % host)
            hosts.append("              ansible_host: %s\n" % (h["mgmt_ip"] if emulated else PLACEHOLDER))
            hosts.append("              vc_lan_ip: %s\n" % (h["lan_ip"] if emulated else PLACEHOLDER))
            if "wan_ip" in h:
                hosts.append("              vc_wan_ip: %s\n" % (h["wan_ip"] if emulated else PLACEHOLDER))
    hosts.append("    gateways:\n      hosts:\n")
    hosts += ["        %s:\n" % info["gateway"] for info in lay["sites"].values()]
    if emulated:
        hosts.append("    emulated:\n      children:\n        sites:\n")
    files = {"hosts.yml": "".join(hosts)}
    cluster = [head, "---\n", "vc_cluster_name: %s\n" % name, "vc_overlay_subnet: %s\n" % lay["overlay"],
               "vc_overlay_mtu: 1400\n", "vc_gateway_vpn: %s\n" % vpn]
    if emulated:
        cluster.append("vc_wan_subnet: %s\n" % lay["wan_subnet"])
    files["group_vars/all/cluster.yml"] = "".join(cluster)
    wan = [head, "---\n"]
    if lay["links"]:
        wan.append("vc_wan_links:\n")
        for link in lay["links"]:
            wan.append("  - sites: [%s, %s]\n    latency_ms: 0\n    jitter_ms: 0\n    bandwidth_mbit: 1000\n"
                       % tuple(link["sites"]))
    else:
        wan.append("vc_wan_links: []\n")
    files["group_vars/all/wan.yml"] = "".join(wan)
    vnodes = [head, "---\n", "vc_vnodes:\n" if lay["vnodes"] else "vc_vnodes: []\n"]
    for vn in lay["vnodes"]:
        vnodes.append("  - name: %s\n    host: %s\n    ip: %s\n" % (vn["name"], vn["host"], vn["ip"]))
    files["group_vars/all/vnodes.yml"] = "".join(vnodes)
    compute = sites * hosts_per_site
    files["group_vars/all/ft.yml"] = head + "---\nvc_ft_replicas: %d\nvc_ft_placement: spread\nvc_ft_retention: 3\n" \
        % min(1, compute - 1)
    for site, info in lay["sites"].items():
        files["group_vars/%s/site.yml" % site] = head + "---\nvc_site_subnet: %s\n" % (
            info["subnet"] if emulated else PLACEHOLDER)
    if emulated:
        files["group_vars/emulated/testbed.yml"] = head + "".join([
            "---\n", "vc_mgmt_subnet: %s\n" % lay["mgmt_subnet"], "testbed_state_dir: %s\n" % state_dir,
            "vc_store_dir: %s/hosts/{{ inventory_hostname }}/disk\n" % state_dir, "host_shared_root: true\n",
            "ansible_user: root\n", "ansible_ssh_private_key_file: %s/controller/id_ed25519\n" % state_dir,
            "ansible_ssh_common_args: >-\n  -o UserKnownHostsFile=%s/known_hosts\n  -o StrictHostKeyChecking=yes\n"
            % state_dir, "ansible_python_interpreter: /usr/bin/python3\n",
            "vc_host_etc: %s/hosts/{{ inventory_hostname }}/etc\n" % state_dir,
            "vc_host_run: %s/hosts/{{ inventory_hostname }}/run\n" % state_dir,
            "vc_ssh_host_key: %s/hosts/{{ inventory_hostname }}/ssh/ssh_host_ed25519_key.pub\n" % state_dir,
            "vc_ssh_authorized_keys: %s/hosts/{{ inventory_hostname }}/ssh/authorized_keys\n" % state_dir])
    return files
