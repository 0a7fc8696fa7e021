"""Unit tests of the MPI job catalogue (plugins/module_utils/jobs.py)."""

import pytest

from ansible_collections.vcluster.cluster.plugins.module_utils import jobs
from ansible_collections.vcluster.cluster.plugins.module_utils.jobs import JobError, check_np, resolve_job


def test_names():
    assert jobs.job_names() == ["ep.S", "ep.W", "ep.A", "cg.S", "cg.W", "cg.A", "is.S", "is.W", "is.A",
                                "heat", "netpipe"]


@pytest.mark.parametrize("name", ["ep.S", "cg.A", "is.W"])
def test_npb(name):
    job = resolve_job(name, workloads_dir="/w/")
    kernel, klass = name.split(".")
    assert job["name"] == name and job["kind"] == "npb"
    assert job["argv"] == ["/usr/bin/python3", "/w/npb.py", kernel, klass, "--result", "result.json"]
    assert (job["np_default"], job["np_min"], job["np_max"]) == (None, 1, None)
    assert job["result_file"] == "result.json" and job["result_format"] == "json"


def test_npb_name_is_case_insensitive():
    assert resolve_job("CG.a")["name"] == "cg.A"
    assert resolve_job(" ep.s ")["argv"][1] == jobs.DEFAULT_WORKLOADS_DIR + "/npb.py"


def test_unknown_job_lists_valid_names():
    with pytest.raises(JobError, match=r"unknown job 'foo'; valid jobs: ep\.S, .*heat, netpipe"):
        resolve_job("foo")


def test_unknown_class():
    with pytest.raises(JobError, match=r"job 'cg\.Z': cg supports classes S, W, A"):
        resolve_job("cg.Z")


def test_missing_class():
    with pytest.raises(JobError, match=r"job 'ep' needs a class: ep\.S, ep\.W, ep\.A"):
        resolve_job("ep")


@pytest.mark.parametrize("name", [None, "", "  ", 3])
def test_bad_name(name):
    with pytest.raises(JobError, match="non-empty string"):
        resolve_job(name)


def test_npb_takes_no_parameters():
    with pytest.raises(JobError, match=r"job 'ep\.S': unknown parameter\(s\) size \(valid: none\)"):
        resolve_job("ep.S", {"size": 3})
    assert resolve_job("ep.S", {})["params"] == {}


def test_job_error_is_a_value_error():
    assert issubclass(JobError, ValueError)


def test_heat_defaults():
    job = resolve_job("heat", None, "/opt/w")
    assert job["argv"] == ["/usr/bin/python3", "/opt/w/heat.py", "--result", "result.txt"]
    assert job["result_format"] == "text" and job["np_max"] is None


def test_heat_parameters_from_strings():
    job = resolve_job("heat", {"size": "256", "steps": 40, "every": 10, "sleep": "0.5"})
    assert job["params"] == {"size": 256, "steps": 40, "every": 10, "sleep": 0.5}
    assert job["argv"][2:] == ["--size", "256", "--steps", "40", "--every", "10", "--sleep", "0.5",
                               "--result", "result.txt"]
    assert job["np_max"] == 256


@pytest.mark.parametrize("params, message", [
    ({"size": 2}, r"size \(grid points per side\) must be at least 4, not 2"),
    ({"steps": "many"}, r"steps \(Jacobi steps\) must be an integer, not 'many'"),
    ({"steps": 2.5}, r"steps .* must be an integer, not 2\.5"),
    ({"every": True}, r"every .* must be a number, not True"),
    ({"sleep": -1}, r"sleep .* must be at least 0\.0"),
    ({"colour": "red"}, r"unknown parameter\(s\) colour \(valid: ballast, every, size, sleep, steps\)"),
    (["size"], r"parameters must be a mapping, not list"),
])
def test_heat_bad_parameters(params, message):
    with pytest.raises(JobError, match=r"job 'heat': " + message):
        resolve_job("heat", params)


def test_heat_has_no_class():
    with pytest.raises(JobError, match=r"job 'heat\.S': heat has no classes; use 'heat'"):
        resolve_job("heat.S")


def test_netpipe():
    job = resolve_job("netpipe", {"upper": 65536, "repeats": "5"})
    assert job["argv"] == ["/usr/bin/NPopenmpi", "-u", "65536", "-n", "5", "-o", "netpipe.out"]
    assert (job["np_default"], job["np_min"], job["np_max"]) == (2, 2, 2)
    assert job["result_file"] == "netpipe.out"


def test_check_np():
    assert check_np(resolve_job("netpipe"), None) == 2
    assert check_np(resolve_job("netpipe"), "2") == 2
    with pytest.raises(JobError, match=r"job 'netpipe' runs on exactly 2 ranks, not 4"):
        check_np(resolve_job("netpipe"), 4)
    assert check_np(resolve_job("cg.S"), None) is None
    assert check_np(resolve_job("cg.S"), 16) == 16
    with pytest.raises(JobError, match=r"job 'cg\.S' runs on at least 1 ranks, not 0"):
        check_np(resolve_job("cg.S"), 0)
    with pytest.raises(JobError, match=r"job 'heat' runs on between 1 and 8 ranks, not 9"):
        check_np(resolve_job("heat", {"size": 8}), 9)
    with pytest.raises(JobError, match="must be an integer"):
        check_np(resolve_job("heat"), "four")


def test_standalone_import():
    """The module imports without Ansible's collection loader too."""
    import importlib.util
    import pathlib
    path = pathlib.Path(__file__).resolve().parents[2] / "plugins" / "module_utils" / "jobs.py"
    spec = importlib.util.spec_from_file_location("jobs_standalone", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.resolve_job("is.S")["name"] == "is.S"
