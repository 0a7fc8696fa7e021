"""The emulated testbed: physical hosts as network namespaces on one machine.

Plain Python, no Ansible: ``build_spec`` turns the validated inventory model
into the desired state, ``read_state`` looks at what exists, ``plan`` compares
the two and returns the commands that converge them (empty when nothing is to
do), ``plan_absent`` the commands that remove everything the testbed made.

Layout (everything the testbed creates carries the ``vcl`` prefix; several
clusters, e.g. the demo and a Molecule scenario, can coexist when their host
names and subnets differ):
 - ``vcl-<cluster>-fabric``: a namespace holding the wires: per site a LAN
   bridge (``br-<site>``) and an overlay segment (``bo-<site>``), the WAN
   (``br-wan``) and the management network (``br-mgmt``).
 - ``vcl-<host>``: one namespace per host, with ``mgmt0`` (management, the
   address Ansible reaches), ``lan0`` (its site's LAN) and, on gateways,
   ``wan0`` (the site's end of the WAN). A persistent UTS namespace gives the
   host its own hostname; an sshd runs in both namespaces. ``ovl0`` joins the
   host to its site's overlay segment (no address: the overlay layer puts it
   in the host's overlay bridge).
 - ``vcl-<cluster>`` in the controller's namespace: the controller's leg on
   the management network.
The spec of what was built is kept in ``<state_dir>/testbed.json`` so that a
later run removes what the inventory no longer declares.
"""

import ipaddress
import os

PREFIX = "vcl"
ROOT_PEER = "ctl"
UTS_DIR = "/run/vcluster/uts"


def netns_name(host):
    return "%s-%s" % (PREFIX, host)


def build_spec(model, state_dir):
    """Desired testbed for the emulated hosts of an inventory model."""
    mgmt = ipaddress.ip_network(model["mgmt_subnet"])
    wan = ipaddress.ip_network(model["wan_subnet"])
    controller = "%s/%d" % (next(mgmt.hosts()), mgmt.prefixlen)
    bridges = ["br-mgmt", "br-wan"]
    # every bridge of the fabric and what it is for (name_clashes reads it)
    wires = [["br-mgmt", "the management bridge"], ["br-wan", "the WAN bridge"]]  # lists: the record is JSON
    for site in sorted({model["hosts"][h]["site"] for h in model["hosts"] if model["hosts"][h].get("emulated")}):
        wires += [["br-" + site, "site %s's LAN bridge" % site], ["bo-" + site, "site %s's overlay segment" % site]]
    hosts = []
    for name in sorted(model["hosts"]):
        host = model["hosts"][name]
        if not host.get("emulated"):
            continue
        site = model["sites"][host["site"]]
        lan = ipaddress.ip_network(site["subnet"])
        if "br-" + host["site"] not in bridges:
            bridges += ["br-" + host["site"], "bo-" + host["site"]]
        links = [
            {"name": "mgmt0", "peer": "m-" + name, "bridge": "br-mgmt",
             "address": "%s/%d" % (host["mgmt_ip"], mgmt.prefixlen)},
            {"name": "lan0", "peer": "l-" + name, "bridge": "br-" + host["site"],
             "address": "%s/%d" % (host["lan_ip"], lan.prefixlen)},
            # the site's overlay segment (a second NIC or VLAN on real hosts):
            # the overlay layer puts it in the host's overlay bridge
            {"name": "ovl0", "peer": "o-" + name, "bridge": "bo-" + host["site"], "address": None},
        ]
        routes = []
        if host.get("gateway"):
            links.append({"name": "wan0", "peer": "w-" + name, "bridge": "br-wan",
                          "address": "%s/%d" % (host["wan_ip"], wan.prefixlen)})
        else:
            gateway = model["hosts"][site["gateway"]]["lan_ip"]
            routes.append({"to": "default", "via": gateway})
        hostdir = os.path.join(state_dir, "hosts", name)
        hosts.append({
            "name": name,
            "mgmt_ip": host["mgmt_ip"],
            "lan_ip": host["lan_ip"],
            "dir": hostdir,
            "hostkey": os.path.join(hostdir, "ssh", "ssh_host_ed25519_key"),
            "netns": netns_name(name),
            "links": links,
            "routes": routes,
            "forwarding": bool(host.get("gateway")),
            "uts": os.path.join(UTS_DIR, netns_name(name)),
            "sshd_config": os.path.join(hostdir, "ssh", "sshd_config"),
            "sshd_pidfile": os.path.join(hostdir, "ssh", "sshd.pid"),
        })
    return {
        "state_dir": state_dir,
        "fabric": "%s-%s-fabric" % (PREFIX, model["cluster"]),
        "bridges": bridges,
        "wires": wires,
        "root_link": {"name": "%s-%s" % (PREFIX, model["cluster"]), "peer": ROOT_PEER,
                      "bridge": "br-mgmt", "address": controller},
        "hosts": hosts,
    }


