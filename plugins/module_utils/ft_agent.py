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

A restore (module ``vcluster.cluster.ckpt_restore``) is driven the same way
with ``"mode": "restore"``: ``load`` (stop every vnode instance of the host,
restore its vnodes from the checkpoint, frozen), then ``resume`` (thaw).

The lease. The controller is a client, not the engine: it may die at any
step (power, OOM, an operator's Ctrl-C) or lose its link, and the host side
must not depend on it to undo its work. Both sides send a line at least every
``BEAT`` seconds (the coordinator ``{"op": "renew"}``, the agent
``{"beat": true}``); the agent counts the coordinator gone when the session
ends (EOF, a write that fails) or when it has heard nothing for ``lease``
seconds, and then, after the step it is running (a CRIU dump is never cut in
the middle: a killed CRIU leaves its parasite in the processes):

- checkpoint: deletes the checkpoint here unless it is COMMITTED here, thaws
  its vnodes;
- restore: finishes loading, then resumes its vnodes (every host does: the
  cluster ends fully in the restored state); a host whose load failed stops
  what it loaded;

and writes what it did to ``<store>/<cluster>/agent.log``. The coordinator
likewise counts a host gone after ``lease`` seconds of silence and aborts.
The agent ignores SIGHUP and SIGPIPE and never raises on a closed pipe, so the
end of the session does not kill it before it has undone its work.

Two-phase commit. PREPARED and COMMITTED hold the checkpoint's members (the
hosts that dump). A checkpoint counts only when every member that answers has
COMMITTED (``ckpt.committed_ids``): when the coordinator dies between the
first and the last COMMITTED mark, the hosts it did not reach delete their
part on lease expiry, and the next FT operation discards the rest everywhere
(``ckpt.partial_ids``); it is never restored.
"""

import concurrent.futures
import inspect
import json
import os
import queue
import select
import shlex
import signal
import subprocess
import sys
import threading
import time

from ansible_collections.vcluster.cluster.plugins.module_utils import ckpt as C
from ansible_collections.vcluster.cluster.plugins.module_utils import paths as P
from ansible_collections.vcluster.cluster.plugins.module_utils import replication as R
from ansible_collections.vcluster.cluster.plugins.module_utils import vnode as V
from ansible_collections.vcluster.cluster.plugins.module_utils import qmp as Q
from ansible_collections.vcluster.cluster.plugins.module_utils import vm as VM
from ansible_collections.vcluster.cluster.plugins.module_utils import ft_host as H

PACKAGE = "ansible_collections.vcluster.cluster.plugins.module_utils"
BOOT = ("import sys;n=int(sys.stdin.buffer.readline());"
        "exec(compile(sys.stdin.buffer.read(n),'vcluster-ckpt-agent','exec'))")
# Seconds without a word from the other side after which it counts as gone.
LEASE = 5.0
# Each side sends something at least this often.
BEAT = 1.0
AGENT_LOG = "agent.log"


class Gone(RuntimeError):
    """The coordinator is gone (the session ended or the lease ran out)."""


# --- the agent (on the host) ---------------------------------------------------

class Channel:
    """The agent's end of the session. A reader thread queues the steps (every
    line renews the lease; ``renew`` lines do nothing else), a heartbeat thread
    sends ``{"beat": true}`` every ``beat`` seconds, and writes never raise."""

    def __init__(self, inp, out, lease=LEASE, beat=BEAT):
        self.inp, self.out, self.lease = inp, out, float(lease)
        self.last = time.monotonic()
        self.steps = queue.Queue()
        self.closed = None
        self.lock = threading.Lock()
        self.done = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if beat:
            threading.Thread(target=self._beat, args=(float(beat),), daemon=True).start()

    def _read(self):
        try:
            for line in iter(self.inp.readline, b""):
                self.last = time.monotonic()
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                if isinstance(msg, dict) and msg.get("op") != "renew":
                    self.steps.put(msg)
        except (OSError, ValueError):
            pass
        self.closed = self.closed or "the session ended"
        self.steps.put(None)

    def _beat(self, every):
        while not self.done.wait(every):
            self.send({"beat": True})

    def send(self, msg):
        with self.lock:
            try:
                self.out.write((json.dumps(msg) + "\n").encode())
                self.out.flush()
            except (OSError, ValueError):
                self.closed = self.closed or "the session is broken (a write failed)"

    def gone(self):
        """Why the coordinator counts as gone, or None while the lease holds."""
        if self.closed:
            return self.closed
        idle = time.monotonic() - self.last
        if idle > self.lease:
            return "no word from the coordinator for %.1f s (lease %.1f s)" % (idle, self.lease)
        return None

    def next(self, timeout):
        try:
            return self.steps.get(timeout=timeout)
        except queue.Empty:
            return None


def note(config, text):
    """One line in <store>/<cluster>/agent.log (what an agent did on its own)."""
    try:
        top = os.path.join(config["store"], config["cluster"])
        os.makedirs(top, mode=0o700, exist_ok=True)
        with open(os.path.join(top, AGENT_LOG), "a") as f:
            f.write("%s %s %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%S"), config.get("host") or "-", text))
    except OSError:
        pass


class CheckpointWork:
    """The steps of a checkpoint on one host, and how to undo them."""

    def __init__(self, run, config, channel):
        self.run, self.config, self.channel = run, config, channel
        self.root, self.store, self.cluster = config["root"], config["store"], config["cluster"]
        self.vnodes, self.ckpt = config["vnodes"], int(config["ckpt"])
        self.members = sorted(config.get("members") or [])
        self.committed = False

    def do(self, op, req):
        if op == "freeze":
            return H.freeze(self.run, self.root, self.vnodes)
        if op == "dump":
            result = []
            for v in self.vnodes:
                why = self.channel.gone()
                if why:  # between two vnodes: never in the middle of a CRIU dump
                    raise Gone(why)
                result.append(H.dump(self.run, self.store, self.cluster, self.ckpt, self.root, v,
                                     H.vnode_info(self.root, v), int(self.config.get("max_chain", 3)),
                                     self.config.get("host")))
            H.prepare(self.store, self.cluster, self.ckpt, self.vnodes, members=self.members)
            return result
        if op == "commit":
            H.mark(self.store, self.cluster, self.ckpt, C.COMMITTED, members=self.members)
            self.committed = True
            return "committed"
        if op == "abort":
            deleted = H.abort(self.store, self.cluster, self.ckpt, force=bool(req.get("force")))
            self.committed = self.committed and not deleted
            return deleted
        if op == "thaw":
            return H.thaw(self.run, self.root, self.vnodes)
        raise H.HostError("unknown step %r" % op)

    def undo(self, why):
        deleted = False if self.committed else H.abort(self.store, self.cluster, self.ckpt)
        thawed = H.thaw(self.run, self.root, self.vnodes)
        note(self.config, "checkpoint %d: coordinator gone (%s); %s; thawed %s" % (
            self.ckpt, why, "kept (committed here)" if self.committed else
            ("deleted (not committed)" if deleted else "nothing to delete"), ",".join(thawed) or "nothing"))


class RestoreWork:
    """The steps of a restore on one host: ``load`` stops every vnode instance
    here (removing those restored elsewhere) and restores this host's vnodes,
    frozen; ``resume`` thaws them. Undo: finish (resume what loaded)."""

    def __init__(self, run, config, channel):
        self.run, self.config, self.channel = run, config, channel
        self.names = [v["name"] for v in config["vnodes"]]
        self.loaded, self.results, self.failed = [], [], None

    def do(self, op, req):
        c = self.config
        if op == "load":
            try:
                H.stop_all(self.run, c["root"], self.names)
                for v in c["vnodes"]:
                    self.loaded.append(v["name"])
                    self.results.append(H.restore_one(self.run, c["store"], c["cluster"], int(c["ckpt"]), c["root"],
                                                      v, c["net"]))
            except Exception as exc:  # pylint: disable=broad-except  # kept for undo(), then reported
                self.failed = "%s: %s" % (type(exc).__name__, exc)
                raise
            return self.results  # per vnode: {vnode, chain, fs_s, total_s, state}
        if op == "resume":
            return H.thaw(self.run, c["root"], self.loaded)
        if op == "stop":
            return H.stop_all(self.run, c["root"], self.names)
        raise H.HostError("unknown step %r" % op)

    def undo(self, why):
        c = self.config
        if self.failed:
            H.stop_all(self.run, c["root"], self.names)
            what = "load failed (%s): stopped %s" % (self.failed, ",".join(self.loaded) or "nothing")
        else:
            what = "resumed %s" % (",".join(H.thaw(self.run, c["root"], self.loaded)) or "nothing")
        note(c, "restore of checkpoint %s: coordinator gone (%s); %s" % (c["ckpt"], why, what))


class OpsWork:
    """The steps around a checkpoint on one host (``"mode": "ops"``), each on
    its own, with nothing to undo: ``scan`` the store and the vnodes,
    ``delete`` checkpoints, ``push`` copies to peers (rsync, host to host),
    ``accept`` received copies (verified against their manifests), write the
    ``catalog``."""

    PARALLEL = 4

    def __init__(self, run, config, channel):
        self.run, self.config, self.channel = run, config, channel

    def do(self, op, req):
        c = self.config
        if op == "scan":
            verify = req.get("verify")
            verify = {int(i) for i in verify} if isinstance(verify, list) else bool(verify)
            return H.scan(c["store"], c["cluster"], verify=verify, run=self.run, root=c.get("root"))
        if op == "delete":
            return H.delete(c["store"], c["cluster"], req.get("ids") or [])
        if op == "push":
            return self.push(req.get("copies") or [])
        if op == "accept":
            return [{"ckpt": item["ckpt"], "problems": {v: H.accept(c["store"], c["cluster"], item["ckpt"], v)
                                                        for v in item["vnodes"]}} for item in req.get("items") or []]
        if op == "catalog":
            return H.write_catalog(c["store"], c["cluster"], req["catalog"])
        raise H.HostError("unknown step %r" % op)

    def push(self, copies):
        c, repl = self.config, self.config.get("replication") or {}

        def one(copy):
            return H.push(copy, lambda ckpt, basis: R.push_argv(
                C.vnode_dir(c["store"], c["cluster"], ckpt, copy["vnode"]), copy["peer"], repl["key"],
                repl["known_hosts"], ckpt, copy["vnode"], basis=basis, mbit=repl.get("mbit")))
        with concurrent.futures.ThreadPoolExecutor(max_workers=self.PARALLEL) as pool:
            return list(pool.map(one, copies))

    def undo(self, why):
        note(self.config, "coordinator gone (%s) between FT steps: nothing to undo" % why)


def serve(inp, out, run, config):
    """Answer the coordinator's steps until ``exit``; when the coordinator is
    gone (module docstring: the lease), undo or finish the work. Returns
    {"exited": bool, "gone": why or None, "committed": bool (checkpoints)}."""
    channel = Channel(inp, out, config.get("lease") or LEASE, config.get("beat", BEAT))
    work = {"restore": RestoreWork, "ops": OpsWork}.get(config.get("mode"), CheckpointWork)(run, config, channel)
    channel.send({"ready": True, "host": config.get("host")})
    why = None
    while True:
        req = channel.next(0.1)
        if req is None:
            why = channel.gone()
            if why:
                break
            continue
        op = req.get("op")
        if op == "exit":
            channel.send({"ok": True, "result": "bye"})
            channel.done.set()
            return {"exited": True, "gone": None, "committed": getattr(work, "committed", False)}
        if op in ("begin", "end") and config.get("mode") == "ops":
            # An ops session runs a checkpoint's pause or a restore too (no
            # second session to start): "begin" makes it a checkpoint's or a
            # restore's (their lease and undo), "end" an ops session again.
            if op == "begin":
                kind = RestoreWork if req["config"].get("mode") == "restore" else CheckpointWork
                work = kind(run, dict(config, **req["config"]), channel)
            else:
                work = OpsWork(run, config, channel)
            channel.send({"ok": True, "result": op})
            continue
        start = time.monotonic()
        try:
            result = work.do(op, req)
            channel.send({"ok": True, "result": result, "seconds": round(time.monotonic() - start, 4)})
        except Exception as exc:  # pylint: disable=broad-except  # reported to the coordinator, which aborts
            channel.send({"ok": False, "error": "%s: %s" % (type(exc).__name__, exc)})
    channel.done.set()
    work.undo(why)
    return {"exited": False, "gone": why, "committed": getattr(work, "committed", False)}


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
    """Entry point on the host: the config is the first line after the source.
    The end of the session must not kill the agent before it has undone its
    work: SIGHUP is ignored (SIGPIPE is, by Python: a write raises instead)."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    config = json.loads(sys.stdin.buffer.readline())
    if config.get("mode") == "watch":
        watch(sys.stdin.fileno(), sys.stdout.buffer, config)
    else:
        serve(sys.stdin.buffer, sys.stdout.buffer, H.local_run, config)
    # Done (undone, or exited when told): leave at once. A normal interpreter
    # exit waits a second for the reader thread, blocked in stdin's read,
    # to let go of the buffer's lock (measured: every session took 1 s to end).
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    os._exit(0)  # pylint: disable=protected-access


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
    """The agent's program: paths, replication, ckpt, vnode, qmp, vm, ft_host and this module, as bundle() sends
    them."""
    return bundle([(short, inspect.getsource(mod)) for short, mod in (
        ("paths", P), ("replication", R), ("ckpt", C), ("vnode", V), ("qmp", Q), ("vm", VM), ("ft_host", H),
        ("ft_agent", sys.modules[__name__]))])


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
        if self.error and self.proc.poll() is None:
            # A session counted down (silent past the lease, a broken pipe) may
            # hang until TCP gives up: the agent acts on its own lease anyway.
            self.proc.kill()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _agent_argv(h):
    return C.ssh_argv(h) + [" ".join(shlex.quote(a) for a in (h.get("python") or "python3", "-c", BOOT))]


