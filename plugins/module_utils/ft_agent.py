"""The checkpoint agent and its coordinator: the pause without Ansible's per-task cost.

A coordinated checkpoint stops the whole cluster from the first freeze to the
last thaw. Run as one Ansible task per step (freeze, dump, commit, thaw) the
pause was 3-5 s here, most of it Ansible's own cost per task. Instead, the
coordinator (module ``vcluster.cluster.ckpt_coord``, on the controller) opens
one SSH session per host *before* the pause, starts this agent there (its
source is sent over the session: nothing is installed) and then drives every
host in lock step with one JSON line per step:

    coordinator -> agent        agent -> coordinator
    (source, config)            {"ready": true}
    {"op": "freeze"}            {"ok": true, "result": ..., "seconds": s}
    {"op": "dump"}              ... dumps every vnode, verifies, PREPARED
    {"op": "commit"}            ... COMMITTED     (or {"op": "abort"})
    {"op": "thaw"}
    {"op": "exit"}

Dead-man switch: if the session ends before ``exit`` (the controller or the
link died), the agent deletes the checkpoint unless committed and thaws its
vnodes: a failure never leaves the cluster frozen or a partial checkpoint.
"""

import inspect
import json
import os
import select
import shlex
import subprocess
import sys
import time

from ansible_collections.vcluster.cluster.plugins.module_utils import ckpt as C
from ansible_collections.vcluster.cluster.plugins.module_utils import ft_host as H

PACKAGE = "ansible_collections.vcluster.cluster.plugins.module_utils"
BOOT = ("import sys;n=int(sys.stdin.buffer.readline());"
        "exec(compile(sys.stdin.buffer.read(n),'vcluster-ckpt-agent','exec'))")


# --- the agent (on the host) ---------------------------------------------------

def serve(inp, out, run, config):
    """Answer the coordinator's steps until ``exit`` or the end of ``inp``."""
    root, store, cluster = config["root"], config["store"], config["cluster"]
    vnodes, ckpt = config["vnodes"], int(config["ckpt"])
    state = {"committed": False, "exited": False}

    def send(msg):
        out.write((json.dumps(msg) + "\n").encode())
        out.flush()

    send({"ready": True, "host": config.get("host")})
    for line in inp:
        req = json.loads(line)
        op = req.get("op")
        start = time.monotonic()
        try:
            if op == "freeze":
                result = H.freeze(run, root, vnodes)
            elif op == "dump":
                result = [H.dump(run, store, cluster, ckpt, root, v, H.vnode_info(root, v),
                                 int(config.get("max_chain", 3)), config.get("host")) for v in vnodes]
                H.prepare(store, cluster, ckpt, vnodes)
            elif op == "commit":
                H.mark(store, cluster, ckpt, C.COMMITTED)
                state["committed"] = True
                result = "committed"
            elif op == "abort":
                result = H.abort(store, cluster, ckpt)
            elif op == "thaw":
                result = H.thaw(run, root, vnodes)
            elif op == "exit":
                state["exited"] = True
                send({"ok": True, "result": "bye"})
                return state
            else:
                raise H.HostError("unknown step %r" % op)
            send({"ok": True, "result": result, "seconds": round(time.monotonic() - start, 4)})
        except Exception as exc:  # pylint: disable=broad-except  # reported to the coordinator, which aborts
            send({"ok": False, "error": "%s: %s" % (type(exc).__name__, exc)})
    # The coordinator is gone: never leave a partial checkpoint or frozen vnodes.
    if not state["committed"]:
        H.abort(store, cluster, ckpt)
    H.thaw(run, root, vnodes)
    return state


def watch(inp, out, config):
    """Watch the vnodes under ``config["root"]`` for checkpoint requests
    (ft_host.pending_requests) until the coordinator closes the session.
    Requests whose token is in ``config["answers"]`` ({token: ckpt id}) were
    honoured already (possibly before a restore brought the request back):
    they are answered at once, never reported again. Sends after the first
    scan {"scanned": true, "requests": [...], "answered": [...]}, then one
    line per scan that finds something new."""
    root, answers = config["root"], {str(k): int(v) for k, v in (config.get("answers") or {}).items()}
    every = float(config.get("every", 0.5))
    reported = set()

    def send(msg):
        out.write((json.dumps(msg) + "\n").encode())
        out.flush()

    send({"ready": True, "host": config.get("host")})
    first = True
    while True:
        new, answered = [], []
        for req in H.pending_requests(root):
            if req["token"] in answers:
                if H.answer_request(root, req["vnode"], req["token"], answers[req["token"]]):
                    answered.append(dict(req, ckpt=answers[req["token"]]))
            elif req["token"] not in reported:
                reported.add(req["token"])
                new.append(req)
        if first or new or answered:
            send({"scanned": True, "requests": new, "answered": answered, "host": config.get("host")})
            first = False
        ready, _w, _x = select.select([inp], [], [], every)
        if ready:  # the coordinator closed the session (it never sends more)
            return reported


