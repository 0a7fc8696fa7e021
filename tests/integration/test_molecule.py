"""Run every Molecule scenario (molecule/<role>/: create, converge,
idempotence, verify, destroy) as part of the suite."""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCENARIOS = sorted(ROOT.glob("molecule/*/molecule.yml"))


@pytest.mark.slow
@pytest.mark.parametrize("molecule_yml", SCENARIOS, ids=lambda p: p.parent.name)
def test_molecule_scenario(molecule_yml):
    env = dict(os.environ, PATH="%s:%s" % (pathlib.Path(sys.executable).parent, os.environ["PATH"]))
    proc = subprocess.run(["molecule", "test", "-s", molecule_yml.parent.name], cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1200, check=False)
    assert proc.returncode == 0, proc.stdout[-20000:]
