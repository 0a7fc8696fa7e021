"""Unit tests of the run.yml filter (plugins/filter/jobs.py)."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.vcluster.cluster.plugins.filter.jobs import vc_job, vc_job_line

VNODES = [{"name": n, "host": "h", "ip": "10.0.0.%d" % i} for i, n in enumerate(["vn-a1", "vn-a2", "vn-b1"], 1)]


def test_default_is_one_rank_per_vnode_over_the_hostfile():
    job = vc_job("cg.S", "", VNODES)
    assert job["np"] == 3
    launch = job["launch"]
    i = launch.index("/usr/local/bin/vcjob")
    assert launch[i:i + 4] == ["/usr/local/bin/vcjob", "start", "cg.S", "--"]
    assert launch[i + 4:i + 11] == ["mpirun", "--hostfile", "/etc/vcluster-hostfile", "-np", "3", "--bind-to", "none"]
    assert launch[-4:] == ["cg", "S", "--result", "result.json"]
    assert "OMPI_ALLOW_RUN_AS_ROOT=1" in launch


def test_named_vnodes_give_the_hosts_and_the_ranks():
    job = vc_job("ep.S", None, VNODES, None, "vn-a1, vn-b1")
    i = job["launch"].index("mpirun")
    assert job["launch"][i:i + 5] == ["mpirun", "--host", "vn-a1,vn-b1", "-np", "2"]


@pytest.mark.parametrize("args, message", [
    (("cg.Z", "", VNODES), "cg supports classes S, W, A"),
    (("nosuch", "", VNODES), "unknown job 'nosuch'"),
    (("cg.S", "4", VNODES), "4 ranks asked but the cluster has 3 MPI slots"),
    (("cg.S", "", VNODES, None, "vn-a1,vn-zz"), "no such vnode(s) vn-zz"),
    (("cg.S", "", VNODES, None, "vn-b1,vn-a1"), "start the list with the head vnode vn-a1"),
    (("netpipe", "3", VNODES), "exactly 2 ranks"),
])
def test_bad_jobs_are_refused_with_the_reason(args, message):
    with pytest.raises(AnsibleFilterError) as err:
        vc_job(*args)
    assert message in str(err.value)


def test_job_line():
    line = vc_job_line({"id": 3, "name": "cg.S", "status": "succeeded", "rc": 0, "start": 10.0, "end": 12.5,
                        "dir": "/var/lib/vcjob/3"})
    assert line == "job 3 cg.S: succeeded, exit code 0, 2.5 s (files in /var/lib/vcjob/3)"
