"""The cluster model read from an Ansible inventory, and its validation.

Plain Python (no Ansible): ``build_model(hostvars, groups)`` turns the
inventory into a plain dict and never raises on bad input; ``validate(model)``
returns one message per problem, each naming the host, site, vnode or WAN link,
the variable and the fix. An empty list means the inventory is valid.
"""

import difflib
import ipaddress
import json
import math
import os
import re
import subprocess
from collections.abc import Mapping

try:
    from ansible_collections.vcluster.cluster.plugins.module_utils import paths, testbed
except ImportError:  # scripts/plan imports this file alone, with plugins/module_utils on sys.path
    import paths  # pylint: disable=import-error
    import testbed  # pylint: disable=import-error

# Cluster and vnode names (a vnode's name is its host name: no '-' at the end).
NAME_RE = re.compile(r"^[a-z](?:[a-z0-9-]{0,29}[a-z0-9])?\Z")
NAME_RULE = ("lower-case letters, digits and '-', starting with a letter and not ending with '-', at most 31 "
             "characters, e.g. demo")
# Names inside interface names (at most 15 characters): "l-<host>", "br-<site>", "vcl-<cluster>".
EMULATED_HOST_RE = re.compile(r"^[a-z](?:[a-z0-9-]{0,10}[a-z0-9])?\Z")
EMULATED_CLUSTER_RE = re.compile(r"^[a-z][a-z0-9-]{0,10}\Z")
SITE_RE = re.compile(r"^[a-z][a-z0-9_]{0,11}\Z")
PLACEMENTS = ("random", "spread")
MTU_MIN, MTU_MAX = 576, 9000
RESERVED_GROUPS = ("all", "ungrouped", "sites", "gateways", "emulated")
VNODE_KEYS = ("name", "host", "ip", "backend", "memory_mb", "vcpus")
# How a vnode runs: an LXC system container or a QEMU/KVM virtual machine.
BACKENDS = ("lxc", "kvm")
# A virtual machine's defaults and bounds (docs/inventory.md).
VM_DEFAULTS = {"memory_mb": 512, "vcpus": 1}
VM_MEMORY_MB = (128, 1048576)
VM_VCPUS = (1, 256)
# Every variable of docs/inventory.md (tests/unit/test_inventory.py compares
# the two): an inventory or extra-var named vc_* that is not here is a typo.
KNOWN_VARIABLES = (
    "vc_cluster_name", "vc_site_subnet", "vc_lan_ip", "vc_wan_ip", "vc_store_dir", "vc_overlay_ip",
    "vc_overlay_uplink", "vc_wan_interface", "vc_lan_interface", "vc_host_etc", "vc_host_run",
    "vc_overlay_subnet", "vc_overlay_mtu", "vc_gateway_vpn", "vc_vpn_port_base", "vc_wan_subnet", "vc_mgmt_subnet",
    "vc_wan_links", "vc_vnodes", "vc_mpi_packages", "vc_ft_replicas", "vc_ft_placement", "vc_ft_retention",
    "vc_ft_max_chain", "vc_ft_lock_dir", "vc_ft_checkpoint_cost_s", "vc_ft_restart_cost_s", "vc_ft_host_mtbf_h",
    "vc_ft_periodic", "vc_ft_interval_s", "vc_ft_controller_dir", "vc_ft_lease_s", "vc_recreate",
    "vc_ft_replication_mbit", "vc_ssh_host_key", "vc_ssh_authorized_keys", "vc_vnode_backend")
# Directories a store, a vnode directory or a controller directory must never
# be, nor be a parent of: the project deletes what it made under them.
SYSTEM_DIRS = ("/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/media", "/mnt",
               "/opt", "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var", "/var/lib",
               "/var/log", "/var/cache", "/var/tmp", "/var/run", "/var/lock", "/run/lock", "/usr/local",
               "/usr/lib", "/usr/bin", "/usr/sbin", "/usr/share", "/etc/ssh", "/var/lib/lxc")
# Facts the project's own plays set (never in an inventory).
RUNTIME_FACTS = ("vc_model", "vc_placement")
# An example for the message about each directory variable.
EXAMPLE_DIRS = {"vc_host_etc": "/etc/vcluster", "vc_host_run": "/run/vcluster",
                "vnode_root": "/var/lib/vcluster/vnodes"}
# The defaults of the SSH files replication uses (paths.py), as examples.
SSH_FILE_EXAMPLES = {"vc_ssh_host_key": paths.SSH_HOST_KEY, "vc_ssh_authorized_keys": paths.SSH_AUTHORIZED_KEYS}
PLAIN_FILE_RE = re.compile(r"^/[A-Za-z0-9_.+/-]*[A-Za-z0-9_.+-]\Z")
IFNAME_RE = re.compile(r"^(?!\.\.?\Z)[A-Za-z0-9_.-]{1,15}\Z")  # not '.' nor '..'
# The interfaces the testbed makes in an emulated host, by the variable that names them.
EMULATED_INTERFACES = {"vc_overlay_uplink": "ovl0", "vc_wan_interface": "wan0", "vc_lan_interface": "lan0"}
PACKAGE_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]+\Z")


