"""Run every role's Molecule scenarios (create, converge, idempotence, verify,
destroy) as part of the suite."""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCENARIOS = sorted(ROOT.glob("roles/*/molecule/*/molecule.yml"))


@pytest.mark.slow
@pytest.mark.parametrize("molecule_yml", SCENARIOS, ids=lambda p: "%s/%s" % (p.parents[2].name, p.parent.name))
def test_molecule_scenario(molecule_yml):
    role_dir = molecule_yml.parents[2]
    env = dict(os.environ, PATH="%s:%s" % (pathlib.Path(sys.executable).parent, os.environ["PATH"]))
    proc = subprocess.run(["molecule", "test", "-s", molecule_yml.parent.name], cwd=role_dir, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1200, check=False)
    assert proc.returncode == 0, proc.stdout[-20000:]
