#!/usr/bin/python
"""Keep one long-running process of the project running (or stopped), by PID file."""

from __future__ import annotations

DOCUMENTATION = r"""
module: daemon
short_description: Keep a project daemon running, by PID file
description:
  - Starts a long-running process of the project (a VPN daemon, the WAN delayer) in the host's own namespaces,
    detached from the Ansible session (new session, standard input from /dev/null, output to a log file, no
    inherited descriptors), and records its PID.
  - A process counts as running when the PID file names a live process whose command line contains I(match).
  - With I(restart=true) a running process is stopped and started again (use it when its configuration changed).
  - Stops only the process named by its own PID file (SIGTERM, then SIGKILL after I(stop_timeout) seconds).
options:
  name:
    description: A name for messages.
    type: str
    required: true
  argv:
    description: The command. It must stay in the foreground (the module detaches it).
    type: list
    elements: str
  pidfile:
    description: Where the PID is kept.
    type: path
    required: true
  log:
    description: File receiving the process's standard output and error.
    type: path
  match:
    description: A string the process's command line must contain (defaults to the first element of I(argv)).
    type: str
  state:
    description: C(started) or C(stopped).
    type: str
    choices: [started, stopped]
    default: started
  restart:
    description: Restart the process if it runs.
    type: bool
    default: false
  stop_timeout:
    description: Seconds to wait after SIGTERM before SIGKILL.
    type: int
    default: 5
author: vcluster team
"""

EXAMPLES = r"""
- name: Run the site-to-site VPN to site_b
  vcluster.cluster.daemon:
    name: openvpn to site_b
    argv: [openvpn, --config, /etc/vcluster/gateway/site_b.conf]
    pidfile: /run/vcluster/openvpn-site_b.pid
    log: /var/log/vcluster/openvpn-site_b.log
"""

RETURN = r"""
pid:
  description: PID of the running process (absent when stopped).
  returned: when state is started
  type: int
"""

import os
import signal
import subprocess
import time

from ansible.module_utils.basic import AnsibleModule


def running(pidfile, match):
    try:
        with open(pidfile) as f:
            pid = int(f.read().split()[0])
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        with open("/proc/%d/stat" % pid) as f:
            zombie = f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, ValueError, IndexError):
        return None
    return pid if match in cmdline and not zombie else None


def stop(pid, timeout):
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.time() + wait
        while time.time() < deadline:
            try:
                with open("/proc/%d/stat" % pid) as f:
                    if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                        return
            except OSError:
                return
            time.sleep(0.05)


def every_cpu():
    """Let the daemon run on every CPU: Ansible's mitogen strategy pins the
    processes it starts to a subset of the CPUs (one CPU on a 2-core
    machine), and a daemon would inherit that for its whole life."""
    os.sched_setaffinity(0, range(os.cpu_count() or 1))


def start(argv, pidfile, log):
    for path in (pidfile, log):
        if path:
            os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    out = open(log, "ab") if log else subprocess.DEVNULL
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                close_fds=True, start_new_session=True, cwd="/", preexec_fn=every_cpu)
    finally:
        if log:
            out.close()
    with open(pidfile, "w") as f:
        f.write("%d\n" % proc.pid)
    time.sleep(0.3)
    if proc.poll() is not None:
        return None, proc.returncode
    return proc.pid, None


def main():
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "argv": {"type": "list", "elements": "str"},
            "pidfile": {"type": "path", "required": True},
            "log": {"type": "path"},
            "match": {"type": "str"},
            "state": {"type": "str", "choices": ["started", "stopped"], "default": "started"},
            "restart": {"type": "bool", "default": False},
            "stop_timeout": {"type": "int", "default": 5},
        },
        required_if=[("state", "started", ["argv"])],
        supports_check_mode=True,
    )
    p = module.params
    match = p["match"] or (p["argv"][0] if p["argv"] else p["name"])
    pid = running(p["pidfile"], match)
    if p["state"] == "stopped":
        if pid and not module.check_mode:
            stop(pid, p["stop_timeout"])
            os.unlink(p["pidfile"])
        module.exit_json(changed=bool(pid), msg="%s %s" % (p["name"], "stopped" if pid else "was not running"))
    if pid and not p["restart"]:
        module.exit_json(changed=False, pid=pid, msg="%s runs (pid %d)" % (p["name"], pid))
    if module.check_mode:
        module.exit_json(changed=True, msg="%s would be %s" % (p["name"], "restarted" if pid else "started"))
    if pid:
        stop(pid, p["stop_timeout"])
    new, rc = start(p["argv"], p["pidfile"], p["log"])
    if new is None:
        tail = ""
        if p["log"] and os.path.exists(p["log"]):
            with open(p["log"], errors="replace") as f:
                tail = "".join(f.readlines()[-15:])
        module.fail_json(msg="%s exited at once with code %s; last lines of %s:\n%s" % (p["name"], rc, p["log"], tail))
    module.exit_json(changed=True, pid=new, msg="%s %s (pid %d)" % (p["name"], "restarted" if pid else "started", new))


if __name__ == "__main__":
    main()
