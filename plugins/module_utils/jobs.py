"""The catalogue of MPI jobs the playbooks run: plain Python, no Ansible.

A job is named by a string:

    ep.S ep.W ep.A  cg.S cg.W cg.A  is.S is.W is.A
        the NPB-style kernels (roles/mpi/files/workloads/npb.py); no parameters
    heat
        the deterministic 2-D Jacobi job of the fault-tolerance tests
        (workloads/heat.py); parameters: size, steps, every, ballast (int), sleep (float)
    netpipe
        Debian's NetPIPE for Open MPI (NPopenmpi), ping-pong between exactly
        two ranks; parameters: upper (largest message, bytes), repeats

``resolve_job(name, params, workloads_dir)`` turns a name and its parameters
into what is needed to launch the job (the command every rank runs, how many
ranks it takes, where it writes its result); anything wrong raises
``JobError`` with a message naming the job and what is valid.

The commands are meant to run in the job's own directory (vcjob runs each
job in /var/lib/vcjob/<id>/), so result files are relative names.
"""

PYTHON = "/usr/bin/python3"          # Debian's python, which has python3-mpi4py
DEFAULT_WORKLOADS_DIR = "/opt/vcluster/workloads"
NETPIPE = "/usr/bin/NPopenmpi"       # Debian package netpipe-openmpi

# NPB kernels and the classes they support (as npb.py implements them).
NPB_CLASSES = {"ep": ("S", "W", "A"), "cg": ("S", "W", "A"), "is": ("S", "W", "A")}

# Parameters: name -> (type, smallest value, default or None, description).
HEAT_PARAMS = {
    "size": (int, 4, None, "grid points per side"),
    "steps": (int, 1, None, "Jacobi steps"),
    "every": (int, 1, None, "steps between two checksum lines"),
    "sleep": (float, 0.0, None, "seconds of sleep per step (longer run, same result)"),
    "ballast": (int, 0, None, "MB of extra memory per rank (checkpoint benchmarks; same result)"),
}
NETPIPE_PARAMS = {
    "upper": (int, 1, None, "largest message size in bytes (NetPIPE -u)"),
    "repeats": (int, 1, None, "fixed number of repeats per size (NetPIPE -n)"),
}


class JobError(ValueError):
    """A job name or parameter that the catalogue does not accept."""


def job_names():
    """Every valid job name, in catalogue order."""
    names = ["%s.%s" % (kernel, klass) for kernel, classes in NPB_CLASSES.items() for klass in classes]
    return names + ["heat", "netpipe"]


def _check_params(job, params, spec):
    """Validated parameters (converted to their types) against a spec; values
    may come as strings (Ansible extra vars)."""
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise JobError("job %r: parameters must be a mapping, not %s" % (job, type(params).__name__))
    unknown = sorted(set(params) - set(spec))
    if unknown:
        valid = ", ".join(sorted(spec)) if spec else "none"
        raise JobError("job %r: unknown parameter(s) %s (valid: %s)" % (job, ", ".join(map(str, unknown)), valid))
    out = {}
    for key, value in params.items():
        kind, minimum, _default, what = spec[key]
        if value is None:
            continue
        if isinstance(value, bool):
            raise JobError("job %r: %s (%s) must be a number, not %r" % (job, key, what, value))
        try:
            converted = kind(value)
        except (TypeError, ValueError):
            raise JobError("job %r: %s (%s) must be %s, not %r"
                           % (job, key, what, "an integer" if kind is int else "a number", value))
        if kind is int and isinstance(value, float) and value != converted:
            raise JobError("job %r: %s (%s) must be an integer, not %r" % (job, key, what, value))
        if converted < minimum:
            raise JobError("job %r: %s (%s) must be at least %s, not %r" % (job, key, what, minimum, value))
        out[key] = converted
    return out


