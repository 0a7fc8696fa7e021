"""The cluster model read from an Ansible inventory, and its validation.

Plain Python (no Ansible): ``build_model(hostvars, groups)`` turns the
inventory into a plain dict and never raises on bad input; ``validate(model)``
returns one message per problem, each naming the host, site, vnode or
variable and saying how to fix it. An empty list means the inventory is valid.
"""

import ipaddress
import re

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
EMULATED_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,11}$")
EMULATED_CLUSTER_RE = re.compile(r"^[a-z][a-z0-9-]{0,10}$")
SITE_RE = re.compile(r"^[a-z][a-z0-9_]{0,11}$")
PLACEMENTS = ("random", "spread")
MTU_RANGE = (576, 9000)


def _get(hostvars, host, name):
    try:
        return hostvars[host].get(name)
    except (KeyError, AttributeError, TypeError):
        return None


def build_model(hostvars, groups, site_names):
    """Plain model of the cluster from Ansible's ``hostvars``, ``groups`` and
    the names of the child groups of ``sites``.

    Cluster-wide settings are read from the first physical host (group_vars/all
    gives every host the same value)."""
    groups = groups or {}
    site_names = sorted(site_names or [])
    physical = sorted({h for s in site_names for h in groups.get(s, [])})
    emulated = set(groups.get("emulated", []))
    gateways = set(groups.get("gateways", []))
    ref = physical[0] if physical else None

    def cluster(name, default=None):
        value = _get(hostvars, ref, name) if ref else None
        return default if value is None else value

    sites = {}
    for site in site_names:
        members = sorted(groups.get(site, []))
        site_gateways = sorted(h for h in members if h in gateways)
        sites[site] = {
            "subnet": _get(hostvars, members[0], "vc_site_subnet") if members else None,
            "hosts": members,
            "gateways": site_gateways,
            "gateway": site_gateways[0] if len(site_gateways) == 1 else None,
        }
    hosts = {}
    for host in physical:
        in_sites = sorted(s for s in site_names if host in groups.get(s, []))
        hosts[host] = {
            "site": in_sites[0] if in_sites else None,
            "sites": in_sites,
            "gateway": host in gateways,
            "emulated": host in emulated,
            "lan_ip": _get(hostvars, host, "vc_lan_ip"),
            "wan_ip": _get(hostvars, host, "vc_wan_ip"),
            "mgmt_ip": _get(hostvars, host, "ansible_host") if host in emulated else None,
            "store_dir": _get(hostvars, host, "vc_store_dir"),
        }
    return {
        "cluster": cluster("vc_cluster_name"),
        "sites": sites,
        "hosts": hosts,
        "gateways_outside_sites": sorted(gateways - set(physical)),
        "emulated_outside_sites": sorted(emulated - set(physical)),
        "overlay": {"subnet": cluster("vc_overlay_subnet"), "mtu": cluster("vc_overlay_mtu")},
        "wan_subnet": cluster("vc_wan_subnet"),
        "mgmt_subnet": cluster("vc_mgmt_subnet") if emulated else None,
        "wan_links": cluster("vc_wan_links", []),
        "vnodes": cluster("vc_vnodes", []),
        "ft": {"replicas": cluster("vc_ft_replicas"), "placement": cluster("vc_ft_placement"),
               "retention": cluster("vc_ft_retention")},
    }


def _network(value):
    try:
        return ipaddress.IPv4Network(str(value), strict=True) if value is not None else None
    except ValueError:
        return None


def _address(value):
    try:
        return ipaddress.IPv4Address(str(value)) if value is not None else None
    except ValueError:
        return None


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class _Checker:
    def __init__(self, model):
        self.model = model
        self.errors = []
        self.networks = {}  # label -> network
        self.addresses = {}  # address -> first owner label

    def error(self, msg):
        self.errors.append(msg)

    def subnet(self, label, variable, value, where):
        net = _network(value)
        if value is None:
            self.error("%s: %s is not set; set it to an IPv4 network such as 10.240.1.0/24" % (where, variable))
        elif net is None:
            self.error("%s: %s %r is not an IPv4 network; write it as ADDRESS/PREFIX with the host bits zero, "
                       "e.g. 10.240.1.0/24" % (where, variable, value))
        else:
            self.networks[label] = (net, "%s %s" % (where, variable))
        return net

    def address(self, owner, variable, value, net, net_label):
        """Check an address: set, valid, inside ``net``, unique."""
        addr = _address(value)
        if value is None:
            self.error("%s: %s is not set; give it an address in %s" % (owner, variable, net_label))
            return
        if addr is None:
            self.error("%s: %s %r is not an IPv4 address; give it an address in %s" % (owner, variable, value,
                                                                                     net_label))
            return
        if net is not None:
            if addr not in net:
                self.error("%s: %s %s is not in %s %s; pick a free address in %s" % (owner, variable, addr,
                                                                                     net_label, net, net))
            elif net.prefixlen < 31 and addr in (net.network_address, net.broadcast_address):
                self.error("%s: %s %s is the network or broadcast address of %s; pick a host address"
                           % (owner, variable, addr, net))
        label = "%s (%s)" % (owner, variable)
        first = self.addresses.setdefault(str(addr), label)
        if first != label:
            self.error("%s: %s %s is already used by %s; every address must be unique" % (owner, variable, addr,
                                                                                          first))