def unsafe_dir(path):
    """Why ``path`` must not be a directory the project creates and removes,
    or None: not absolute, with '..', '/', a system directory or a parent of
    one."""
    if not isinstance(path, str) or not path.startswith("/"):
        return "is not an absolute path"
    if path != path.strip() or any(ord(ch) < 32 or ord(ch) == 127 for ch in path):
        return "has white space at its start or end, or a control character"
    if "/../" in path + "/" or "/./" in path + "/" or "//" in path:
        return "is not a plain absolute path (no '.', '..' or '//')"
    norm = os.path.normpath(path)
    if norm == "/":
        return "is the root directory"
    if norm in SYSTEM_DIRS:
        return "is the system directory %s" % norm
    for system in SYSTEM_DIRS:
        if system.startswith(norm + "/"):
            return "is a parent of the system directory %s" % system
    return None


def _nested(one, other):
    """Whether two normalised paths are the same or one holds the other."""
    return one == other or one.startswith(other.rstrip("/") + "/") or other.startswith(one.rstrip("/") + "/")


def unknown_variables(names, known=KNOWN_VARIABLES):
    """Messages for the vc_* names that are not known, with the closest known one."""
    out = []
    for name in sorted(set(n for n in names if isinstance(n, str) and n.startswith("vc_")) - set(known)):
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        out.append("%s is not a variable of vcluster; %s" % (name, "did you mean %s?" % close[0] if close else
                                                             "see docs/inventory.md for the variables"))
    return out
LINK_KEYS = ("sites", "latency_ms", "jitter_ms", "bandwidth_mbit")


def _members(groups, name):
    hosts = groups.get(name)
    return sorted({h for h in hosts if isinstance(h, str)}) if isinstance(hosts, (list, tuple, set)) else []


def guess_sites(groups):
    """The sites when the group hierarchy is unknown: every group, other than
    the reserved ones, whose hosts are all in the group ``sites``."""
    in_sites = set(_members(groups, "sites"))
    return sorted(g for g in groups if g not in RESERVED_GROUPS and _members(groups, g)
                  and set(_members(groups, g)) <= in_sites)


def build_model(hostvars, groups, site_names=None):
    """Plain model of the cluster from ``hostvars`` ({host: {variable: value}})
    and ``groups`` ({group: [host, ...]}). ``site_names`` are the child groups
    of ``sites`` (Ansible's variables do not show the hierarchy; guessed from
    ``groups`` when not given). Cluster-wide values are read from the first host
    of their scope; hosts that differ from it are listed in ``mismatches``."""
    hostvars = hostvars if isinstance(hostvars, Mapping) else {}
    groups = groups if isinstance(groups, Mapping) else {}
    if not isinstance(site_names, (list, tuple, set)):
        site_names = guess_sites(groups)
    site_names = sorted({s for s in site_names if isinstance(s, str)})
    members = {s: _members(groups, s) for s in site_names}
    physical = sorted({h for hosts in members.values() for h in hosts})
    in_sites = {h: [s for s in site_names if h in members[s]] for h in physical}
    gateways, emulated = set(_members(groups, "gateways")), set(_members(groups, "emulated"))
    mismatches = []

    def var(host, name):
        hv = hostvars.get(host)
        return hv.get(name) if isinstance(hv, Mapping) else None

    def shared(name, scope, where):
        values = [(h, var(h, name)) for h in scope]
        for host, value in values[1:]:
            if value != values[0][1] and repr(value) != repr(values[0][1]):  # repr: .nan != .nan
                mismatches.append({"host": host, "variable": name, "value": value, "where": where,
                                   "reference": values[0][0], "expected": values[0][1]})
        return values[0][1] if values else None

    sites = {}
    for site in site_names:
        site_gateways = [h for h in members[site] if h in gateways]
        own = [h for h in members[site] if len(in_sites[h]) == 1]
        sites[site] = {"subnet": shared("vc_site_subnet", own, "group_vars/" + site), "hosts": members[site],
                       "gateways": site_gateways, "gateway": site_gateways[0] if len(site_gateways) == 1 else None}
    hosts = {h: {"site": in_sites[h][0], "sites": in_sites[h], "gateway": h in gateways, "emulated": h in emulated,
                 "lan_ip": var(h, "vc_lan_ip"), "wan_ip": var(h, "vc_wan_ip"),
                 "mgmt_ip": var(h, "ansible_host") if h in emulated else None, "store_dir": var(h, "vc_store_dir"),
                 "overlay_ip": var(h, "vc_overlay_ip"),
                 "interfaces": {v: var(h, v) for v in ("vc_overlay_uplink", "vc_wan_interface", "vc_lan_interface")
                                if var(h, v) is not None},
                 "dirs": {v: var(h, v) for v in ("vc_host_etc", "vc_host_run", "vnode_root") if var(h, v) is not None},
                 "replication_mbit": var(h, "vc_ft_replication_mbit"),
                 "ssh_files": {v: var(h, v) for v in ("vc_ssh_host_key", "vc_ssh_authorized_keys")
                               if var(h, v) is not None},
                 "paths": paths.host_paths(var(h, "vc_store_dir"), var(h, "vnode_root"), var(h, "vc_host_etc"),
                                           var(h, "vc_ssh_host_key"), var(h, "vc_ssh_authorized_keys"))}
             for h in physical}
    stray = {}
    for host in sorted(h for h in set(hostvars) | gateways | emulated if isinstance(h, str)):
        if host not in hosts:
            why = ["is in '%s'" % g for g in ("gateways", "emulated") if host in _members(groups, g)]
            why += ["has %s" % v for v in ("vc_lan_ip", "vc_wan_ip") if var(host, v) is not None]
            if why:
                stray[host] = why[0]

    def cluster(name):
        return shared(name, physical, "group_vars/all")

    overlay_subnet = _network(cluster("vc_overlay_subnet"))
    if overlay_subnet is not None:  # default: gateways take the top addresses of the overlay, one per site
        for index, site in enumerate(site_names):
            gw = sites[site]["gateway"]
            if gw and hosts[gw]["overlay_ip"] is None and overlay_subnet.num_addresses > 2 + len(site_names):
                hosts[gw]["overlay_ip"] = str(overlay_subnet.broadcast_address - 1 - index)
    links = cluster("vc_wan_links")
    if isinstance(links, list):  # jitter_ms is optional
        links = [{"jitter_ms": 0, **link} if isinstance(link, Mapping) else link for link in links]
    return {
        "cluster": cluster("vc_cluster_name"),
        "sites": sites,
        "hosts": hosts,
        "vnodes": with_backends(cluster("vc_vnodes"), cluster("vc_vnode_backend")),
        "vnode_backend": cluster("vc_vnode_backend"),
        "wan_links": links,
        "ft": {"replicas": cluster("vc_ft_replicas"), "placement": cluster("vc_ft_placement"),
               "retention": cluster("vc_ft_retention"), "checkpoint_cost_s": cluster("vc_ft_checkpoint_cost_s"),
               "restart_cost_s": cluster("vc_ft_restart_cost_s"), "host_mtbf_h": cluster("vc_ft_host_mtbf_h"),
               "periodic": cluster("vc_ft_periodic"), "interval_s": cluster("vc_ft_interval_s"),
               "lease_s": cluster("vc_ft_lease_s"), "max_chain": cluster("vc_ft_max_chain"),
               "lock_dir": cluster("vc_ft_lock_dir"), "controller_dir": cluster("vc_ft_controller_dir"),
               "paths": paths.cluster_paths(cluster("vc_cluster_name"), cluster("vc_ft_controller_dir"),
                                            cluster("vc_ft_lock_dir"))},
        "vpn_port_base": cluster("vc_vpn_port_base"),
        "mpi_packages": cluster("vc_mpi_packages"),
        "unknown": sorted({n for h in hostvars.values() if isinstance(h, Mapping) for n in h
                           if isinstance(n, str) and n.startswith("vc_") and n not in KNOWN_VARIABLES
                           and n not in RUNTIME_FACTS}),
        "overlay": {"subnet": str(overlay_subnet) if overlay_subnet else cluster("vc_overlay_subnet"),
                    "prefix": overlay_subnet.prefixlen if overlay_subnet else None, "mtu": cluster("vc_overlay_mtu")},
        "vpn": cluster("vc_gateway_vpn") or "openvpn",
        "wan_subnet": cluster("vc_wan_subnet"),
        "mgmt_subnet": shared("vc_mgmt_subnet", [h for h in physical if h in emulated], "group_vars/emulated"),
        "stray_hosts": stray,
        "mismatches": mismatches,
    }