def gather(sessions, timeout, lease=LEASE, beat=BEAT):
    """One answer line from each session (None for a session that failed).
    Meanwhile renews every session's lease every ``beat`` seconds and counts a
    host that has sent nothing (not even a beat) for ``lease`` seconds gone."""
    answers = {s.host: None for s in sessions}
    waiting = {s.proc.stdout.fileno(): s for s in sessions if not s.error}
    start = time.monotonic()
    deadline, renew = start + timeout, start + beat
    heard = {s.host: start for s in waiting.values()}
    while waiting:
        now = time.monotonic()
        if now >= renew:
            for s in sessions:
                s.send({"op": "renew"})
            renew = now + beat
        for fd, s in list(waiting.items()):
            if s.error:
                del waiting[fd]
            elif now - heard[s.host] > lease:
                s.error = "silent for %.1f s (the host or its link is down)" % (now - heard[s.host])
                del waiting[fd]
        if now >= deadline:
            for s in waiting.values():
                s.error = "no answer within %d s" % timeout
            break
        if not waiting:
            break
        ready, _w, _x = select.select(list(waiting), [], [], max(0.0, min(deadline, renew) - now))
        for fd in ready:
            s = waiting[fd]
            chunk = os.read(fd, 65536)
            if not chunk:
                err = s.proc.stderr.read().decode(errors="replace").strip() if s.proc.poll() is not None else ""
                s.error = "the session ended%s" % (": " + err[-500:] if err else "")
                del waiting[fd]
                continue
            heard[s.host] = time.monotonic()
            s.buffer += chunk
            while b"\n" in s.buffer and fd in waiting:
                line, s.buffer = s.buffer.split(b"\n", 1)
                msg = json.loads(line)
                if msg.get("beat"):
                    continue
                answers[s.host] = msg
                del waiting[fd]
    return answers


