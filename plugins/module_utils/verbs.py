"""The extra-vars each verb takes, checked before anything runs: plain Python.

``check(verb, given, vnodes, compute_hosts)`` returns one line per problem:
an extra-var the verb does not take (with the closest one it does take:
``-e ckp=7`` would otherwise restore the latest checkpoint without a word),
or a value of the wrong kind. Whether a checkpoint exists or a vnode runs is
decided later, from the hosts (the FT filters); this is only the form.

Always allowed besides: ``vc_*`` (the inventory's variables, checked by the
inventory's own rules), ``ansible_*``, and the roles' own settings (their
prefixes: a user may override a role default with -e).
"""

import difflib

ROLE_PREFIXES = ("ansible_", "vc_", "testbed_", "host_", "overlay_", "gateway_", "wan_", "vnode_", "mpi_", "ft_")
TRUE, FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _bool(value):
    return isinstance(value, bool) or (isinstance(value, (str, int)) and str(value).strip().lower() in TRUE + FALSE)


def _int(value, low=1):
    try:
        return not isinstance(value, bool) and int(str(value).strip()) >= low and \
            str(value).strip().lstrip("-").isdigit()
    except ValueError:
        return False


def _number(value, low=None, high=None, open_low=False):
    if isinstance(value, bool):
        return False
    try:
        number = float(str(value).strip())
    except ValueError:
        return False
    if number != number or number in (float("inf"), float("-inf")):
        return False
    if low is not None and (number <= low if open_low else number < low):
        return False
    return high is None or number < high


def _names(value):
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return value if isinstance(value, list) else None


# verb: {variable: (valid(value, ctx) -> bool, what it must be)}
SPECS = {
    "deploy": {},
    "destroy": {},
    "checkpoint": {},
    "rebalance": {},
    "restore": {"ckpt": (lambda v, c: _int(v) or str(v).strip().lower() == "latest",
                         "a checkpoint id (an integer >= 1) or latest")},
    "checkpoints": {"verify": (lambda v, c: _bool(v), "true or false")},
    # Which vnode and host are valid depends on where the vnodes run: the FT plan checks them (ckpt.migrate_plan).
    "migrate": {"vnode": (lambda v, c: True, ""), "to": (lambda v, c: True, "")},
    "run": {"job": (lambda v, c: isinstance(v, str) and bool(v.strip()), "a job name, e.g. heat or cg.S"),
            "np": (lambda v, c: v in ("", None) or _int(v), "a number of ranks >= 1"),
            "params": (lambda v, c: isinstance(v, dict), "a mapping, e.g. -e '{\"params\": {\"steps\": 100}}'"),
            "vnodes": (lambda v, c: _names(v) is not None and all(n in c["vnodes"] for n in _names(v)),
                       "vnodes of the inventory, comma-separated (%(vnodes)s)"),
            "wait": (lambda v, c: _bool(v), "true or false"),
            "timeout": (lambda v, c: _int(v), "a number of seconds >= 1")},
    "jobs": {"id": (lambda v, c: _int(v), "a job id (an integer >= 1)"),
             "wait": (lambda v, c: _bool(v), "true or false"),
             "timeout": (lambda v, c: _int(v), "a number of seconds >= 1")},
    "requests": {"wait": (lambda v, c: _number(v, 0), "a number of seconds >= 0"),
                 "out": (lambda v, c: isinstance(v, str) and v.startswith("/"), "an absolute file path")},
    "plan": {"target": (lambda v, c: _number(v, 0, 1, open_low=True), "a probability between 0 and 1, e.g. 0.999"),
             "out": (lambda v, c: isinstance(v, str) and bool(v.strip()), "a file path")},
}


def check(verb, given, vnodes=(), hosts=()):
    """Problems of the extra-vars ``given`` ({name: rendered value}) of ``verb``
    (the playbook's name without .yml). Unknown verbs take anything."""
    spec = SPECS.get(verb)
    if spec is None:
        return []
    ctx = {"vnodes": sorted(vnodes), "hosts": sorted(hosts)}
    text = {"vnodes": ", ".join(ctx["vnodes"]) or "none", "hosts": ", ".join(ctx["hosts"]) or "none"}
    problems = []
    for name in sorted(given):
        if name in spec or name.startswith(ROLE_PREFIXES) or name == "validate_verb":
            continue
        takes = sorted(spec)
        close = difflib.get_close_matches(name, takes, n=1, cutoff=0.6)
        problems.append("-e %s: %s.yml takes %s%s" % (
            name, verb, ("no extra-var but the inventory's" if not takes else ", ".join(takes)),
            "; did you mean %s?" % close[0] if close else ""))
    for name, (valid, what) in sorted(spec.items()):
        if name in given and not valid(given[name], ctx):
            problems.append("-e %s=%s: %s must be %s" % (name, given[name], name, what % text))
    return problems

