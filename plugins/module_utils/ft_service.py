"""The periodic checkpoint service's decisions and records: plain Python.

scripts/ft-service runs on the controller, one per cluster. Its loop:

    answers := requests honoured so far ({token: checkpoint id})
    loop:
        requests.yml, waiting until the next checkpoint is due: every host
            answers the waiting requests found in ``answers`` and reports new
            ones (returns at once when one arrives)
        if a new request arrived or the checkpoint is due:
            checkpoint.yml (coordinated like any checkpoint; retention keeps
            the catalog tidy); the requests it honoured go into ``answers``
            (answered by the next requests.yml)

This module holds what the loop decides and writes: the interval (given, or
Daly's from planning.py with the inventory's costs), when the next checkpoint
is due (after a failure: a retry sooner), the state file that ``status``
prints, and the record of honoured requests. Files are written atomically.
"""

import json
import os
import re
import time

from ansible_collections.vcluster.cluster.plugins.module_utils import ft_host as H
from ansible_collections.vcluster.cluster.plugins.module_utils import ft_result as R
from ansible_collections.vcluster.cluster.plugins.module_utils import paths as P
from ansible_collections.vcluster.cluster.plugins.module_utils import planning

HISTORY = 20  # checkpoints the state remembers
ANSWERS = 1000  # honoured requests remembered (a restore may bring one back)
RETRY_S = 30.0  # after a failed checkpoint (lock held, host down), try again after this long at most


def paths(controller_dir, cluster):
    """Where the service of ``cluster`` keeps its files on the controller."""
    top = P.cluster_dir(cluster, controller_dir)
    return {"dir": top, "state": os.path.join(top, "service.json"), "pid": os.path.join(top, "service.pid"),
            "log": os.path.join(top, "service.log"), "requests": os.path.join(top, "requests.json"),
            "runner": os.path.join(top, "runner")}


read_json = H.read_json


def write_json(path, data, mode=0o600):
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = "%s.tmp.%d" % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")
    os.rename(tmp, path)


def choose_interval(ft, hosts, given=None):
    """(seconds, where it comes from): ``given`` (the command line), else the
    inventory's vc_ft_interval_s, else Daly's interval from the inventory's
    costs (planning.DEFAULTS for the missing ones) for ``hosts`` hosts."""
    if given is not None:
        return float(given), "command line (--interval)"
    if ft.get("interval_s") is not None:
        return float(ft["interval_s"]), "inventory (vc_ft_interval_s)"
    names = {"vc_ft_checkpoint_cost_s": "checkpoint_cost_s", "vc_ft_restart_cost_s": "restart_cost_s",
             "vc_ft_host_mtbf_h": "host_mtbf_h"}
    values = {v: (ft.get(k) if ft.get(k) is not None else planning.DEFAULTS[v]) for v, k in names.items()}
    iv = planning.interval_plan(float(values["vc_ft_checkpoint_cost_s"]), float(values["vc_ft_restart_cost_s"]),
                                float(values["vc_ft_host_mtbf_h"]), max(1, hosts))
    defaults = [v for v, k in names.items() if ft.get(k) is None]
    return iv["daly_s"], "Daly, C = %g s, R = %g s, host MTBF %g h x %d hosts%s" % (
        iv["checkpoint_cost_s"], iv["restart_cost_s"], iv["host_mtbf_h"], iv["hosts"],
        " (defaults: %s)" % ", ".join(defaults) if defaults else "")


def new_state(cluster, interval, source, now, pid, inventory):
    """The state of a service that just started: the first checkpoint is due
    one interval from now."""
    return {"cluster": cluster, "pid": pid, "inventory": inventory, "started": now, "interval_s": interval,
            "interval_source": source, "next_due": now + interval, "phase": "starting", "checkpoints": 0,
            "failures": 0, "requests_honoured": 0, "last": None, "history": []}


def due(state, now):
    return now >= state["next_due"]


def should_checkpoint(state, now, new_requests):
    """Now: when the checkpoint is due, or a new request arrived (except
    while waiting to retry a failed attempt: a request does not make the
    service hammer a cluster that cannot be checkpointed)."""
    if due(state, now):
        return True
    return bool(new_requests) and not state.get("retrying")


def committed_id(cluster_dir, since):
    """The id of the checkpoint that a checkpoint.yml run begun at ``since``
    committed (its result, results/checkpoint.json), or None. A checkpoint
    whose copies could not all be made is committed too."""
    result = R.read(cluster_dir, "checkpoint", since=since)
    return int(result["id"]) if result and result.get("committed") else None