def step(sessions, op, timeout, lease=LEASE, **extra):
    """Send ``op`` to every session, wait for all; returns (results, failures)."""
    for s in sessions:
        s.send(dict(extra, op=op))
    answers = gather(sessions, timeout, lease)
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


def start(hosts, program, configs, argv_of, lease):
    """One agent session per host, each with its config; returns (sessions,
    failures to start)."""
    sessions = [Session(name, argv_of(h), program, dict(configs[name], host=name, lease=lease))
                for name, h in sorted(hosts.items())]
    ready = gather(sessions, 60, lease)
    failures = ["%s: %s" % (s.host, s.error or "no answer") for s in sessions
                if s.error or not (ready.get(s.host) or {}).get("ready")]
    return sessions, failures


def begin(shared, hosts, configs, lease):
    """Turn the ops sessions ``shared`` ({host: Session}) of ``hosts`` into a
    checkpoint's (op "begin"); returns (sessions, failures)."""
    sessions = [shared[name] for name in sorted(hosts) if name in shared and not shared[name].error]
    failures = ["%s: no session" % name for name in sorted(hosts) if name not in shared or shared[name].error]
    for s in sessions:
        s.send({"op": "begin", "config": configs[s.host]})
    answers = gather(sessions, 60, lease)
    for s in sessions:
        if s.error or not (answers.get(s.host) or {}).get("ok"):
            failures.append("%s: %s" % (s.host, s.error or "no answer"))
    return sessions, failures


