"""Run the MPI workloads (roles/mpi/files/workloads) for real on this machine,
with Open MPI's mpirun and Debian's python (which has mpi4py), at their
smallest sizes: the NPB kernels must verify, the heat job must be
reproducible to the byte."""

import json
import os
import pathlib
import shutil
import subprocess

import pytest

WORKLOADS = pathlib.Path(__file__).resolve().parents[2] / "roles" / "mpi" / "files" / "workloads"
PYTHON = "/usr/bin/python3"
MPIRUN = shutil.which("mpirun")


def _have_mpi4py():
    try:
        return subprocess.run([PYTHON, "-c", "import mpi4py, numpy"], capture_output=True,
                              timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


pytestmark = [
    pytest.mark.skipif(MPIRUN is None, reason="mpirun (Open MPI) is not installed"),
    pytest.mark.skipif(not _have_mpi4py(), reason="%s has no mpi4py/numpy (apt install python3-mpi4py)" % PYTHON),
]

ENV = dict(os.environ, OMPI_MCA_mpi_yield_when_idle="1", OMPI_MCA_btl="self,vader,tcp",
           OMPI_MCA_btl_vader_single_copy_mechanism="none")


def mpirun(np, *args, cwd=None):
    argv = [MPIRUN, "--allow-run-as-root", "--oversubscribe", "-np", str(np), PYTHON] + [str(a) for a in args]
    return subprocess.run(argv, capture_output=True, text=True, env=ENV, cwd=cwd, timeout=120)


@pytest.mark.parametrize("kernel", ["ep", "cg", "is"])
def test_npb_class_s_verifies(kernel, tmp_path):
    result = tmp_path / "result.json"
    run = mpirun(2, WORKLOADS / "npb.py", kernel, "S", "--result", result)
    assert run.returncode == 0, run.stdout + run.stderr
    assert " Verification    =               SUCCESSFUL" in run.stdout.splitlines()
    assert " %s Benchmark Completed." % kernel.upper() in run.stdout
    data = json.loads(result.read_text())
    assert data["kernel"] == kernel and data["class"] == "S" and data["nprocs"] == 2
    assert data["verified"] is True and data["time_s"] > 0 and data["mops"] > 0
    assert set(data) == {"kernel", "class", "nprocs", "time_s", "mops", "verified", "values", "reference"}


def test_ep_values(tmp_path):
    """EP's sums and Gaussian counts of class S (the counts NPB prints)."""
    result = tmp_path / "ep.json"
    run = mpirun(2, WORKLOADS / "npb.py", "ep", "S", "--result", result)
    assert run.returncode == 0, run.stdout + run.stderr
    values = json.loads(result.read_text())["values"]
    assert values["q"][:6] == [6140517, 5865300, 1100361, 68546, 1648, 17]
    assert abs(values["sx"] / -3.247834652034740e+3 - 1) < 1e-8


@pytest.mark.parametrize("args, message", [
    (["foo", "S"], "unknown kernel 'foo': valid kernels are ep, cg, is"),
    (["cg", "Z"], "cg supports classes S, W, A, not 'Z'"),
])
def test_npb_bad_arguments(args, message):
    run = subprocess.run([PYTHON, str(WORKLOADS / "npb.py")] + args, capture_output=True, text=True,
                         env=ENV, timeout=60)
    assert run.returncode == 2
    assert message in run.stderr and run.stdout == ""


def test_heat_is_reproducible(tmp_path):
    args = ["--size", "96", "--steps", "60", "--every", "20"]
    runs = []
    for i, np in enumerate((2, 2, 3)):
        out = tmp_path / ("heat%d.txt" % i)
        run = mpirun(np, WORKLOADS / "heat.py", *args, "--result", out)
        assert run.returncode == 0, run.stdout + run.stderr
        runs.append((run.stdout, out.read_bytes()))
    first = runs[0][1]
    assert runs[1][1] == first                   # same ranks: same bytes
    assert runs[2][1] == first                   # another rank count: same values too
    lines = first.decode().splitlines()
    assert lines[0] == "heat size 96 steps 60 every 20"
    assert [line.split()[1] for line in lines[1:-1]] == ["20", "40", "60"]
    assert lines[-1] == "final checksum " + lines[-2].split()[-1]
    float.fromhex(lines[-1].split()[-1])
    # Standard output shows the same checksum lines (plus timings).
    for line in lines[1:]:
        assert line in runs[0][0].splitlines()


def test_heat_sleep_does_not_change_the_result(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    args = ["--size", "32", "--steps", "10", "--every", "5"]
    assert mpirun(2, WORKLOADS / "heat.py", *args, "--result", a).returncode == 0
    assert mpirun(2, WORKLOADS / "heat.py", *args, "--sleep", "0.01", "--result", b).returncode == 0
    assert a.read_bytes() == b.read_bytes()


def test_heat_bad_arguments():
    run = subprocess.run([PYTHON, str(WORKLOADS / "heat.py"), "--steps", "0"], capture_output=True,
                         text=True, env=ENV, timeout=60)
    assert run.returncode == 2 and "--steps must be at least 1" in run.stderr
