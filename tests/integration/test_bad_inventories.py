"""Every malformed inventory under tests/bad_inventories fails in validation
with exactly the problems listed in its expected.txt, and nothing is created.

Each case is a directory layered over the embedded default
(``-i inventories/local -i tests/bad_inventories/NN-name``) that adds one
defect to it."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CASES = sorted(p for p in (ROOT / "tests" / "bad_inventories").iterdir() if p.is_dir())
PLAYBOOK = str(pathlib.Path(sys.executable).parent / "ansible-playbook")
STATE_DIR = "/var/lib/vcluster/testbed"


def snapshot():
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True, check=True).stdout
    return ({line.split()[0] for line in netns.splitlines() if line.startswith("vcl-")},
            {line.split()[0] for line in links.splitlines() if line.startswith("vcl-")},
            os.path.exists(STATE_DIR))


def reported_errors(json_output):
    """The errors of the validate task from the json callback's output."""
    errors, failed_tasks = [], []
    for play in json.loads(json_output)["plays"]:
        for task in play["tasks"]:
            for host, result in task["hosts"].items():
                if result.get("failed"):
                    failed_tasks.append((host, task["task"]["name"]))
                errors.extend(result.get("errors", []))
    return errors, failed_tasks


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_bad_inventory_fails_in_validation_and_changes_nothing(case):
    expected = (case / "expected.txt").read_text().splitlines()
    assert expected, "%s/expected.txt is empty" % case
    before = snapshot()
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    proc = subprocess.run([PLAYBOOK, "deploy.yml", "-i", "inventories/local", "-i", str(case)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode != 0
    errors, failed_tasks = reported_errors(proc.stdout)
    assert failed_tasks == [("localhost", "Check every host, site, subnet, vnode and FT setting")]
    assert sorted(errors) == sorted(expected)
    assert snapshot() == before


def test_there_are_enough_cases():
    assert len(CASES) >= 15


@pytest.mark.parametrize("inventory", ["inventories/local", "inventories/example"])
def test_shipped_inventories_are_valid(inventory):
    proc = subprocess.run([PLAYBOOK, "playbooks/validate.yml", "-i", inventory], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert "Inventory is valid: 2 sites, 6 hosts, 4 vnodes" in proc.stdout
