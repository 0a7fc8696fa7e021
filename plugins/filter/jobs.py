"""Filters of the job verbs (run.yml, jobs.yml): thin glue over
plugins/module_utils/jobs.py."""

from ansible.errors import AnsibleFilterError

from ansible_collections.vcluster.cluster.plugins.module_utils import jobs

HOSTFILE = "/etc/vcluster-hostfile"
VCJOB = "/usr/local/bin/vcjob"
# The environment of a job inside the head vnode (lxc-attach --clear-env).
ENV = ["env", "HOME=/root", "PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
       "OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"]


def vc_job(name, np=None, slots=1, params=None, workloads_dir=jobs.DEFAULT_WORKLOADS_DIR):
    """{name, np, argv, launch, result_file}: ``launch`` is the command that
    starts the job under vcjob in the head vnode (mpirun over the hostfile).
    Fails with the catalogue's message for an unknown job, class, parameter
    or number of ranks."""
    try:
        job = jobs.resolve_job(name, params or None, workloads_dir)
        ranks = jobs.check_np(job, np if np not in ("", None) else None)
    except jobs.JobError as err:
        raise AnsibleFilterError("%s (run.yml -e job=NAME [-e np=N] [-e '{\"params\": {...}}'])" % err)
    if ranks is None:
        ranks = int(slots)
    if ranks > int(slots):
        raise AnsibleFilterError("job %r: %d ranks asked but the cluster has %d MPI slots (one per vnode); "
                                 "use np <= %d" % (job["name"], ranks, int(slots), int(slots)))
    mpirun = ["mpirun", "--hostfile", HOSTFILE, "-np", str(ranks)]
    job.update(np=ranks, launch=ENV + [VCJOB, "start", job["name"], "--"] + mpirun + job["argv"])
    return job


def vc_job_line(state):
    """One line about a job from vcjob's JSON state."""
    took = ""
    if state.get("start") and state.get("end"):
        took = ", %.1f s" % (state["end"] - state["start"])
    rc = "" if state.get("rc") is None else ", exit code %s" % state["rc"]
    return "job %s %s: %s%s%s (files in %s)" % (state.get("id"), state.get("name"), state.get("status"), rc, took,
                                                state.get("dir"))


class FilterModule:
    def filters(self):
        return {"vc_job": vc_job, "vc_job_line": vc_job_line}