# Largest overlay MTU each VPN backend carries over a 1500-byte WAN without
# fragmenting: OpenVPN tap adds the inner Ethernet header (14), its AEAD data
# packet header and tag (24), UDP (8) and IPv4 (20).
# WireGuard: its interface MTU 1420 (1500 less 80, room for an IPv6 WAN), then
# VXLAN inside it (inner Ethernet 14, VXLAN 8, UDP 8, IPv4 20).
# IPsec: strongSwan's kernel-libipsec device (ipsec0) has MTU 1400 (room for
# ESP in UDP over a 1500-byte WAN), then the same VXLAN inside it.
VPN_MTU = {"openvpn": 1500 - 14 - 24 - 8 - 20, "wireguard": 1420 - 14 - 8 - 8 - 20, "ipsec": 1400 - 14 - 8 - 8 - 20}


def with_backends(vnodes, default=None):
    """The vnodes with their backend filled in (``vc_vnode_backend``, else lxc) and, for a virtual machine, its
    memory and vCPUs defaults; what is not a list of mappings is returned as is (validate reports it)."""
    if not isinstance(vnodes, list):
        return vnodes
    out = []
    for vn in vnodes:
        if isinstance(vn, Mapping):
            vn = dict(vn)
            vn.setdefault("backend", default if default in BACKENDS else "lxc")  # a bad default: validate says so
            if vn["backend"] == "kvm":
                for key, value in VM_DEFAULTS.items():
                    vn.setdefault(key, value)
        out.append(vn)
    return out