def coordinate(hosts, program, cluster, ckpt, max_chain, timeout=300, argv_of=None, lease=LEASE, stop_at=None,
               shared=None):
    """Run one coordinated checkpoint over ``hosts`` ({host: {ssh..., store,
    root, vnodes, python}}). Returns a report: committed, pause (first freeze
    to last thaw, s), per-step seconds, per-host dumps, failures. It is
    committed only when every host committed; otherwise it is discarded
    everywhere (``abort`` with force: also where it was committed).
    ``shared``: {host: Session} of ops agents to run it over (they are left
    open, ops sessions again) instead of sessions of its own.
    ``stop_at`` (tests of the lease): return without a word after sending
    that step, as a coordinator that died there."""
    argv_of = argv_of or _agent_argv
    report = {"ckpt": ckpt, "committed": False, "failures": [], "steps": {}}
    members = sorted(hosts)
    t_start = time.monotonic()
    configs = {name: {"store": h["store"], "root": h["root"], "cluster": cluster, "ckpt": ckpt,
                      "vnodes": h["vnodes"], "max_chain": max_chain, "members": members}
               for name, h in hosts.items()}
    if shared is None:
        sessions, report["failures"] = start(hosts, program, configs, argv_of, lease)
    else:
        sessions, report["failures"] = begin(shared, hosts, configs, lease)
    try:
        if report["failures"]:
            report["failures"].insert(0, "not started (nothing was frozen)")
            return report
        report["start"] = round(time.monotonic() - t_start, 4)
        t0 = time.monotonic()
        for op in ("freeze", "dump"):
            if op == stop_at:
                return _vanish(sessions, op, report)
            t = time.monotonic()
            results, failures = step(sessions, op, timeout, lease)
            report["steps"][op] = round(time.monotonic() - t, 4)
            if op == "dump":
                report["dumps"] = {h: r["result"] for h, r in results.items()}
            if failures:
                report["failures"] += failures
                break
        final = "abort" if report["failures"] else "commit"
        if final == stop_at:
            return _vanish(sessions, final, report)
        t = time.monotonic()
        results, failures = step(sessions, final, 60, lease)
        if final == "commit":
            report["committed"] = not failures
            if failures:
                # Committed on some hosts only: discarded everywhere (a host
                # the coordinator cannot reach deletes its part by itself when
                # its lease runs out, or the next FT operation does).
                report["failures"] += failures
                step(sessions, "abort", 60, lease, force=True)
        report["steps"][final] = round(time.monotonic() - t, 4)
        if stop_at == "thaw":
            return _vanish(sessions, "thaw", report)
        t = time.monotonic()
        _results, failures = step(sessions, "thaw", 60, lease)
        report["steps"]["thaw"] = round(time.monotonic() - t, 4)
        report["pause"] = round(time.monotonic() - t0, 4)
        report["failures"] += failures
        t = time.monotonic()
        step(sessions, "exit" if shared is None else "end", 30, lease)
        report["exit"] = round(time.monotonic() - t, 4)
    finally:
        for s in sessions if shared is None else ():
            s.close()
        report["failures"] = list(dict.fromkeys(report["failures"]))  # a dead host fails every later step too
    return report


