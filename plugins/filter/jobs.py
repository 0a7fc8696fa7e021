"""Filters of the job verbs (run.yml, jobs.yml): thin glue over
plugins/module_utils/jobs.py."""

from ansible.errors import AnsibleFilterError

from ansible_collections.vcluster.cluster.plugins.module_utils import jobs

HOSTFILE = "/etc/vcluster-hostfile"
VCJOB = "/usr/local/bin/vcjob"
# The environment of a job inside the head vnode (lxc-attach --clear-env).
ENV = ["env", "HOME=/root", "PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
       "OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"]


def vc_job(name, np=None, vnodes=None, params=None, only=None, workloads_dir=jobs.DEFAULT_WORKLOADS_DIR):
    """{name, np, argv, launch, result_file}: ``launch`` is the command that
    starts the job under vcjob in the head vnode: mpirun over the hostfile
    (every vnode of ``vnodes``, the inventory's list), or over the vnodes
    named in ``only`` (a list or a comma-separated string; one rank each).
    Fails with the catalogue's message for an unknown job, class, parameter
    or number of ranks, and for unknown vnodes."""
    names = [v["name"] for v in vnodes or []]
    if isinstance(only, str):
        only = [v.strip() for v in only.split(",") if v.strip()]
    unknown = [v for v in only or [] if v not in names]
    if unknown:
        raise AnsibleFilterError("vnodes=%s: no such vnode(s) %s; the cluster's vnodes are %s"
                                 % (",".join(only), ", ".join(unknown), ", ".join(names)))
    if only and names and only[0] != names[0]:
        raise AnsibleFilterError("vnodes=%s: start the list with the head vnode %s (rank 0 runs there and writes "
                                 "the job's result next to its output)" % (",".join(only), names[0]))
    slots = len(only) if only else len(names)
    try:
        job = jobs.resolve_job(name, params or None, workloads_dir)
        ranks = jobs.check_np(job, np if np not in ("", None) else None)
    except jobs.JobError as err:
        raise AnsibleFilterError("%s (run.yml -e job=NAME [-e np=N] [-e vnodes=A,B] [-e '{\"params\": {...}}'])"
                                 % err)
    if ranks is None:
        ranks = slots
    if ranks > slots:
        raise AnsibleFilterError("job %r: %d ranks asked but %s %d MPI slots (one per vnode); use np <= %d"
                                 % (job["name"], ranks, "those vnodes have" if only else "the cluster has", slots,
                                    slots))
    where = ["--host", ",".join(only)] if only else ["--hostfile", HOSTFILE]
    # No core binding: vnodes sharing a physical host would all bind to core 0.
    mpirun = ["mpirun"] + where + ["-np", str(ranks), "--bind-to", "none"]
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