def agent_main():
    """Entry point on the host: the config is the first line after the source."""
    config = json.loads(sys.stdin.buffer.readline())
    if config.get("mode") == "watch":
        watch(sys.stdin.fileno(), sys.stdout.buffer, config)
    else:
        serve(sys.stdin.buffer, sys.stdout.buffer, H.local_run, config)


# --- the coordinator (on the controller) ---------------------------------------

def bundle(sources):
    """The program sent to each host: the plain-Python modules it needs,
    registered under their package names, then the agent's entry point.
    ``sources``: [(short name, source text)] in dependency order."""
    lines = ["import sys, types",
             "parts = %r.split('.')" % PACKAGE,
             "for i in range(1, len(parts) + 1):",
             "    name = '.'.join(parts[:i])",
             "    if name not in sys.modules:",
             "        mod = types.ModuleType(name); mod.__path__ = []; sys.modules[name] = mod",
             "        if i > 1: setattr(sys.modules['.'.join(parts[:i - 1])], parts[i - 1], mod)",
             "SOURCES = %r" % list(sources),
             "for short, text in SOURCES:",
             "    mod = types.ModuleType(%r + '.' + short)" % PACKAGE,
             "    sys.modules[mod.__name__] = mod",
             "    setattr(sys.modules[%r], short, mod)" % PACKAGE,
             "    exec(compile(text, 'vcluster/' + short + '.py', 'exec'), mod.__dict__)",
             "sys.modules[%r + '.ft_agent'].agent_main()" % PACKAGE]
    return "\n".join(lines) + "\n"


def program():
    """The agent's program: ckpt, ft_host and this module, as bundle() sends them."""
    return bundle([("ckpt", inspect.getsource(C)), ("ft_host", inspect.getsource(H)),
                   ("ft_agent", inspect.getsource(sys.modules[__name__]))])


class Session:
    """One host's agent, over an SSH session (``argv``)."""

    def __init__(self, host, argv, program, config):
        self.host = host
        self.buffer = b""
        self.error = None
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,  # pylint: disable=R1732
                                     stderr=subprocess.PIPE)
        data = program.encode()
        try:
            self.proc.stdin.write(b"%d\n" % len(data) + data + (json.dumps(config) + "\n").encode())
            self.proc.stdin.flush()
        except OSError as exc:
            self.error = "cannot start the agent: %s" % exc

    def send(self, msg):
        if self.error:
            return
        try:
            self.proc.stdin.write((json.dumps(msg) + "\n").encode())
            self.proc.stdin.flush()
        except OSError as exc:
            self.error = "lost the session: %s" % exc

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def gather(sessions, timeout):
    """One answer line from each session (None for a session that failed)."""
    answers = {s.host: None for s in sessions}
    waiting = {s.proc.stdout.fileno(): s for s in sessions if not s.error}
    deadline = time.monotonic() + timeout
    while waiting:
        left = deadline - time.monotonic()
        if left <= 0:
            for s in waiting.values():
                s.error = "no answer within %d s" % timeout
            break
        ready, _w, _x = select.select(list(waiting), [], [], left)
        for fd in ready:
            s = waiting[fd]
            chunk = os.read(fd, 65536)
            if not chunk:
                err = s.proc.stderr.read().decode(errors="replace").strip() if s.proc.poll() is not None else ""
                s.error = "the session ended%s" % (": " + err[-500:] if err else "")
                del waiting[fd]
                continue
            s.buffer += chunk
            if b"\n" in s.buffer:
                line, s.buffer = s.buffer.split(b"\n", 1)
                answers[s.host] = json.loads(line)
                del waiting[fd]
    return answers


def step(sessions, op, timeout):
    """Send ``op`` to every session, wait for all; returns (results, failures)."""
    for s in sessions:
        s.send({"op": op})
    answers = gather(sessions, timeout)
    results, failures = {}, []
    for s in sessions:
        ans = answers.get(s.host)
        if s.error or ans is None:
            failures.append("%s: %s" % (s.host, s.error or "no answer"))
        elif not ans.get("ok"):
            failures.append("%s: %s" % (s.host, ans.get("error")))
        else:
            results[s.host] = ans
    return results, failures