def failure_reason(events, output="", limit=300, one_line=True):
    """Why a playbook failed, from its events (ansible-runner's): the message
    of its last failed or unreachable task whose failure was not ignored;
    else (an error before any task ran, such as a bad inventory) its output
    from the first error line on. ``one_line``: white space collapsed."""
    text = None
    for event in reversed(list(events or [])):
        data = event.get("event_data") or {}
        if event.get("event") in ("runner_on_failed", "runner_on_unreachable") and not data.get("ignore_errors"):
            res = data.get("res") or {}
            text = str((res.get("msg") if isinstance(res, dict) else None)
                       or "task %s failed on %s" % (data.get("task"), data.get("host")))
            break
    if text is None:
        lines = [ln.rstrip() for ln in re.sub(r"\x1b\[[0-9;]*m", "", output or "").splitlines() if ln.strip()]
        first = next((i for i, ln in enumerate(lines) if "ERROR" in ln or ln.startswith("fatal:")), None)
        text = "\n".join(lines[first:] if first is not None else lines[-1:]) or "no output"
    return (" ".join(text.split()) if one_line else text)[:limit]


def record(state, now, reason, ckpt, seconds, rc, message, requests=()):
    """Record one run of checkpoint.yml: committed when ``ckpt`` is set (rc 2
    = committed with copies missing), and when the next one is due."""
    entry = {"time": now, "reason": reason, "ckpt": ckpt, "seconds": round(seconds, 2), "rc": rc,
             "message": message, "requests": [r["token"] for r in requests]}
    state["last"] = entry
    state["history"] = (state.get("history") or [])[-(HISTORY - 1):] + [entry]
    if ckpt is not None:
        state["checkpoints"] += 1
        state["requests_honoured"] += len(requests)
        state["next_due"] = now + state["interval_s"]
        state["retrying"] = False
    else:
        state["failures"] += 1
        state["next_due"] = now + min(RETRY_S, state["interval_s"])
        state["retrying"] = True
    return state


def honour(record_, requests, ckpt, now):
    """Remember that checkpoint ``ckpt`` honoured ``requests`` (the oldest
    are forgotten beyond ANSWERS)."""
    record_ = dict(record_ or {})
    answers = dict(record_.get("answers") or {})
    log = list(record_.get("log") or [])
    for r in requests:
        answers[r["token"]] = ckpt
        log.append({"token": r["token"], "vnode": r.get("vnode"), "host": r.get("host"), "ckpt": ckpt,
                    "time": now})
    log = log[-ANSWERS:]
    keep = {e["token"] for e in log}
    return {"answers": {t: i for t, i in answers.items() if t in keep}, "log": log}


def pid_alive(pid, marker="ft-service"):
    """Whether ``pid`` is a live process of this service (its command line
    names the service: a reused PID is not mistaken for it)."""
    if not pid:
        return False
    try:
        with open("/proc/%d/cmdline" % int(pid), "rb") as f:
            return marker.encode() in f.read()
    except (OSError, ValueError):
        return False


def _ago(now, then):
    d = now - then
    if d < 0:
        return "in %s" % _span(-d)
    return "%s ago" % _span(d)


def _span(seconds):
    if seconds >= 3600:
        return "%.1f h" % (seconds / 3600)
    if seconds >= 60:
        return "%.1f min" % (seconds / 60)
    return "%.0f s" % seconds


def status_text(state, running, now, requests_record=None):
    """What ``ft-service status`` prints."""
    if not state:
        return "periodic checkpoints: not running (never started for this cluster)"
    out = ["periodic checkpoints of cluster %s: %s" % (
        state["cluster"], "running (pid %d, since %s)" % (state["pid"], time.strftime(
            "%Y-%m-%d %H:%M:%S", time.localtime(state["started"]))) if running else "not running")]
    out.append("  interval: %s (%s)" % (_span(state["interval_s"]), state["interval_source"]))
    if running:
        out.append("  now: %s; next checkpoint due %s" % (state.get("phase", "?"), _ago(now, state["next_due"])))
    out.append("  checkpoints taken: %d, failed attempts: %d, requests from vnodes honoured: %d"
               % (state["checkpoints"], state["failures"], state["requests_honoured"]))
    last = state.get("last")
    if last:
        what = "checkpoint %d committed" % last["ckpt"] if last["ckpt"] is not None else "FAILED"
        if last["ckpt"] is not None and last["rc"]:
            what += " (rc %d)" % last["rc"]
        out.append("  last: %s, %s (%s, %.1f s)%s" % (what, _ago(now, last["time"]), last["reason"],
                                                       last["seconds"], (": " + last["message"])
                                                       if last["message"] else ""))
    pending = [e for e in (requests_record or {}).get("log", [])][-3:]
    for e in pending:
        out.append("  request %s from %s: checkpoint %d" % (e["token"], e.get("vnode"), e["ckpt"]))
    return "\n".join(out)
