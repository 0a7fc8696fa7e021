"""Action plugin vcluster.cluster.ft_lock: one fault-tolerance operation
(checkpoint, restore, migrate) at a time per cluster, on the controller.

The lock file records the running ansible-playbook's PID: a lock whose
holder is gone (killed, crashed) is stale and taken over, so a crash never
needs a manual clean-up; a live holder makes the caller fail before it changes
anything, naming the operation that runs."""

import json
import os
import time

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase


def holder_alive(pid):
    try:
        with open("/proc/%d/cmdline" % int(pid), "rb") as f:
            return b"ansible" in f.read()
    except (OSError, ValueError):
        return False


def _cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read()


def _parent(pid):
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def playbook_pid():
    """The ansible-playbook process: the topmost ancestor whose command line
    names it (its workers are forks with the same command line, and they come
    and go)."""
    pid, found = os.getpid(), None
    for _ in range(16):
        try:
            if b"ansible-playbook" in _cmdline(pid):
                found = pid
            elif found is not None:
                break
            pid = _parent(pid)
        except (OSError, ValueError, IndexError):
            break
        if pid <= 1:
            break
    return found or os.getppid()


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("path", "op", "state"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        path = self._task.args["path"]
        op = self._task.args.get("op", "operation")
        state = self._task.args.get("state", "present")
        me = playbook_pid()
        try:
            with open(path) as f:
                held = json.load(f)
        except (OSError, ValueError):
            held = None
        if state == "absent":
            if held and int(held.get("pid", -1)) == me:
                os.unlink(path)
                result["changed"] = True
            return result
        if held and int(held.get("pid", -1)) != me and holder_alive(held.get("pid", -1)):
            raise AnsibleActionFail(
                "%s refused: %s (ansible-playbook PID %s, started %s) is running on this cluster; wait for it to end "
                "(nothing was changed)" % (op, held.get("op"), held.get("pid"),
                                          time.strftime("%H:%M:%S", time.localtime(held.get("time", 0)))))
        if self._task.check_mode:
            return result
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp_path = "%s.%d" % (path, me)
        with open(tmp_path, "w") as f:
            json.dump({"pid": me, "op": op, "time": time.time(),
                       "took_over": {k: held.get(k) for k in ("pid", "op", "time")} if held else None}, f)
        os.rename(tmp_path, path)
        result.update(changed=True, pid=me, took_over=held)
        return result