def coordinate(hosts, program, cluster, ckpt, max_chain, timeout=300, argv_of=None):
    """Run one coordinated checkpoint over ``hosts`` ({host: {ssh..., store,
    root, vnodes, python}}). Returns a report: committed, pause (first freeze
    to last thaw, s), per-step seconds, per-host dumps, failures."""
    argv_of = argv_of or (lambda h: C.ssh_argv(h) + [" ".join(shlex.quote(a) for a in
                                                             (h.get("python") or "python3", "-c", BOOT))])
    report = {"ckpt": ckpt, "committed": False, "failures": [], "steps": {}}
    sessions = [Session(name, argv_of(h), program,
                        {"store": h["store"], "root": h["root"], "cluster": cluster, "ckpt": ckpt,
                         "vnodes": h["vnodes"], "host": name, "max_chain": max_chain})
                for name, h in sorted(hosts.items())]
    try:
        ready = gather(sessions, 60)
        report["failures"] = ["%s: %s" % (s.host, s.error or "no answer") for s in sessions
                              if s.error or not (ready.get(s.host) or {}).get("ready")]
        if report["failures"]:
            report["failures"].insert(0, "not started (nothing was frozen)")
            return report
        t0 = time.monotonic()
        for op in ("freeze", "dump"):
            t = time.monotonic()
            results, failures = step(sessions, op, timeout)
            report["steps"][op] = round(time.monotonic() - t, 4)
            if op == "dump":
                report["dumps"] = {h: r["result"] for h, r in results.items()}
            if failures:
                report["failures"] += failures
                break
        t = time.monotonic()
        final = "abort" if report["failures"] else "commit"
        results, failures = step(sessions, final, 60)
        report["steps"][final] = round(time.monotonic() - t, 4)
        if final == "commit":
            # One COMMITTED marker makes the checkpoint count (every host prepared).
            report["committed"] = bool(results)
            report["failures"] += failures
        t = time.monotonic()
        _results, failures = step(sessions, "thaw", 60)
        report["steps"]["thaw"] = round(time.monotonic() - t, 4)
        report["pause"] = round(time.monotonic() - t0, 4)
        report["failures"] += failures
        step(sessions, "exit", 30)
    finally:
        for s in sessions:
            s.close()
    return report


def watch_requests(hosts, program, wait, answers, settle=1.0, argv_of=None, start_timeout=60):
    """Wait up to ``wait`` seconds for a checkpoint request from any vnode of
    ``hosts`` ({host: {ssh..., root, python}}), answering on the way the
    requests ``answers`` ({token: ckpt id}) honoured already. Returns as soon
    as a request arrived (plus ``settle`` seconds for simultaneous ones), and
    never before every host made its first scan (or failed):
    {"requests": [{vnode, token, host}], "answered": [...], "down": {host: why}}."""
    argv_of = argv_of or (lambda h: C.ssh_argv(h) + [" ".join(shlex.quote(a) for a in
                                                             (h.get("python") or "python3", "-c", BOOT))])
    result = {"requests": [], "answered": [], "down": {}}
    sessions = [Session(name, argv_of(h), program, {"mode": "watch", "root": h["root"], "host": name,
                                                   "answers": answers})
                for name, h in sorted(hosts.items())]
    start = time.monotonic()
    deadline = start + max(0.0, float(wait))
    unscanned = {s.host for s in sessions if not s.error}
    for s in sessions:
        if s.error:
            result["down"][s.host] = s.error
    open_fds = {s.proc.stdout.fileno(): s for s in sessions if not s.error}
    try:
        while open_fds:
            now = time.monotonic()
            if unscanned and now - start > start_timeout:
                for s in open_fds.values():
                    if s.host in unscanned:
                        result["down"][s.host] = "no answer within %d s" % start_timeout
                break
            if not unscanned and now >= deadline:
                break
            limit = (start + start_timeout) if unscanned else deadline
            ready, _w, _x = select.select(list(open_fds), [], [], max(0.0, min(limit - now, 1.0)))
            for fd in ready:
                s = open_fds[fd]
                chunk = os.read(fd, 65536)
                if not chunk:
                    err = s.proc.stderr.read().decode(errors="replace").strip() if s.proc.poll() is not None else ""
                    result["down"][s.host] = "the session ended%s" % (": " + err[-300:] if err else "")
                    unscanned.discard(s.host)
                    del open_fds[fd]
                    continue
                s.buffer += chunk
                while b"\n" in s.buffer:
                    line, s.buffer = s.buffer.split(b"\n", 1)
                    msg = json.loads(line)
                    if not msg.get("scanned"):
                        continue
                    unscanned.discard(s.host)
                    result["answered"] += [dict(r, host=s.host) for r in msg.get("answered", [])]
                    if msg.get("requests"):
                        result["requests"] += [dict(r, host=s.host) for r in msg["requests"]]
                        deadline = min(deadline, time.monotonic() + settle)
    finally:
        for s in sessions:
            s.close()
    return result
