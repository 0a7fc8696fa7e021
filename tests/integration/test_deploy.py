"""End to end on the embedded default, deployed once for the module:
deploy builds the two-site cluster and reaches every host over SSH, a second
deploy and a check-mode run change nothing, the site-to-site VPN carries
traffic between the sites encrypted, from the WAN nothing but the tunnels
answers, an overlay address keeps working when its interface moves to the
other site, the vnodes run on their hosts with fixed IPs and MACs (also
after a move to the other site), MPI jobs run across the sites and verify,
and destroy leaves nothing behind."""

import json

import os
import pathlib
import re
import secrets
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PLAYBOOK = str(pathlib.Path(sys.executable).parent / "ansible-playbook")
HOSTS = ["a-gw", "a-h1", "a-h2", "b-gw", "b-h1", "b-h2"]
LAN = {"a-gw": "10.240.1.1", "a-h1": "10.240.1.11", "a-h2": "10.240.1.12",
       "b-gw": "10.240.2.1", "b-h1": "10.240.2.11", "b-h2": "10.240.2.12"}
WAN = {"a-gw": "198.18.0.1", "b-gw": "198.18.0.2"}
FABRIC = "vcl-demo-fabric"
STATE_DIR = "/var/lib/vcluster/testbed"
VNODES = {"vn-a1": ("a-h1", "10.241.0.11"), "vn-a2": ("a-h2", "10.241.0.12"),
          "vn-b1": ("b-h1", "10.241.0.21"), "vn-b2": ("b-h2", "10.241.0.22")}