def resolve_job(name, params=None, workloads_dir=DEFAULT_WORKLOADS_DIR):
    """What it takes to run job ``name`` with ``params`` (a dict or None).

    Returns a dict:
      name         the canonical job name ("cg.A", "heat", "netpipe")
      kind         "npb", "heat" or "netpipe"
      argv         the command every rank runs (mpirun's arguments after the
                   options), with absolute paths under ``workloads_dir``
      params       the validated parameters
      np_default   the number of ranks to use when the caller does not say;
                   None means one rank per MPI slot of the cluster
      np_min, np_max  the accepted numbers of ranks (np_max None: no limit)
      result_file  file the job writes in its working directory
      result_format  "json" (npb), "text" (heat: compare byte for byte) or
                   "netpipe" (NetPIPE's columns: bytes, Mbit/s, seconds)
    Raises JobError for an unknown job, class or parameter.
    """
    if not isinstance(name, str) or not name.strip():
        raise JobError("job name must be a non-empty string, not %r; valid jobs: %s"
                       % (name, ", ".join(job_names())))
    name = name.strip()
    base, _dot, klass = name.partition(".")
    base = base.lower()
    workloads_dir = workloads_dir.rstrip("/") or "/"

    if base in NPB_CLASSES:
        classes = NPB_CLASSES[base]
        if not klass:
            raise JobError("job %r needs a class: %s" % (name, ", ".join("%s.%s" % (base, c) for c in classes)))
        if klass.upper() not in classes:
            raise JobError("job %r: %s supports classes %s" % (name, base, ", ".join(classes)))
        klass = klass.upper()
        canonical = "%s.%s" % (base, klass)
        _check_params(canonical, params, {})
        return {
            "name": canonical, "kind": "npb", "params": {},
            "argv": [PYTHON, workloads_dir + "/npb.py", base, klass, "--result", "result.json"],
            "np_default": None, "np_min": 1, "np_max": None,
            "result_file": "result.json", "result_format": "json",
        }

    if base in ("heat", "netpipe") and klass:
        raise JobError("job %r: %s has no classes; use %r (with parameters: %s)"
                       % (name, base, base, ", ".join(sorted(HEAT_PARAMS if base == "heat" else NETPIPE_PARAMS))))

    if base == "heat":
        p = _check_params("heat", params, HEAT_PARAMS)
        argv = [PYTHON, workloads_dir + "/heat.py"]
        for key in ("size", "steps", "every", "sleep", "ballast"):
            if key in p:
                argv += ["--" + key, repr(p[key])]
        return {
            "name": "heat", "kind": "heat", "params": p,
            "argv": argv + ["--result", "result.txt"],
            "np_default": None, "np_min": 1, "np_max": p.get("size"),
            "result_file": "result.txt", "result_format": "text",
        }

    if base == "netpipe":
        p = _check_params("netpipe", params, NETPIPE_PARAMS)
        argv = [NETPIPE]
        if "upper" in p:
            argv += ["-u", str(p["upper"])]
        if "repeats" in p:
            argv += ["-n", str(p["repeats"])]
        return {
            "name": "netpipe", "kind": "netpipe", "params": p,
            "argv": argv + ["-o", "netpipe.out"],
            "np_default": 2, "np_min": 2, "np_max": 2,
            "result_file": "netpipe.out", "result_format": "netpipe",
        }

    raise JobError("unknown job %r; valid jobs: %s" % (name, ", ".join(job_names())))


def check_np(job, np):
    """The number of ranks for a resolved job: ``np`` if given (checked against
    the job's limits), else the job's default (None: one per slot)."""
    if np is None:
        return job["np_default"]
    if isinstance(np, bool):
        raise JobError("job %r: the number of ranks must be an integer, not %r" % (job["name"], np))
    try:
        n = int(np)
    except (TypeError, ValueError):
        raise JobError("job %r: the number of ranks must be an integer, not %r" % (job["name"], np))
    low, high = job["np_min"], job["np_max"]
    if n < low or (high is not None and n > high):
        if low == high:
            limits = "exactly %d" % low
        elif high is None:
            limits = "at least %d" % low
        else:
            limits = "between %d and %d" % (low, high)
        raise JobError("job %r runs on %s ranks, not %d" % (job["name"], limits, n))
    return n