def validate(model):
    """Every problem of the model, one message each (empty list: valid)."""
    c = _Checker(model)
    sites, hosts = model.get("sites", {}), model.get("hosts", {})
    emulated = [h for h in sorted(hosts) if hosts[h]["emulated"]]
    name = model.get("cluster")
    if not isinstance(name, str) or not NAME_RE.match(name):
        c.error("vc_cluster_name %r is not a valid name; use lower-case letters, digits and '-' "
                "(at most 31 characters, starting with a letter)" % (name,))
    elif emulated and not EMULATED_CLUSTER_RE.match(name):
        c.error("vc_cluster_name %r is too long for an emulated cluster (it names a link); use at most 11 "
                "characters" % name)
    if not sites:
        c.error("inventory has no sites: declare each site as a child group of the group 'sites'")
    for group in model.get("gateways_outside_sites", []):
        c.error("host %s: it is in 'gateways' but in no site; add it to one child group of 'sites'" % group)
    for group in model.get("emulated_outside_sites", []):
        c.error("host %s: it is in 'emulated' but in no site; add it to one child group of 'sites'" % group)

    # Networks first, so addresses can be checked against them.
    overlay = c.subnet("overlay", "vc_overlay_subnet", model["overlay"]["subnet"], "cluster")
    wan = c.subnet("wan", "vc_wan_subnet", model.get("wan_subnet"), "cluster")
    mgmt = c.subnet("mgmt", "vc_mgmt_subnet", model.get("mgmt_subnet"), "emulated hosts") if emulated else None
    site_nets = {}
    for site in sorted(sites):
        if not SITE_RE.match(site):
            c.error("site %s: the group name is not a valid site name; use lower-case letters, digits and '_' "
                    "(at most 12 characters, starting with a letter)" % site)
        site_nets[site] = c.subnet("site " + site, "vc_site_subnet", sites[site]["subnet"], "site " + site)
        gws = sites[site]["gateways"]
        if not gws:
            c.error("site %s: has no gateway; add exactly one of its hosts to the group 'gateways'" % site)
        elif len(gws) > 1:
            c.error("site %s: has %d gateways (%s); keep exactly one of them in the group 'gateways'"
                    % (site, len(gws), ", ".join(gws)))
    labels = sorted(c.networks)
    for i, first in enumerate(labels):
        for second in labels[i + 1:]:
            (net1, what1), (net2, what2) = c.networks[first], c.networks[second]
            if net1.overlaps(net2):
                c.error("%s %s overlaps %s %s; give every network its own range" % (what1, net1, what2, net2))

    for host in sorted(hosts):
        h, owner = hosts[host], "host " + host
        if len(h["sites"]) > 1:
            c.error("%s: it is in %d sites (%s); a host belongs to exactly one site" % (owner, len(h["sites"]),
                                                                                        ", ".join(h["sites"])))
        if h["emulated"] and not EMULATED_NAME_RE.match(host):
            c.error("%s: the name of an emulated host must be lower-case letters, digits and '-', at most 12 "
                    "characters (it names network links); rename it" % owner)
        site = h["site"]
        c.address(owner, "vc_lan_ip", h["lan_ip"], site_nets.get(site), "%s's vc_site_subnet" % site)
        if h["gateway"]:
            c.address(owner, "vc_wan_ip", h["wan_ip"], wan, "vc_wan_subnet")
        elif h["wan_ip"] is not None:
            c.error("%s: has vc_wan_ip but is not a gateway; remove vc_wan_ip or add the host to 'gateways'"
                    % owner)
        if h["emulated"]:
            c.address(owner, "ansible_host", h["mgmt_ip"], mgmt, "vc_mgmt_subnet")
        store = h["store_dir"]
        if not isinstance(store, str) or not store.startswith("/"):
            c.error("%s: vc_store_dir %r is not an absolute path; set it to the directory of the host's "
                    "checkpoint store" % (owner, store))

    mtu = model["overlay"]["mtu"]
    if not _is_int(mtu) or not MTU_RANGE[0] <= mtu <= MTU_RANGE[1]:
        c.error("cluster: vc_overlay_mtu %r is not an integer between %d and %d; use e.g. 1500" % ((mtu,) + MTU_RANGE))

    vnodes = model.get("vnodes")
    if not isinstance(vnodes, list):
        c.error("cluster: vc_vnodes must be a list of {name, host, ip}")
        vnodes = []
    seen = set()
    for i, vn in enumerate(vnodes):
        if not isinstance(vn, dict):
            c.error("vc_vnodes[%d]: must be a mapping with name, host and ip" % i)
            continue
        vname = vn.get("name")
        owner = "vnode %s" % vname if isinstance(vname, str) else "vc_vnodes[%d]" % i
        if not isinstance(vname, str) or not NAME_RE.match(vname):
            c.error("%s: name %r is not a valid host name; use lower-case letters, digits and '-'" % (owner, vname))
        elif vname in seen:
            c.error("%s: declared twice in vc_vnodes; give every vnode its own name" % owner)
        seen.add(vname)
        if vn.get("host") not in hosts:
            c.error("%s: host %r is not a physical host of the inventory; use one of %s"
                    % (owner, vn.get("host"), ", ".join(sorted(hosts))))
        c.address(owner, "ip", vn.get("ip"), overlay, "vc_overlay_subnet")

    links = model.get("wan_links")
    if not isinstance(links, list):
        c.error("cluster: vc_wan_links must be a list of {sites, latency_ms, jitter_ms, bandwidth_mbit}")
        links = []
    pairs = {}
    for i, link in enumerate(links):
        owner = "vc_wan_links[%d]" % i
        if not isinstance(link, dict):
            c.error("%s: must be a mapping with sites, latency_ms, jitter_ms and bandwidth_mbit" % owner)
            continue
        ends = link.get("sites")
        if not isinstance(ends, list) or len(ends) != 2 or ends[0] == ends[1]:
            c.error("%s: sites must name two different sites, e.g. [site_a, site_b]" % owner)
        else:
            unknown = [s for s in ends if s not in sites]
            for site in unknown:
                c.error("%s: unknown site %r; use one of %s" % (owner, site, ", ".join(sorted(sites))))
            if not unknown:
                pair = tuple(sorted(ends))
                if pair in pairs:
                    c.error("%s: a second link between %s and %s (first: vc_wan_links[%d]); keep one"
                            % (owner, pair[0], pair[1], pairs[pair]))
                pairs.setdefault(pair, i)
        for key, minimum, required in (("latency_ms", 0, True), ("jitter_ms", 0, False),
                                       ("bandwidth_mbit", None, True)):
            value = link.get(key)
            if value is None and not required:
                continue
            if not _is_number(value) or (minimum is not None and value < minimum) or (minimum is None and value <= 0):
                bound = ">= 0" if minimum is not None else "> 0"
                c.error("%s: %s %r is not a number %s; write a plain number, e.g. %s: %s"
                        % (owner, key, value, bound, key, "100" if key == "bandwidth_mbit" else "0.5"))
    names = sorted(sites)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            if (first, second) not in pairs:
                c.error("sites %s and %s: no WAN link between them; add an entry with sites: [%s, %s] to "
                        "vc_wan_links" % (first, second, first, second))

    ft = model.get("ft", {})
    k = ft.get("replicas")
    if not _is_int(k) or k < 0:
        c.error("cluster: vc_ft_replicas %r is not an integer >= 0; set the number of peer copies, e.g. 1" % (k,))
    elif hosts and k >= len(hosts):
        c.error("cluster: vc_ft_replicas %d must be smaller than the number of physical hosts (%d); use at most %d"
                % (k, len(hosts), len(hosts) - 1))
    if ft.get("placement") not in PLACEMENTS:
        c.error("cluster: vc_ft_placement %r is not one of %s" % (ft.get("placement"), ", ".join(PLACEMENTS)))
    r = ft.get("retention")
    if not _is_int(r) or r < 1:
        c.error("cluster: vc_ft_retention %r is not an integer >= 1; keep at least the last checkpoint" % (r,))
    return c.errors