VNODE_ENV = ["env", "HOME=/root", "PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]

pytestmark = pytest.mark.slow


def playbook(*args):
    proc = subprocess.run([PLAYBOOK, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=1800, check=False)
    return proc.returncode, proc.stdout


def recap(output):
    """{host: {ok, changed, failed, ...}} from the PLAY RECAP."""
    stats = {}
    for host, fields in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", output, re.M):
        stats[host] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", fields)}
    return stats


def ns(name, *cmd, timeout=30, check=False):
    """Run a command in a namespace of the testbed (``vcl-<name>``)."""
    return subprocess.run(["nsenter", "--net=/run/netns/" + name, *cmd], capture_output=True, text=True,
                          timeout=timeout, check=check)


def ping(src, dst, count=1, wait=2):
    return ns("vcl-" + src, "ping", "-n", "-c", str(count), "-W", str(wait), dst).returncode == 0


def leftovers():
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True, check=True).stdout
    procs = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = pathlib.Path("/proc/%s/cmdline" % pid).read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if STATE_DIR + "/" in cmd:
            procs.append(cmd)
    with open("/proc/self/mountinfo") as f:
        procs += ["mount " + line.split()[4] for line in f if line.split()[4].startswith(STATE_DIR + "/")]
    return ([line.split()[0] for line in netns.splitlines() if line.startswith("vcl-demo") or
             line.split()[0] in ["vcl-" + h for h in HOSTS]],
            [line.split()[0] for line in links.splitlines() if line.startswith("vcl-demo")], procs)


@pytest.fixture(scope="module", name="deployed")
def fixture_deployed():
    # From nothing: a cluster left by an earlier run may have vnodes where a restore put them (placement is state).
    rc, out = playbook("destroy.yml")
    assert rc == 0, out[-15000:]
    rc, out = playbook("deploy.yml")
    assert rc == 0, out[-15000:]
    yield out


def test_deploy_reaches_every_host_over_ssh(deployed):
    for host in HOSTS:
        assert re.search(r"%s: reached over SSH at 10\.240\.0\.\d+ \(site site_[ab]\), hostname %s" % (host, host),
                         deployed), deployed[-5000:]


def test_second_deploy_and_check_mode_change_nothing(deployed):
    for args in (["deploy.yml"], ["deploy.yml", "--check"]):
        rc, out = playbook(*args)
        assert rc == 0, out[-15000:]
        stats = recap(out)
        assert set(HOSTS) <= set(stats)
        assert all(s["changed"] == 0 and s["failed"] == 0 for s in stats.values()), out[-15000:]


def test_every_host_reaches_every_host_of_the_other_site(deployed):
    for src in HOSTS:
        for dst in HOSTS:
            if src[0] != dst[0]:
                assert ping(src, LAN[dst], wait=3), "%s cannot reach %s (%s)" % (src, dst, LAN[dst])


def capture_contains(marker, send):
    """Capture the WAN (the fabric's br-wan) while ``send()`` runs; True when
    the marker appears in the captured bytes."""
    pcap = "/tmp/vcl-test-%s.pcap" % secrets.token_hex(4)
    dump = subprocess.Popen(["nsenter", "--net=/run/netns/" + FABRIC, "tcpdump", "-i", "br-wan", "-U", "-s", "0",
                             "-w", pcap], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        send()
        time.sleep(1.0)
    finally:
        dump.terminate()
        dump.wait(timeout=10)
    try:
        return marker.encode() in pathlib.Path(pcap).read_bytes()
    finally:
        os.unlink(pcap)


def test_traffic_between_sites_is_encrypted_on_the_wan(deployed):
    marker = "VCLUSTER-MARKER-" + secrets.token_hex(8)
    server = subprocess.Popen(["nsenter", "--net=/run/netns/vcl-b-h1", sys.executable, "-c",
                               "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)"
                               "\ns.bind(('10.240.2.11', 5999))\ns.listen(1)\nc,_=s.accept()\n"
                               "n=0\nwhile True:\n d=c.recv(65536)\n if not d: break\n n+=len(d)\nprint(n)"],
                              stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    payload = (marker + "\n") * 2000

    def send_in_clear():  # the control: the same marker over the WAN without the VPN
        for _ in range(5):
            ns("vcl-a-gw", sys.executable, "-c", "import socket\ns=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
               "s.sendto(%r.encode(), ('198.18.0.2', 9))" % marker)

    try:
        with_vpn = capture_contains(marker, lambda: subprocess.run(
            ["nsenter", "--net=/run/netns/vcl-a-h1", sys.executable, "-c",
             "import socket,sys\nc=socket.create_connection(('10.240.2.11', 5999), 5)\n"
             "c.sendall(sys.stdin.read().encode())\nc.close()"], input=payload, text=True, check=True, timeout=30))
        received = int(server.communicate(timeout=30)[0])
    finally:
        server.kill()
    assert received == len(payload)  # the transfer crossed the sites
    assert not with_vpn, "the marker crossed the WAN in clear through the VPN"
    assert capture_contains(marker, send_in_clear), "the capture did not see traffic sent in clear"


def test_from_the_wan_only_the_tunnels_answer(deployed):
    probe = "vcl-demo-probe"
    subprocess.run(["ip", "netns", "add", probe], check=True)
    try:
        subprocess.run(["ip", "-n", FABRIC, "link", "add", "p-probe", "type", "veth", "peer", "name", "wan0",
                        "netns", probe], check=True)
        subprocess.run(["ip", "-n", FABRIC, "link", "set", "p-probe", "master", "br-wan", "up"], check=True)
        for cmd in (["addr", "add", "198.18.0.250/24", "dev", "wan0"], ["link", "set", "wan0", "up"],
                    ["link", "set", "lo", "up"], ["route", "add", "10.240.0.0/16", "via", WAN["b-gw"]]):
            subprocess.run(["ip", "-n", probe, *cmd], check=True)
        # the WAN itself works: the probe sees the gateways at layer 2 ...
        assert ns(probe, "ping", "-c", "1", "-W", "1", WAN["a-gw"]).returncode != 0  # ... but no answer to ping
        for target in [WAN["a-gw"], WAN["b-gw"], LAN["b-h1"], LAN["b-gw"]]:
            for port in (22, 80, 443, 1194, 5999):
                out = ns(probe, sys.executable, "-c", "import socket\ntry:\n socket.create_connection((%r, %d), 1)\n"
                         " print('open')\nexcept OSError as e:\n print(type(e).__name__)" % (target, port))
                assert out.stdout.strip() in ("TimeoutError", "timeout"), (target, port, out.stdout)
        assert not ping("demo-probe", LAN["b-h1"]), "a compute host answered from the WAN"
        neigh = ns(probe, "ip", "neigh", "show", WAN["a-gw"]).stdout
        assert "lladdr" in neigh, "the probe never reached the gateway at layer 2: %r" % neigh
    finally:
        subprocess.run(["ip", "netns", "del", probe], check=False)
    # ... while the tunnels' ports answer their peers: both tunnels are up
    for gw in ("a-gw", "b-gw"):
        log = pathlib.Path("%s/hosts/%s/run/gateway/vpn-site_%s.log" % (STATE_DIR, gw, "b" if gw == "a-gw" else "a"))
        assert "Initialization Sequence Completed" in log.read_text()


def test_overlay_address_survives_a_move_to_the_other_site(deployed):
    mover, address, mac = "vcl-demo-mover", "10.241.0.200/24", "02:00:0a:f1:00:c8"
    subprocess.run(["ip", "netns", "add", mover], check=True)

    def plug(host):
        subprocess.run(["ip", "-n", "vcl-" + host, "link", "add", "mv-port", "mtu", "1400", "type", "veth", "peer",
                        "name", "eth0", "netns", mover], check=True)
        subprocess.run(["ip", "-n", "vcl-" + host, "link", "set", "mv-port", "master", "vcbr0", "up"], check=True)
        for cmd in (["link", "set", "eth0", "address", mac, "mtu", "1400"], ["addr", "add", address, "dev", "eth0"],
                    ["link", "set", "eth0", "up"]):
            subprocess.run(["ip", "-n", mover, *cmd], check=True)

    try:
        plug("a-h1")
        for gw in ("a-gw", "b-gw"):  # reachable from its own site and across the VPN
            assert ping(gw, "10.241.0.200", count=3, wait=3), gw
        subprocess.run(["ip", "-n", "vcl-a-h1", "link", "del", "mv-port"], check=True)
        plug("b-h2")  # the other site, same address and MAC
        assert ns(mover, "ip", "-br", "addr", "show", "eth0").stdout.split()[2] == address
        # its first frames teach the bridges where it is now (what a gratuitous ARP does after a migration)
        for gw in ("b-gw", "a-gw"):
            ping("demo-mover", "10.241.0.25%d" % (3 if gw == "b-gw" else 4), count=1, wait=2)
        for gw in ("b-gw", "a-gw"):
            assert ping(gw, "10.241.0.200", count=3, wait=3), gw
    finally:
        subprocess.run(["ip", "netns", "del", mover], check=False)
        subprocess.run(["ip", "-n", "vcl-a-h1", "link", "del", "mv-port"], check=False, capture_output=True)


def test_rotate_replaces_the_gateway_keys_and_the_tunnel_comes_back(deployed):
    certs = [pathlib.Path(STATE_DIR, "hosts/%s/etc/gateway/cert.pem" % gw) for gw in ("a-gw", "b-gw")]
    before = [c.read_text() for c in certs]
    rc, out = playbook("deploy.yml", "-e", "gateway_rotate=true")
    assert rc == 0, out[-15000:]
    assert all(c.read_text() != b for c, b in zip(certs, before))
    key = pathlib.Path(STATE_DIR, "hosts/a-gw/etc/gateway/key.pem")
    assert key.stat().st_mode & 0o777 == 0o600
    assert "BEGIN PRIVATE KEY" not in out  # no_log kept the key out of the output
    deadline = time.time() + 60
    while not ping("a-h1", LAN["b-h1"], wait=2) and time.time() < deadline:
        time.sleep(1)
    assert ping("a-h1", LAN["b-h1"], count=3, wait=3)
    rc, out = playbook("deploy.yml")  # and without rotate, the new keys are kept
    assert rc == 0, out[-15000:]
    assert all(s["changed"] == 0 for s in recap(out).values()), out[-15000:]


def rtt_min_ms(src, dst, count=40):
    out = ns("vcl-" + src, "ping", "-n", "-q", "-c", str(count), "-i", "0.05", dst, timeout=60).stdout
    return float(re.search(r"= ([\d.]+)/", out).group(1))


def test_emulated_wan_delay_is_within_0_3_ms_of_the_inventory(deployed):
    base = rtt_min_ms("a-h1", LAN["b-h1"])
    delayed_links = '{"vc_wan_links": [{"sites": ["site_a", "site_b"], "latency_ms": 2.5, "bandwidth_mbit": 1000}]}'
    rc, out = playbook("deploy.yml", "-e", delayed_links)
    assert rc == 0, out[-15000:]
    try:
        delayed = rtt_min_ms("a-h1", LAN["b-h1"])
        one_way = (delayed - base) / 2
        assert abs(one_way - 2.5) <= 0.3, "asked 2.5 ms one way, measured %.3f ms (RTT %.3f -> %.3f)" % (
            one_way, base, delayed)
        stats = pathlib.Path(STATE_DIR, "hosts/b-gw/run/wan/delay-0.json")
        time.sleep(1.2)  # the delayer rewrites its statistics every second
        assert '"released": 0,' not in stats.read_text()
    finally:
        rc, out = playbook("deploy.yml")  # back to the inventory's WAN
        assert rc == 0, out[-15000:]
    assert rtt_min_ms("a-h1", LAN["b-h1"], count=10) < base + 1.0


def lxc(host, *cmd):
    return ns("vcl-" + host, *cmd[:1], "-P", "%s/hosts/%s/vnodes" % (STATE_DIR, host), *cmd[1:])


def in_vnode(vnode, *cmd, host=None, timeout=60):
    host = host or VNODES[vnode][0]
    return ns("vcl-" + host, "lxc-attach", "-n", vnode, "-P", "%s/hosts/%s/vnodes" % (STATE_DIR, host),
              "--clear-env", "--", *VNODE_ENV, *cmd, timeout=timeout)


def mac_of(ip):
    return "02:56:" + ":".join("%02x" % int(b) for b in ip.split("."))


def vnode_link(vnode, host=None):
    out = in_vnode(vnode, "ip", "-j", "addr", "show", "eth0", host=host).stdout
    link = json.loads(out)[0]
    ipv4 = ["%s/%s" % (a["local"], a["prefixlen"]) for a in link["addr_info"] if a["family"] == "inet"]
    return link["address"], ipv4, link["mtu"]


def test_vnodes_run_on_their_hosts_with_fixed_ip_and_mac(deployed):
    for vnode, (host, ip) in VNODES.items():
        assert lxc(host, "lxc-info", "-n", vnode, "-s", "-H").stdout.strip() == "RUNNING", vnode
        assert vnode_link(vnode) == (mac_of(ip), [ip + "/24"], 1400)
        assert in_vnode(vnode, "hostname").stdout.strip() == vnode
        for other, (_h, other_ip) in VNODES.items():
            if other != vnode:
                assert in_vnode(vnode, "ping", "-n", "-c1", "-W3", other_ip).returncode == 0, (vnode, other)


def cpus_allowed(pid):
    with open("/proc/%s/status" % pid) as f:
        return [line.split()[1] for line in f if line.startswith("Cpus_allowed_list:")][0]


def test_vnodes_and_daemons_may_use_every_cpu(deployed):
    # Ansible's mitogen strategy pins what it starts to some CPUs (one, on 2
    # cores); nothing long-lived of the cluster may inherit that.
    every = "0-%d" % (os.cpu_count() - 1) if os.cpu_count() > 1 else "0"
    for vnode, (host, _ip) in VNODES.items():
        pid = lxc(host, "lxc-info", "-n", vnode, "-p", "-H").stdout.strip()
        assert cpus_allowed(pid) == every, vnode
    for pidfile in pathlib.Path(STATE_DIR, "hosts").glob("*-gw/run/gateway/*.pid"):
        assert cpus_allowed(pidfile.read_text().split()[0]) == every, pidfile


def test_vnode_moved_to_the_other_site_keeps_its_ip_and_mac(deployed):
    moved = [{"name": n, "host": "b-h2" if n == "vn-a2" else h, "ip": ip} for n, (h, ip) in VNODES.items()]
    try:
        # Placement is state: a running vnode whose inventory host changed is kept where it runs, and says so.
        rc, out = playbook("deploy.yml", "-e", json.dumps({"vc_vnodes": moved}))
        assert rc == 0, out[-15000:]
        assert "vn-a2: on a-h2 (runs there, the inventory says b-h2: kept" in re.sub(r"\s+", " ", out), out[-15000:]
        assert lxc("a-h2", "lxc-info", "-n", "vn-a2", "-s", "-H").stdout.strip() == "RUNNING"
        # Asked by name, it starts afresh on its new host.
        rc, out = playbook("deploy.yml", "-e", json.dumps({"vc_vnodes": moved, "vc_recreate": "vn-a2"}))
        assert rc == 0, out[-15000:]
        assert lxc("a-h2", "lxc-info", "-n", "vn-a2", "-s", "-H").returncode != 0  # gone from its old host
        assert vnode_link("vn-a2", host="b-h2") == (mac_of("10.241.0.12"), ["10.241.0.12/24"], 1400)
        assert in_vnode("vn-a1", "ping", "-n", "-c1", "-W3", "10.241.0.12").returncode == 0
        # MPI reaches it at its new place (its new keys were exchanged)
        hosts = in_vnode("vn-a1", "mpirun", "--allow-run-as-root", "-np", "4", "--hostfile",
                         "/etc/vcluster-hostfile", "hostname")
        assert hosts.returncode == 0 and sorted(hosts.stdout.split()) == sorted(VNODES), hosts.stdout + hosts.stderr
    finally:
        rc, out = playbook("deploy.yml", "-e", "vc_recreate=vn-a2")
        assert rc == 0, out[-15000:]
    assert vnode_link("vn-a2") == (mac_of("10.241.0.12"), ["10.241.0.12/24"], 1400)


def vcjobs():
    out = in_vnode("vn-a1", "vcjob", "list")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_cg_runs_across_both_sites_and_verifies(deployed):
    rc, out = playbook("run.yml", "-e", "job=cg.S", "-e", "wait=true")
    assert rc == 0, out[-15000:]
    assert re.search(r"Number of active processes:\s+4", out), out[-5000:]
    assert re.search(r"Verification\s+=\s+SUCCESSFUL", out), out[-5000:]
    job = vcjobs()[-1]
    assert job["name"] == "cg.S" and job["status"] == "succeeded"
    # the result file is in the head vnode; every rank ran on its own vnode
    result = json.loads(in_vnode("vn-a1", "cat", job["dir"] + "/result.json").stdout)
    assert result["verified"] is True and result["nprocs"] == 4


@pytest.mark.parametrize("args, message", [
    (["-e", "job=nosuch"], "unknown job 'nosuch'; valid jobs: ep.S"),
    (["-e", "job=cg.Z"], "cg supports classes S, W, A"),
    (["-e", "job=netpipe", "-e", "np=3"], "runs on exactly 2 ranks, not 3"),
    (["-e", "job=cg.S", "-e", "np=9"], "9 ranks asked but the cluster has 4 MPI slots"),
])
def test_bad_job_is_refused_and_nothing_starts(deployed, args, message):
    before = len(vcjobs())
    rc, out = playbook("run.yml", *args)
    assert rc != 0 and message in out, out[-5000:]
    assert len(vcjobs()) == before


def test_destroy_leaves_nothing(deployed):
    foreign = pathlib.Path(STATE_DIR, "notes-of-the-operator.txt")  # not the project's: destroy keeps it
    foreign.write_text("keep me\n")
    try:
        rc, out = playbook("destroy.yml")
        assert rc == 0, out[-15000:]
        assert leftovers() == ([], [], [])
        assert sorted(p.name for p in pathlib.Path(STATE_DIR).iterdir()) == [foreign.name]
        assert foreign.read_text() == "keep me\n"
    finally:
        foreign.unlink()
        pathlib.Path(STATE_DIR).rmdir()
    assert not os.path.exists(STATE_DIR)
    rc, out = playbook("destroy.yml")
    assert rc == 0, out[-15000:]
    assert all(s["changed"] == 0 for s in recap(out).values()), out[-15000:]