def _show(value):
    if isinstance(value, float) and not math.isfinite(value):
        return {"inf": ".inf", "-inf": "-.inf"}.get(str(value), ".nan")  # as YAML writes them
    return repr(value) if isinstance(value, str) else str(value)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    """An int or a finite float (YAML's .inf and .nan are floats too), not a boolean."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _network(value, strict=True):
    """An IPv4 network written ADDRESS/PREFIX (a bare address would be a /32), or None."""
    try:
        return ipaddress.IPv4Network(value, strict=strict) if isinstance(value, str) and "/" in value else None
    except ValueError:
        return None


class _Checker:
    """Collects the messages; remembers networks (for overlaps) and addresses (for duplicates)."""

    def __init__(self):
        self.errors, self.networks, self.owners = [], [], {}

    def error(self, owner, text):
        self.errors.append("%s: %s" % (owner, text))

    def value(self, owner, variable, value, valid, expected, fix):
        """A required value: report it when it is missing or not ``valid``."""
        if value is None:
            self.error(owner, "%s is not set; %s" % (variable, fix))
        elif not valid(value):
            self.error(owner, "%s %s is not %s; %s" % (variable, _show(value), expected, fix))
        else:
            return True
        return False

    def subnet(self, owner, variable, label, value, example):
        net = _network(value)
        if value is None:
            self.error(owner, "%s is not set; set it to an IPv4 network, e.g. %s" % (variable, example))
        elif net is None and _network("%s/24" % value, strict=False) and "/" not in value:
            self.error(owner, "%s %s has no prefix length (it would be a single address); write it as ADDRESS/PREFIX, "
                              "e.g. %s" % (variable, _show(value), _network("%s/24" % value, strict=False)))
        elif net is None:
            self.error(owner, "%s %s is not an IPv4 network; write it as ADDRESS/PREFIX with the host bits zero, "
                              "e.g. %s" % (variable, _show(value), _network(value, strict=False) or example))
        else:
            self.networks.append((owner, variable, label, net))
        return net

    def address(self, owner, variable, value, net, label):
        """An address: set, valid, a host address of ``net`` (if known), unique."""
        where = "%s %s" % (label, net) if net else label
        fix = "pick a free address in %s" % (net or label)
        try:
            addr = ipaddress.IPv4Address(value) if isinstance(value, str) else None
        except ValueError:
            addr = None
        if addr is None:
            self.error(owner, "%s is not set; give it a free address in %s" % (variable, where) if value is None
                       else "%s %s is not an IPv4 address; give it a free address in %s" % (variable, _show(value),
                                                                                           where))
            return
        if net and addr not in net:
            self.error(owner, "%s %s is not in %s; %s" % (variable, addr, where, fix))
        elif net and net.prefixlen < 31 and addr in (net.network_address, net.broadcast_address):
            kind = "network" if addr == net.network_address else "broadcast"
            self.error(owner, "%s %s is the %s address of %s; %s" % (variable, addr, kind, where, fix))
        first = self.owners.setdefault(addr, "%s (%s)" % (owner, variable))
        if first != "%s (%s)" % (owner, variable):
            self.error(owner, "%s %s is already used by %s; %s" % (variable, addr, first, fix))


def validate(model):
    """Every problem of the model, one message each, sorted (empty: valid)."""
    c = _Checker()
    sites, hosts = model.get("sites") or {}, model.get("hosts") or {}
    for host, why in sorted((model.get("stray_hosts") or {}).items()):
        c.error("host " + host, "it %s but is in no site; add it to exactly one child group of 'sites'" % why)
    if not sites:
        c.error("cluster", "the inventory has no sites; declare each site as a child group of the group 'sites'")
        return sorted(set(c.errors))
    for m in model.get("mismatches") or []:
        scalar = not isinstance(m["value"], (list, dict)) and not isinstance(m["expected"], (list, dict))
        values = (" " + _show(m["value"]), " " + _show(m["expected"])) if scalar else ("", "")
        c.error("host " + m["host"], "%s%s differs from %s's%s; set it once, in %s, not per host"
                % (m["variable"], values[0], m["reference"], values[1], m["where"]))
    emulated = [h for h in sorted(hosts) if hosts[h]["emulated"]]

    name = model.get("cluster")
    if c.value("cluster", "vc_cluster_name", name, lambda v: isinstance(v, str) and NAME_RE.match(v),
               "a valid name", "set it to " + NAME_RULE) and emulated and not EMULATED_CLUSTER_RE.match(name):
        c.error("cluster", "vc_cluster_name %r is too long for an emulated cluster (it names network links); "
                           "use at most 11 characters" % name)
    overlay = c.subnet("cluster", "vc_overlay_subnet", "vc_overlay_subnet", (model.get("overlay") or {}).get("subnet"),
                       "10.241.0.0/24")
    wan = c.subnet("cluster", "vc_wan_subnet", "vc_wan_subnet", model.get("wan_subnet"), "198.18.0.0/24")
    mgmt = c.subnet("cluster", "vc_mgmt_subnet", "vc_mgmt_subnet", model.get("mgmt_subnet"),
                    "10.240.0.0/24") if emulated else None
    site_nets = {}
    for site in sorted(sites):
        s, owner = sites[site], "site " + site
        if not SITE_RE.match(site):
            c.error(owner, "the group name is not a valid site name; rename the group with lower-case letters, "
                           "digits and '_', starting with a letter, at most 12 characters")
        if not s["hosts"]:
            c.error(owner, "has no hosts; add the site's hosts to the group %s or remove the group" % site)
            continue
        site_nets[site] = c.subnet(owner, "vc_site_subnet", "%s's vc_site_subnet" % site, s["subnet"],
                                   "10.240.1.0/24")
        if not s["gateways"]:
            c.error(owner, "has no gateway; add exactly one of its hosts (%s) to the group 'gateways'"
                    % ", ".join(s["hosts"]))
        elif len(s["gateways"]) > 1:
            c.error(owner, "has %d gateways (%s); keep exactly one of them in the group 'gateways'"
                    % (len(s["gateways"]), ", ".join(s["gateways"])))
    for i, (_o, _v, label1, net1) in enumerate(c.networks):
        for owner2, variable2, _l, net2 in c.networks[i + 1:]:
            if net1.overlaps(net2):
                c.error(owner2, "%s %s overlaps %s %s; give every network its own range"
                        % (variable2, net2, label1, net1))
    c.value("cluster", "vc_overlay_mtu", (model.get("overlay") or {}).get("mtu"),
            lambda v: _is_int(v) and MTU_MIN <= v <= MTU_MAX, "an integer from %d to %d" % (MTU_MIN, MTU_MAX),
            "set it to the overlay's MTU, e.g. 1500")

    vpn = model.get("vpn", "openvpn")
    if c.value("cluster", "vc_gateway_vpn", vpn, lambda v: isinstance(v, str) and v in VPN_MTU, "one of %s"
               % ", ".join(sorted(VPN_MTU)), "use openvpn (OpenVPN 2.6 in tap mode), wireguard (WireGuard "
               "carrying VXLAN) or ipsec (strongSwan IKEv2/ESP carrying VXLAN)"):
        mtu = (model.get("overlay") or {}).get("mtu")
        if _is_int(mtu) and mtu > VPN_MTU[vpn]:
            c.error("cluster", "vc_overlay_mtu %d is too large for the %s tunnel (at most %d over a 1500-byte WAN); "
                               "set vc_overlay_mtu to %d or less" % (mtu, vpn, VPN_MTU[vpn], VPN_MTU[vpn]))
    if mgmt and emulated:  # the testbed gives the controller the first address of the management network
        c.owners[next(iter(mgmt.hosts()))] = "the controller (first address of vc_mgmt_subnet)"
    for host in sorted(hosts):
        h, owner = hosts[host], "host " + host
        if len(h["sites"]) > 1:
            c.error(owner, "it is in %d sites (%s); a host belongs to exactly one site"
                    % (len(h["sites"]), ", ".join(h["sites"])))
        if h["emulated"] and not EMULATED_HOST_RE.match(host):
            c.error(owner, "the name of an emulated host must be lower-case letters, digits and '-', starting "
                           "with a letter and not ending with '-', at most 12 characters (it names network links and "
                           "is its host name); rename it")
        c.address(owner, "vc_lan_ip", h["lan_ip"], site_nets.get(h["site"]), "%s's vc_site_subnet" % h["site"])
        if h["gateway"]:
            c.address(owner, "vc_wan_ip", h["wan_ip"], wan, "vc_wan_subnet")
        elif h["wan_ip"] is not None:
            c.error(owner, "has vc_wan_ip but is not a gateway; remove vc_wan_ip or make the host its site's "
                           "gateway in the group 'gateways'")
        if h["emulated"]:
            c.address(owner, "ansible_host", h["mgmt_ip"], mgmt, "vc_mgmt_subnet")
        if h["gateway"] and overlay and sites.get(h["site"], {}).get("gateway") == host:
            c.address(owner, "vc_overlay_ip", h.get("overlay_ip"), overlay, "vc_overlay_subnet")
        elif h.get("overlay_ip") is not None:
            c.error(owner, "has vc_overlay_ip but is not a gateway; remove it (compute hosts have no overlay "
                           "address, their vnodes do)")
        if c.value(owner, "vc_store_dir", h["store_dir"], lambda v: isinstance(v, str) and v.startswith("/"),
                   "an absolute path", "set it to the directory of the host's checkpoint store"):
            why = unsafe_dir(h["store_dir"])
            if why:
                shown = h["store_dir"] if h["store_dir"] == h["store_dir"].strip() else _show(h["store_dir"])
                c.error(owner, "vc_store_dir %s %s; the project deletes what it stores there: give the host a "
                               "directory of its own, e.g. /var/lib/vcluster/store" % (shown, why))
        for variable in ("vc_overlay_uplink", "vc_wan_interface", "vc_lan_interface"):
            value = (h.get("interfaces") or {}).get(variable)
            if value is not None:
                if c.value(owner, variable, value, lambda v: isinstance(v, str) and IFNAME_RE.match(v),
                           "an interface name (at most 15 letters, digits, '_', '.', '-')",
                           "give the name of an interface of the host, or remove it for the default") \
                        and h["emulated"] and value != EMULATED_INTERFACES[variable]:
                    c.error(owner, "%s %s is not an interface of an emulated host (the testbed makes %s for it); "
                                   "remove %s" % (variable, _show(value), EMULATED_INTERFACES[variable], variable))
        if h["gateway"]:  # a gateway's WAN, LAN and overlay uplink are three interfaces (defaults wan0, lan0, ovl0)
            named = dict(EMULATED_INTERFACES, **{v: n for v, n in (h.get("interfaces") or {}).items()
                                                 if isinstance(n, str) and IFNAME_RE.match(n)})
            seen_ifaces = {}
            for variable in ("vc_wan_interface", "vc_lan_interface", "vc_overlay_uplink"):
                first = seen_ifaces.setdefault(named[variable], variable)
                if first != variable and not h["emulated"]:  # emulated: reported above
                    c.error(owner, "%s %s is also its %s; a gateway's WAN, LAN and overlay uplink are three "
                                   "different interfaces: give each its own" % (variable, _show(named[variable]),
                                                                              first))
        for variable in ("vc_host_etc", "vc_host_run", "vnode_root"):
            value = (h.get("dirs") or {}).get(variable)
            if value is not None:
                why = unsafe_dir(value)
                if why:
                    c.error(owner, "%s %s %s; give the project a directory of its own, e.g. %s" % (
                        variable, _show(value), why, EXAMPLE_DIRS[variable]))
        for variable, value in sorted((h.get("ssh_files") or {}).items()):
            if isinstance(value, str) and "{{" in value:
                continue  # not rendered (ansible-inventory --list shows templates as they are)
            if c.value(owner, variable, value, lambda v: isinstance(v, str) and PLAIN_FILE_RE.match(v)
                       and os.path.normpath(v) == v, "an absolute file path (no '..', no spaces)",
                       "e.g. %s, or remove it for the default" % SSH_FILE_EXAMPLES[variable]) \
                    and h["emulated"] and not h["gateway"] and value == SSH_FILE_EXAMPLES[variable]:
                c.error(owner, "%s %s is this machine's own file, which emulated hosts share; give the testbed's "
                               "file of the host (inventories/local/group_vars/emulated/testbed.yml)"
                        % (variable, value))
        if h["emulated"] and not h["gateway"]:
            for variable in sorted(set(SSH_FILE_EXAMPLES) - set(h.get("ssh_files") or {})):
                c.error(owner, "%s is not set; emulated hosts share this machine's %s: set it to the testbed's file "
                               "of the host (inventories/local/group_vars/emulated/testbed.yml)"
                        % (variable, SSH_FILE_EXAMPLES[variable]))
        mbit = h.get("replication_mbit")
        if mbit is not None:
            c.value(owner, "vc_ft_replication_mbit", mbit, lambda v: _is_number(v) and 0.1 <= v <= 100000,
                    "a number of Mbit/s from 0.1 to 100000", "set it to e.g. 200, or remove it for no cap")
        store, root = h.get("paths", {}).get("store"), h.get("paths", {}).get("vnodes")
        if not unsafe_dir(store) and (h.get("dirs") or {}).get("vnode_root") is None and unsafe_dir(root):
            c.error(owner, "vc_store_dir %s puts the vnodes in %s, which %s; give the store a directory of its own, "
                           "e.g. /var/lib/vcluster/store (vnodes go beside it)" % (store, root, unsafe_dir(root)))
        elif not unsafe_dir(store) and not unsafe_dir(root) and _nested(os.path.normpath(store),
                                                                         os.path.normpath(root)):
            c.error(owner, "vnode_root %s overlaps vc_store_dir %s; give each its own directory, e.g. "
                           "/var/lib/vcluster/vnodes and /var/lib/vcluster/store" % (root, store))
    # Emulated hosts share the controller's file system: their directories must not be shared or nested.
    own = {}
    for host in sorted(hosts):
        h = hosts[host]
        if not h["emulated"] or not isinstance(h["store_dir"], str) or not h["store_dir"].startswith("/"):
            continue
        dirs = [("vc_store_dir", os.path.normpath(h["store_dir"])),
                 ("vnode_root", os.path.normpath(h["paths"]["vnodes"]))] + [
            (v, os.path.normpath(d)) for v, d in sorted((h.get("dirs") or {}).items()) if isinstance(d, str)
            and d.startswith("/") and v != "vnode_root"]
        clash = None  # one message per host: the first of its directories that another host's overlaps
        given = dict({"vc_store_dir": h["store_dir"], "vnode_root": h["paths"]["vnodes"]}, **(h.get("dirs") or {}))
        for variable, path in dirs:
            if unsafe_dir(path) or unsafe_dir(given.get(variable)) or "{{" in path:  # given: as written, '..' too
                continue  # reported above; or not rendered (ansible-inventory --list shows templates as they are)
            clash = clash or next(((variable, path, other, ovar, opath) for (other, ovar), opath in own.items()
                                   if other != host and _nested(path, opath)), None)
            own[(host, variable)] = path
        if clash:
            variable, path, other, ovar, opath = clash
            c.error("host " + host, "%s %s %s %s's %s %s; emulated hosts share one file system, so each "
                    "needs its own directories (they would delete each other's vnodes and checkpoints)"
                    % (variable, path, "is" if path == opath else "overlaps", other, ovar, opath))

    vnodes = model.get("vnodes")
    if not c.value("cluster", "vc_vnodes", vnodes, lambda v: isinstance(v, list), "a list",
                   "set it to a list of {name, host, ip} (or [] for none)"):
        vnodes = []
    seen = {}
    for i, vn in enumerate(vnodes):
        vname = vn.get("name") if isinstance(vn, Mapping) else None
        owner = "vnode %s" % vname if isinstance(vname, str) and NAME_RE.match(vname) else "vc_vnodes[%d]" % i
        if not isinstance(vn, Mapping):
            c.error(owner, "is not a mapping; write it as {name: ..., host: ..., ip: ...}")
            continue
        for key in sorted(set(map(str, vn)) - set(VNODE_KEYS)):
            c.error(owner, "unknown key %r; a vnode has only %s" % (key, ", ".join(VNODE_KEYS)))
        if c.value(owner, "name", vname, lambda v: isinstance(v, str) and NAME_RE.match(v), "a valid name",
                   "set it to " + NAME_RULE):
            if vname in seen:
                c.error(owner, "declared twice in vc_vnodes (entries %d and %d); give every vnode its own name"
                        % (seen[vname], i))
            elif vname in hosts:
                c.error(owner, "the name is also a physical host's; rename the vnode")
            seen.setdefault(vname, i)
        compute = sorted(h for h in hosts if not hosts[h]["gateway"])
        if c.value(owner, "host", vn.get("host"), lambda v: isinstance(v, str) and v in hosts,
                   "a physical host of the inventory", "use one of " + ", ".join(compute or sorted(hosts))) \
                and hosts[vn["host"]]["gateway"]:
            c.error(owner, "host %s is its site's gateway, which runs no vnodes (nor checkpoints); use a compute "
                           "host: %s" % (vn["host"], ", ".join(compute) or "the inventory has none"))
        c.address(owner, "ip", vn.get("ip"), overlay, "vc_overlay_subnet")
        backend = vn.get("backend")
        if c.value(owner, "backend", backend, lambda v: v in BACKENDS, "one of " + ", ".join(BACKENDS),
                   "use lxc (a system container) or kvm (a virtual machine), on the vnode or in vc_vnode_backend"):
            for key, (low, high) in (("memory_mb", VM_MEMORY_MB), ("vcpus", VM_VCPUS)):
                if backend != "kvm" and key in vn:
                    c.error(owner, "%s is set but the vnode is an %s container (only kvm vnodes have it); remove "
                                   "it or set backend: kvm" % (key, backend))
                elif backend == "kvm":
                    c.value(owner, key, vn.get(key), lambda v, lo=low, hi=high: _is_int(v) and lo <= v <= hi,
                            "an integer from %d to %d" % (low, high), "e.g. %s: %d" % (key, VM_DEFAULTS[key]))
        if i == 0 and backend == "kvm":
            c.error(owner, "is the head vnode (the first of vc_vnodes: jobs start there, in an LXC container) and a "
                           "kvm vnode; put an lxc vnode first in vc_vnodes")

    default_backend = model.get("vnode_backend")
    if default_backend is not None and default_backend not in BACKENDS:
        c.error("cluster", "vc_vnode_backend %s is not one of %s; use lxc (system containers, the default) or kvm "
                           "(virtual machines)" % (_show(default_backend), ", ".join(BACKENDS)))

    links = model.get("wan_links")
    if links is None:
        links = []  # not needed with a single site; the missing pairs are reported below
    elif not isinstance(links, list):
        c.error("cluster", "vc_wan_links %s is not a list; set it to a list of {sites, latency_ms, jitter_ms, "
                           "bandwidth_mbit}" % _show(links))
        links = []
    pairs = {}
    for i, link in enumerate(links):
        owner = "vc_wan_links[%d]" % i
        if not isinstance(link, Mapping):
            c.error(owner, "is not a mapping; write it as {sites: [x, y], latency_ms: ..., bandwidth_mbit: ...}")
            continue
        for key in sorted(set(map(str, link)) - set(LINK_KEYS)):
            c.error(owner, "unknown key %r; a WAN link has only %s" % (key, ", ".join(LINK_KEYS)))
        ends = link.get("sites")
        if c.value(owner, "sites", ends, lambda v: isinstance(v, list) and len(v) == 2 and v[0] != v[1]
                   and all(isinstance(e, str) for e in v), "two different sites", "write e.g. sites: [site_a, site_b]"):
            unknown = [e for e in ends if e not in sites]
            for site in unknown:
                c.error(owner, "unknown site %r; use one of %s" % (site, ", ".join(sorted(sites))))
            pair = tuple(sorted(ends))
            if not unknown and pair in pairs:
                c.error(owner, "a second link between %s and %s (the first is vc_wan_links[%d]); keep one"
                        % (pair + (pairs[pair],)))
            pairs.setdefault(pair, i)
        for key, expected, fix in (
                ("latency_ms", "a number >= 0", "write the one-way latency in milliseconds, e.g. latency_ms: 20"),
                ("jitter_ms", "a number >= 0", "write the jitter in milliseconds, e.g. jitter_ms: 0"),
                ("bandwidth_mbit", "a number > 0", "write the bandwidth in Mbit/s, e.g. bandwidth_mbit: 1000")):
            c.value(owner, key, link.get(key), lambda v, k=key: _is_number(v) and (v > 0 if k == "bandwidth_mbit"
                                                                                  else v >= 0), expected, fix)
    names = sorted(sites)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            if (first, second) not in pairs:
                c.error("sites %s and %s" % (first, second), "no WAN link between them; add an entry with "
                        "sites: [%s, %s] to vc_wan_links" % (first, second))

    ft = model.get("ft") or {}
    k = ft.get("replicas")
    if c.value("cluster", "vc_ft_replicas", k, lambda v: _is_int(v) and v >= 0, "an integer >= 0",
               "set the number of peer copies of each checkpoint, e.g. 1"):
        # Copies go to compute hosts (gateways hold none): k other hosts must exist.
        holders = [h for h, info in hosts.items() if not info.get("gateway")]
        if k >= max(1, len(holders)):
            c.error("cluster", "vc_ft_replicas %d is not smaller than the number of hosts that hold checkpoints "
                    "(%d, gateways hold none); use at most %d" % (k, len(holders), max(0, len(holders) - 1)))
    c.value("cluster", "vc_ft_placement", ft.get("placement"), lambda v: isinstance(v, str) and v in PLACEMENTS,
            "one of " + ", ".join(PLACEMENTS), "use spread (prefer hosts at other sites) or random")
    c.value("cluster", "vc_ft_retention", ft.get("retention"), lambda v: _is_int(v) and v >= 1, "an integer >= 1",
            "keep at least the last checkpoint, e.g. 3")
    # Optional planning inputs (scripts/plan): measured costs and the hosts' MTBF.
    for key, variable, example in (("checkpoint_cost_s", "vc_ft_checkpoint_cost_s", "2.5 (seconds)"),
                                   ("restart_cost_s", "vc_ft_restart_cost_s", "30 (seconds)"),
                                   ("host_mtbf_h", "vc_ft_host_mtbf_h", "8760 (hours)")):
        if ft.get(key) is not None:
            c.value("cluster", variable, ft[key], lambda v: _is_number(v) and v > 0, "a number > 0",
                    "set it to a positive number, e.g. %s, or remove it" % example)
    if ft.get("periodic") is not None:
        c.value("cluster", "vc_ft_periodic", ft["periodic"], lambda v: isinstance(v, bool) or (
            isinstance(v, str) and v.lower() in ("true", "false", "yes", "no")), "true or false",
                "set it to true (deploy.yml starts the periodic checkpoint service) or false")
    if ft.get("interval_s") is not None:
        c.value("cluster", "vc_ft_interval_s", ft["interval_s"], lambda v: _is_number(v) and v >= 10,
                "a number of seconds >= 10", "set it to e.g. 600, or remove it to use the planned (Daly) interval")
    if ft.get("lease_s") is not None:
        c.value("cluster", "vc_ft_lease_s", ft["lease_s"], lambda v: _is_number(v) and 2 <= v <= 600,
                "a number of seconds from 2 to 600", "set it to e.g. 5, or remove it (default 5)")
    if ft.get("max_chain") is not None:
        c.value("cluster", "vc_ft_max_chain", ft["max_chain"], lambda v: _is_int(v) and 1 <= v <= 100,
                "an integer from 1 to 100", "set it to e.g. 3, or remove it (default vc_ft_retention)")
    for variable, key in (("vc_ft_lock_dir", "lock_dir"), ("vc_ft_controller_dir", "controller_dir")):
        value = ft.get(key)
        if value is not None and unsafe_dir(value) and not (key == "lock_dir" and value in ("/run/lock",
                                                                                          "/var/lock")):
            c.error("cluster", "%s %s %s; give the controller a directory of the project's own, e.g. %s" % (
                variable, _show(value), unsafe_dir(value),
                paths.LOCK_DIR if key == "lock_dir" else paths.CONTROLLER_DIR))
    base = model.get("vpn_port_base")
    if base is not None:
        pairs_needed = max(1, len(sites) * (len(sites) - 1) // 2)
        c.value("cluster", "vc_vpn_port_base", base, lambda v: _is_int(v) and 1 <= v <= 65536 - pairs_needed,
                "a UDP port from 1 to %d (one port per pair of sites: %d)" % (65536 - pairs_needed, pairs_needed),
                "set it to e.g. 1194, or remove it (default 1194)")
    packages = model.get("mpi_packages")
    if packages is not None:
        c.value("cluster", "vc_mpi_packages", packages, lambda v: isinstance(v, list) and v and all(
            isinstance(p, str) and PACKAGE_RE.match(p) for p in v), "a list of Debian package names",
                "list the packages of the vnodes' MPI stack, e.g. [openmpi-bin, python3-mpi4py, python3-numpy]")
    for message in unknown_variables(model.get("unknown") or []):
        c.error("inventory", message)
    if emulated and not c.errors:  # every name the testbed derives, from the one place that derives them
        for message in testbed.name_clashes(testbed.build_spec(model, "/")):
            c.error("testbed", message)
    return sorted(set(c.errors))


def read_inventory(path, exe="ansible-inventory", cwd=None):
    """hostvars, groups (each with every host under it) and site names, as
    ansible-inventory --list shows them."""
    proc = subprocess.run([exe, "-i", path, "--list"], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ValueError("ansible-inventory -i %s --list failed:\n%s" % (path, proc.stderr.strip()))
    data = json.loads(proc.stdout)
    hostvars = data.get("_meta", {}).get("hostvars", {})

    def members(group, seen=()):
        entry = data.get(group, {})
        hosts = set(entry.get("hosts", []))
        for child in entry.get("children", []):
            if child not in seen:
                hosts |= members(child, seen + (group,))
        return hosts

    names = [g for g in data if g != "_meta"] + [c for g in data.values() if isinstance(g, dict)
                                                 for c in g.get("children", [])]
    groups = {g: sorted(members(g)) for g in set(names)}
    groups["all"] = sorted(set(groups.get("all", [])) | set(hostvars))
    sites = sorted(data.get("sites", {}).get("children", []))
    return hostvars, groups, sites