def name_clashes(spec):
    """Messages for two things of the spec that would get the same name (a
    site called mgmt or wan takes the management or WAN bridge's name; a host
    called <cluster>-fabric takes the fabric namespace's). Every name the
    testbed uses comes from build_spec: this checks them all."""
    out = []
    netns = [(spec["fabric"], "the fabric namespace")] + [(h["netns"], "host %s's namespace" % h["name"])
                                                            for h in spec["hosts"]]
    wires = list(spec.get("wires") or [(b, "bridge %s" % b) for b in spec["bridges"]])
    wires += [(spec["root_link"]["peer"], "the controller's link")]
    wires += [(link["peer"], "host %s's %s" % (h["name"], link["name"])) for h in spec["hosts"] for link in h["links"]]
    for kind, names in (("network namespace", netns), ("link of the fabric namespace", wires)):
        first = {}
        for name, what in names:
            if name in first and first[name] != what:
                out.append("%s and %s would both be the %s %s; rename the site or host" % (first[name], what, kind,
                                                                                         name))
                continue
            first.setdefault(name, what)
    return out


def foreign_namespaces(spec, record, existing):
    """Hosts of ``spec`` whose namespace exists on this machine but is not in
    ``record`` (this testbed's testbed.json): another cluster uses that host
    name here. ``existing``: the names in /run/netns."""
    ours = {h["netns"] for h in (record or {}).get("hosts", [])} | ({record["fabric"]} if record else set())
    return sorted(h["name"] for h in spec["hosts"] if h["netns"] in existing and h["netns"] not in ours) + (
        [spec["fabric"]] if spec["fabric"] in existing and spec["fabric"] not in ours else [])


def sshd_config(host, state_dir):
    """sshd configuration of one emulated host."""
    ssh = os.path.join(host["dir"], "ssh")
    # A compute host listens on its site LAN too: its peers push checkpoint
    # copies there (replication keys, rrsync-restricted). A gateway only on
    # the management network.
    listen = [host["mgmt_ip"]] + ([] if host.get("forwarding") else [host["lan_ip"]])
    return "\n".join([
        "# Written by vcluster.cluster.testbed: sshd of the emulated host %s" % host["name"],
        "# (network namespace %s, UTS namespace %s)." % (host["netns"], host["uts"])]
        + ["ListenAddress %s" % address for address in listen] + [
        "Port 22",
        "HostKey %s" % host["hostkey"],
        "PidFile %s" % os.path.join(ssh, "sshd.pid"),
        # the controller's key (every emulated host), then the host's own file (its peers' replication keys)
        "AuthorizedKeysFile %s %s" % (os.path.join(state_dir, "controller", "authorized_keys"),
                                      os.path.join(ssh, "authorized_keys")),
        "PermitRootLogin prohibit-password",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "X11Forwarding no",
        "PrintMotd no",
        "MaxSessions 64",
        "MaxStartups 64:30:128",
        "AcceptEnv LANG LC_*",
        # An emulated host shares the controller's file system, not its login: bash, started by sshd for a
        # command, reads root's ~/.bashrc unless SHLVL says it is nested. The controller's start-up files are
        # not the host's (on this machine they run pyenv, whose rehash lock, left by a host killed mid-login,
        # stalls every later login of every host by 60 s).
        "SetEnv SHLVL=1",
        "Subsystem sftp /usr/lib/openssh/sftp-server",
        "",
    ])


