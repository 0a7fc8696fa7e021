"""End to end on the embedded default: deploy builds the two-site testbed and
reaches every host over SSH, a second deploy changes nothing, destroy leaves
no namespace, link, process or file behind."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PLAYBOOK = str(pathlib.Path(sys.executable).parent / "ansible-playbook")
HOSTS = ["a-gw", "a-h1", "a-h2", "b-gw", "b-h1", "b-h2"]
STATE_DIR = "/var/lib/vcluster/testbed"


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


def leftovers():
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True, check=True).stdout
    procs = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = pathlib.Path("/proc/%s/cmdline" % pid).read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "/var/lib/vcluster/testbed/" in cmd:
            procs.append(cmd)
    return ([line.split()[0] for line in netns.splitlines() if line.startswith("vcl-")],
            [line.split()[0] for line in links.splitlines() if line.startswith("vcl-")], procs)


@pytest.mark.slow
def test_deploy_is_reachable_idempotent_and_destroy_leaves_nothing():
    rc, out = playbook("deploy.yml")
    assert rc == 0, out[-15000:]
    for host in HOSTS:
        assert re.search(r"%s: reached over SSH at 10\.240\.0\.\d+ \(site site_[ab]\), hostname %s" % (host, host),
                         out), out[-5000:]
    rc, out = playbook("deploy.yml")
    assert rc == 0, out[-15000:]
    stats = recap(out)
    assert set(HOSTS) <= set(stats)
    assert all(s["changed"] == 0 and s["failed"] == 0 for s in stats.values()), out[-15000:]

    rc, out = playbook("deploy.yml", "--check")
    assert rc == 0, out[-15000:]
    assert all(s["changed"] == 0 for s in recap(out).values()), out[-15000:]

    rc, out = playbook("destroy.yml")
    assert rc == 0, out[-15000:]
    assert leftovers() == ([], [], [])
    assert not os.path.exists(STATE_DIR)
    rc, out = playbook("destroy.yml")
    assert rc == 0, out[-15000:]
    assert all(s["changed"] == 0 for s in recap(out).values()), out[-15000:]
