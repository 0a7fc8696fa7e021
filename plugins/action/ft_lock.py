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


def playbook_pid():
    """The ansible-playbook process: the nearest ancestor whose command line
    names it (workers are its forks)."""
    pid = os.getpid()
    for _ in range(8):
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                cmd = f.read()
            if b"ansible-playbook" in cmd:
                return pid
            with open("/proc/%d/stat" % pid) as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return os.getppid()


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
            json.dump({"pid": me, "op": op, "time": time.time(), "stale": held}, f)
        os.rename(tmp_path, path)
        result.update(changed=True, pid=me, took_over=held)
        return result