def known_hosts(spec, public_keys):
    """known_hosts content for the controller: one line per emulated host,
    ``public_keys`` maps host name to its public host key line."""
    return "".join("%s %s\n" % (h["mgmt_ip"], " ".join(public_keys[h["name"]].split()[:2]))
                   for h in spec["hosts"] if h["name"] in public_keys)


def _links(ip_json):
    """{ifname: {master, up, addresses}} from ``ip -j addr show`` output."""
    links = {}
    for link in ip_json or []:
        links[link["ifname"]] = {
            "master": link.get("master"),
            "up": "UP" in link.get("flags", []),
            "addresses": sorted("%s/%s" % (a["local"], a["prefixlen"])
                                for a in link.get("addr_info", []) if a.get("family") == "inet"),
        }
    return links


def read_state(run_json, read_text):
    """Look at what exists. ``run_json(argv)`` returns parsed ``ip -j`` output
    (None when the command fails), ``read_text(netns, path)`` a file's content
    seen from a namespace. The caller fills ``hostname`` and ``sshd`` (per
    host: its hostname, whether its sshd runs)."""
    names = sorted(n["name"] for n in run_json(["ip", "-j", "netns", "list"]) or [])
    state = {"netns": {}, "root": _links(run_json(["ip", "-j", "addr", "show"]))}
    for ns in names:
        if not ns.startswith(PREFIX + "-"):
            continue
        routes = run_json(["ip", "-j", "-n", ns, "route", "show", "default"]) or []
        state["netns"][ns] = {
            "links": _links(run_json(["ip", "-j", "-n", ns, "addr", "show"])),
            "default_via": routes[0].get("gateway") if routes else None,
            "forwarding": (read_text(ns, "/proc/sys/net/ipv4/ip_forward") or "").strip() == "1",
        }
    state["sshd"] = {}
    state["hostname"] = {}
    return state


def _ensure_link(actions, ns, link, fabric, current, fabric_links):
    """Actions for one veth pair: ``link['name']`` in ``ns`` (None = the
    controller's namespace), its peer in the fabric attached to its bridge."""
    nsarg = ["-n", ns] if ns else []
    name, peer = link["name"], link["peer"]
    here = current.get(name)
    if here is None:
        if peer in fabric_links:
            actions.append(("delete stale %s in %s" % (peer, fabric),
                            ["ip", "-n", fabric, "link", "del", peer]))
        actions.append(("create %s in %s (peer %s on %s)" % (name, ns or "controller", peer, link["bridge"]),
                        ["ip"] + nsarg + ["link", "add", name, "type", "veth",
                                          "peer", "name", peer, "netns", fabric]))
        fabric_state = {"master": None, "up": False}
        here = {"master": None, "up": False, "addresses": []}
    else:
        fabric_state = fabric_links.get(peer, {"master": None, "up": False})
    if fabric_state.get("master") != link["bridge"] or not fabric_state.get("up"):
        actions.append(("attach %s to %s" % (peer, link["bridge"]),
                        ["ip", "-n", fabric, "link", "set", peer, "master", link["bridge"], "up"]))
    if link["address"] is not None and here["addresses"] != [link["address"]]:
        if here["addresses"]:
            actions.append(("flush addresses of %s in %s" % (name, ns or "controller"),
                            ["ip"] + nsarg + ["addr", "flush", "dev", name]))
        actions.append(("address %s on %s in %s" % (link["address"], name, ns or "controller"),
                        ["ip"] + nsarg + ["addr", "add", link["address"], "dev", name]))
    if not here["up"]:
        actions.append(("bring up %s in %s" % (name, ns or "controller"),
                        ["ip"] + nsarg + ["link", "set", name, "up"]))


