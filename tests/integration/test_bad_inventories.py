"""Each tests/bad_inventories/NN-name is the embedded default with one defect.
deploy.yml must stop at validation with exactly the problems of expected.txt,
before anything is created; the embedded default itself validates."""

import pathlib
import re
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent
CASES = sorted(p for p in (ROOT / "tests" / "bad_inventories").iterdir() if p.is_dir())
GOOD = {"inventories/local": "Inventory is valid: 2 sites, 6 hosts, 4 vnodes",
        "inventories/example": "Inventory is valid: 2 sites, 6 hosts, 4 vnodes",
        "molecule/host/inventory": "Inventory is valid: 2 sites, 3 hosts, 1 vnodes"}


def playbook(*args):
    proc = subprocess.run([str(BIN / "ansible-playbook"), *args], cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=300, check=False)
    return proc.returncode, proc.stdout


def vc_names():
    """Names of the network namespaces and links an emulated cluster would create."""
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True, check=True).stdout
    return ({line.split()[0] for line in netns.splitlines() if line.startswith("vc")},
            {line.split()[0].split("@")[0] for line in links.splitlines() if line.startswith("vc")})


def state_dir(case):
    testbed = case / "group_vars" / "emulated" / "testbed.yml"
    return pathlib.Path(yaml.safe_load(testbed.read_text())["testbed_state_dir"]) if testbed.exists() else None


def test_there_are_enough_cases():
    assert len(CASES) >= 18
    for case in CASES:
        assert (case / "hosts.yml").exists() and (case / "expected.txt").read_text().strip(), case.name


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_deploy_stops_at_validation(case):
    expected = (case / "expected.txt").read_text().splitlines()
    # Validation alone first: a defect it missed must not reach the plays that build the testbed.
    rc, out = playbook("playbooks/validate.yml", "-i", str(case.relative_to(ROOT)))
    assert rc != 0, out
    assert "Inventory is invalid (%d problem%s):" % (len(expected), "" if len(expected) == 1 else "s") in out, out

    names, directory = vc_names(), state_dir(case)
    existed = directory is not None and directory.exists()
    rc, out = playbook("deploy.yml", "-i", str(case.relative_to(ROOT)))
    assert rc != 0, out
    for line in expected:
        assert " - " + line in out, "%r not in output:\n%s" % (line, out)
    assert len(re.findall(r"^PLAY \[", out, re.M)) == 1, out  # no later play started
    assert vc_names() == names
    if directory is not None and not existed:
        assert not directory.exists()


@pytest.mark.parametrize("inventory", GOOD, ids=list(GOOD))
def test_good_inventory_is_valid(inventory):
    rc, out = playbook("playbooks/validate.yml", "-i", inventory)
    assert rc == 0, out
    assert GOOD[inventory] in out, out
    rc, out = playbook("playbooks/validate.yml", "-i", inventory, "--check")
    assert rc == 0 and GOOD[inventory] in out, out