def _vanish(sessions, op, report):
    """Send ``op`` and stop talking (``stop_at``): the agents' leases run out."""
    for s in sessions:
        s.send({"op": op})
    report["vanished_at"] = op
    return report


def restore(hosts, program, cluster, ckpt, net, timeout=600, argv_of=None, lease=LEASE, shared=None):
    """Load checkpoint ``ckpt`` on every host of ``hosts`` ({host: {ssh...,
    store, root, python, vnodes: [{name, ip}]}}; every live host, also those
    restoring nothing: they stop their instances) with the processes frozen,
    then resume everywhere only when every host loaded. ``net``: {prefix,
    mtu, bridge, net_up, image_dir, image_suite}. Returns {loaded, resumed,
    steps, failures, per host results}. A host that fails to load -> nothing
    resumes (the caller stops what was loaded). ``shared``: {host: Session}
    of ops agents to run it over (left open, ops sessions again)."""
    argv_of = argv_of or _agent_argv
    report = {"ckpt": ckpt, "loaded": False, "resumed": False, "failures": [], "steps": {}}
    configs = {name: {"mode": "restore", "store": h["store"], "root": h["root"], "cluster": cluster, "ckpt": ckpt,
                      "vnodes": h["vnodes"], "net": net} for name, h in hosts.items()}
    if shared is None:
        sessions, report["failures"] = start(hosts, program, configs, argv_of, lease)
    else:
        sessions, report["failures"] = begin(shared, hosts, configs, lease)
    try:
        if report["failures"]:
            report["failures"].insert(0, "not started (nothing was changed)")
            return report
        for op in ("load", "resume"):
            t = time.monotonic()
            results, failures = step(sessions, op, timeout, lease)
            report["steps"][op] = round(time.monotonic() - t, 4)
            report[op] = {h: r["result"] for h, r in results.items()}
            if failures:
                report["failures"] += failures
                break
            report["loaded" if op == "load" else "resumed"] = True
        if report["failures"]:
            # Nothing may resume by itself now: stop before leaving (the lease
            # would resume a host that did load).
            step(sessions, "stop", 120, lease)
        step(sessions, "exit" if shared is None else "end", 30, lease)
    finally:
        for s in sessions if shared is None else ():
            s.close()
    return report


def watch_requests(hosts, program, wait, answers, settle=1.0, argv_of=None, start_timeout=60):
    """Wait up to ``wait`` seconds for a checkpoint request from any vnode of
    ``hosts`` ({host: {ssh..., root, python}}), answering on the way the
    requests ``answers`` ({token: ckpt id}) honoured already. Returns as soon
    as a request arrived (plus ``settle`` seconds for simultaneous ones), and
    never before every host made its first scan (or failed):
    {"requests": [{vnode, token, host}], "answered": [...], "down": {host: why}}."""
    argv_of = argv_of or _agent_argv
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