def plan(spec, state, previous=None):
    """Commands (description, argv) that turn ``state`` into ``spec``.
    ``previous`` is the spec of the last run: its hosts that ``spec`` no
    longer has are removed."""
    actions = []
    fabric = spec["fabric"]
    nss = state["netns"]
    wanted = {h["netns"] for h in spec["hosts"]} | {fabric}
    for ns in sorted(_namespaces(previous) & set(nss)):
        if ns not in wanted:
            actions.append(("remove %s (no longer in the inventory)" % ns, ["@kill-netns", ns]))
            actions.append(("delete namespace %s" % ns, ["ip", "netns", "del", ns]))
    fab = nss.get(fabric)
    if fab is None:
        actions.append(("create namespace %s" % fabric, ["ip", "netns", "add", fabric]))
        fab = {"links": {}}
    fabric_links = fab["links"]
    if not fabric_links.get("lo", {}).get("up"):
        actions.append(("bring up lo in %s" % fabric, ["ip", "-n", fabric, "link", "set", "lo", "up"]))
    for bridge in spec["bridges"]:
        if bridge not in fabric_links:
            actions.append(("create bridge %s" % bridge,
                            ["ip", "-n", fabric, "link", "add", bridge, "type", "bridge"]))
        if not fabric_links.get(bridge, {}).get("up"):
            actions.append(("bring up %s" % bridge, ["ip", "-n", fabric, "link", "set", bridge, "up"]))
    _ensure_link(actions, None, spec["root_link"], fabric, state["root"], fabric_links)
    for host in spec["hosts"]:
        ns = host["netns"]
        cur = nss.get(ns)
        if cur is None:
            actions.append(("create namespace %s" % ns, ["ip", "netns", "add", ns]))
            cur = {"links": {}, "default_via": None, "forwarding": False}
        if not cur["links"].get("lo", {}).get("up"):
            actions.append(("bring up lo in %s" % ns, ["ip", "-n", ns, "link", "set", "lo", "up"]))
        for link in host["links"]:
            _ensure_link(actions, ns, link, fabric, cur["links"], fabric_links)
        for route in host["routes"]:
            if cur["default_via"] != route["via"]:
                actions.append(("default route via %s in %s" % (route["via"], ns),
                                ["ip", "-n", ns, "route", "replace", "default", "via", route["via"]]))
        if host["forwarding"] != cur["forwarding"]:
            actions.append(("%s forwarding in %s" % ("enable" if host["forwarding"] else "disable", ns),
                            ["@sysctl", ns, "net.ipv4.ip_forward", "1" if host["forwarding"] else "0"]))
        if state["hostname"].get(host["name"]) != host["name"]:
            actions.append(("hostname %s (UTS namespace %s)" % (host["name"], host["uts"]),
                            ["@uts", host["uts"], host["name"]]))
        if not state["sshd"].get(host["name"]):
            actions.append(("start sshd in %s" % ns,
                            ["@sshd", ns, host["uts"], host["sshd_config"], host["sshd_pidfile"]]))
    return actions


def _namespaces(spec):
    if not spec:
        return set()
    return {h["netns"] for h in spec["hosts"]} | {spec["fabric"]}


# What the testbed makes directly under its state directory besides one
# directory per host (hosts/<name>): destroy removes these and nothing else.
OWNED = ("testbed.json", "known_hosts", "controller")


def owned_paths(specs, state_dir):
    """Everything destroy removes under ``state_dir``: the files the testbed
    makes there and each host directory the specs (the inventory's and the
    record's, testbed.json) name. A file the project did not make survives
    (and so does the state directory then)."""
    paths = {os.path.join(state_dir, name) for name in OWNED}
    for spec in specs:
        for host in (spec or {}).get("hosts", []):
            if os.path.dirname(host["dir"]) == os.path.join(state_dir, "hosts"):
                paths.add(host["dir"])
    return sorted(paths)


def plan_absent(specs, state, existing_uts):
    """Commands that remove every namespace, link, process and UTS namespace
    of the given specs (the inventory's and the last run's)."""
    actions = []
    fabrics = {s["fabric"] for s in specs if s}
    for ns in sorted(set().union(*[_namespaces(s) for s in specs]) & set(state["netns"])):
        if ns not in fabrics:
            actions.append(("stop every process in %s" % ns, ["@kill-netns", ns]))
            actions.append(("delete namespace %s" % ns, ["ip", "netns", "del", ns]))
    for ns in sorted(fabrics & set(state["netns"])):
        actions.append(("delete namespace %s" % ns, ["ip", "netns", "del", ns]))
    for link in sorted({s["root_link"]["name"] for s in specs if s} & set(state["root"])):
        actions.append(("delete %s" % link, ["ip", "link", "del", link]))
    uts = {h["uts"] for s in specs if s for h in s["hosts"]} & set(existing_uts)
    for path in sorted(uts):
        actions.append(("release UTS namespace %s" % path, ["@uts-del", path]))
    return actions
