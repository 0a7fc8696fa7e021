#!/usr/bin/python
"""Create or remove the emulated testbed (hosts as network namespaces)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: testbed
short_description: Emulate the inventory's physical hosts as network namespaces
description:
  - Makes every host of the inventory's C(emulated) group a network namespace
    C(vcl-<host>) with its own hostname (a persistent UTS namespace), its
    management, LAN and (gateways) WAN interfaces wired to bridges in the
    C(vcl-fabric) namespace, and its own sshd.
  - Looks at what exists first and runs only the commands that are missing;
    in check mode it reports them without running them.
  - With I(state=absent) it stops every process in the testbed's namespaces
    (by PID), deletes the namespaces, the controller's C(vcl-<cluster>) link,
    the UTS namespaces and I(state_dir) (keys, configurations, host disks).
  - Each host gets an SSH host key generated on the spot (kept on re-runs,
    private part mode 0600, never returned), an sshd configuration, and an
    entry in the controller's I(state_dir)/known_hosts, so that Ansible
    connects with host-key checking on. An sshd whose key or configuration
    changed is restarted.
options:
  state:
    description: Whether the testbed should exist.
    type: str
    choices: [present, absent]
    default: present
  model:
    description:
      - The inventory model returned by vcluster.cluster.validate (fact C(vc_model)).
      - Required with I(state=present). With I(state=absent) its hosts are removed together with those of
        the last run recorded in I(state_dir).
    type: dict
  state_dir:
    description: Directory holding the testbed's host keys, sshd configurations and host disks.
    type: path
    required: true
author: vcluster team
"""

EXAMPLES = r"""
- name: Build the emulated testbed
  vcluster.cluster.testbed:
    model: "{{ vc_model }}"
    state_dir: /var/lib/vcluster/testbed

- name: Remove the emulated testbed
  vcluster.cluster.testbed:
    state: absent
    state_dir: /var/lib/vcluster/testbed
"""

RETURN = r"""
actions:
  description: What was done (or, in check mode, would be done), in order.
  returned: always
  type: list
  elements: str
hosts:
  description: The emulated hosts, with their namespace and management address.
  returned: when state is present
  type: list
  elements: dict
"""

import json
import os
import shutil
import signal
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vcluster.cluster.plugins.module_utils import testbed as tb
from ansible_collections.vcluster.cluster.plugins.module_utils import inventory

SSHD = "/usr/sbin/sshd"


def _alive(pid):
    """True while the process exists and is not a zombie waiting to be reaped."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class Runner:
    def __init__(self, module):
        self.module = module

    def run(self, argv, check=True):
        rc, out, err = self.module.run_command(argv)
        if check and rc != 0:
            self.module.fail_json(msg="command failed: %s: %s" % (" ".join(argv), err.strip() or out.strip()),
                                  rc=rc)
        return rc, out, err

    def json(self, argv):
        rc, out, _err = self.run(argv, check=False)
        if rc != 0 or not out.strip():
            return None
        return json.loads(out)

    def read_text(self, ns, path):
        rc, out, _err = self.run(["nsenter", "--net=/run/netns/" + ns, "cat", path], check=False)
        return out if rc == 0 else None

    def hostname(self, uts):
        if not os.path.ismount(uts):
            return None
        rc, out, _err = self.run(["nsenter", "--uts=" + uts, "hostname"], check=False)
        return out.strip() if rc == 0 else None

    def netns_pids(self, ns):
        _rc, out, _err = self.run(["ip", "netns", "pids", ns], check=False)
        return [int(p) for p in out.split()]

    def sshd_pid(self, host):
        """PID of the host's sshd if it runs in the host's namespace."""
        try:
            with open(host["sshd_pidfile"]) as f:
                pid = int(f.read().strip())
            with open("/proc/%d/comm" % pid) as f:
                comm = f.read().strip()
            same_ns = os.stat("/proc/%d/ns/net" % pid).st_ino == os.stat("/run/netns/" + host["netns"]).st_ino
        except (OSError, ValueError):
            return None
        return pid if comm == "sshd" and same_ns else None

    def kill(self, pids):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            alive = []
            for pid in pids:
                try:
                    os.kill(pid, sig)
                    alive.append(pid)
                except ProcessLookupError:
                    pass
            deadline = time.time() + 3
            while alive and time.time() < deadline:
                alive = [p for p in alive if _alive(p)]
                time.sleep(0.05)
            if not alive:
                return
            pids = alive

    def rooted_under(self, path):
        """PIDs whose root directory is under ``path`` (the vnodes' processes)."""
        pids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    root = os.readlink("/proc/%s/root" % entry)
                except OSError:
                    continue
                if root == path or root.startswith(path + "/"):
                    pids.append(int(entry))
        return pids

    def mounts_under(self, path):
        """Mount points under ``path``, deepest first."""
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4] for line in f]
        return sorted({m for m in points if m.startswith(path + "/")}, key=len, reverse=True)

    def ensure_dir(self, path, changes):
        if not os.path.isdir(path):
            changes.append("create directory %s" % path)
            if not self.module.check_mode:
                os.makedirs(path, mode=0o700)

    def ensure_file(self, path, content, changes):
        try:
            with open(path) as f:
                if f.read() == content:
                    return False
        except OSError:
            pass
        changes.append("write %s" % path)
        if not self.module.check_mode:
            tmp = path + ".tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(content)
            os.replace(tmp, path)
        return True

    def ensure_hostkey(self, host, changes):
        """Generate the host's key if missing; return its public key line."""
        pub = host["hostkey"] + ".pub"
        if not os.path.exists(host["hostkey"]):
            changes.append("generate the SSH host key of %s" % host["name"])
            if self.module.check_mode:
                return None
            self.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", host["name"], "-f", host["hostkey"]])
        with open(pub) as f:
            return f.read().strip()

    def execute(self, argv):
        op = argv[0]
        if op == "@kill-netns":
            self.kill(self.netns_pids(argv[1]))
        elif op == "@release":
            self.kill(self.rooted_under(argv[1]))
            for point in self.mounts_under(argv[1]):
                self.run(["umount", "-l", point])
        elif op == "@sysctl":
            self.run(["nsenter", "--net=/run/netns/" + argv[1], "sysctl", "-q", "-w", "%s=%s" % (argv[2], argv[3])])
        elif op == "@uts":
            path, name = argv[1], argv[2]
            if os.path.ismount(path):
                self.run(["nsenter", "--uts=" + path, "hostname", name])
            else:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                open(path, "a").close()
                self.run(["unshare", "--uts=" + path, "hostname", name])
        elif op == "@uts-del":
            if os.path.ismount(argv[1]):
                self.run(["umount", argv[1]])
            os.unlink(argv[1])
        elif op == "@remove-owned":
            state_dir = argv[1]
            for path in argv[2:]:
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path)
                elif os.path.lexists(path):
                    os.unlink(path)
            # and the project's directories once empty (never one holding a file it did not make)
            for path in (os.path.join(state_dir, "hosts"), state_dir, tb.UTS_DIR, os.path.dirname(tb.UTS_DIR),
                         os.path.dirname(state_dir)):
                try:
                    os.rmdir(path)
                except OSError:
                    pass
        elif op == "@sshd":
            ns, uts, config, pidfile = argv[1:]
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
            self.run([SSHD, "-t", "-f", config])
            # every CPU: Ansible's mitogen strategy pins what it starts to a
            # subset of the CPUs (one on a 2-core machine), and every process
            # of the emulated host (its vnodes too) would inherit it from sshd
            self.run(["taskset", "-c", "0-%d" % ((os.cpu_count() or 1) - 1), "nsenter", "--net=/run/netns/" + ns,
                      "--uts=" + uts, SSHD, "-f", config])
            deadline = time.time() + 5
            while not os.path.exists(pidfile) and time.time() < deadline:
                time.sleep(0.05)
        else:
            self.run(argv)


def main():
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "model": {"type": "dict"},
            "state_dir": {"type": "path", "required": True},
        },
        required_if=[("state", "present", ["model"])],
        supports_check_mode=True,
    )
    why = inventory.unsafe_dir(module.params["state_dir"])
    if why:
        module.fail_json(msg="testbed_state_dir %s %s; the testbed deletes what it makes there: give it a directory "
                             "of its own, e.g. /var/lib/vcluster/testbed" % (module.params["state_dir"], why))
    runner = Runner(module)
    state = tb.read_state(runner.json, runner.read_text)
    record = os.path.join(module.params["state_dir"], "testbed.json")
    try:
        with open(record) as f:
            previous = json.load(f)
    except (OSError, ValueError):
        previous = None
    spec = tb.build_spec(module.params["model"], module.params["state_dir"]) if module.params["model"] else None
    if module.params["state"] == "absent":
        uts_files = [os.path.join(tb.UTS_DIR, f) for f in os.listdir(tb.UTS_DIR)] if os.path.isdir(tb.UTS_DIR) else []
        actions = tb.plan_absent([spec, previous], state, uts_files)
        state_dir = module.params["state_dir"]
        if runner.rooted_under(state_dir) or runner.mounts_under(state_dir):
            # vnodes still running on the hosts' disks (their hosts were not reachable to stop them)
            actions.insert(0, ("stop the processes and unmount the file systems under %s" % state_dir,
                               ["@release", state_dir]))
        owned = [p for p in tb.owned_paths([spec, previous], state_dir) if os.path.lexists(p)]
        if owned:
            actions.append(("remove what the testbed made in %s (keys, configurations, host disks)" % state_dir,
                            ["@remove-owned", state_dir] + owned))
        hosts = None
    else:
        changes = []
        restart = set()
        public_keys = {}
        runner.ensure_dir(module.params["state_dir"], changes)
        for host in spec["hosts"]:
            runner.ensure_dir(os.path.join(host["dir"], "ssh"), changes)
            had_key = os.path.exists(host["hostkey"])
            public_keys[host["name"]] = runner.ensure_hostkey(host, changes)
            config = tb.sshd_config(host, module.params["state_dir"])
            if runner.ensure_file(host["sshd_config"], config, changes) or not had_key:
                restart.add(host["name"])
        runner.ensure_file(os.path.join(module.params["state_dir"], "known_hosts"),
                           tb.known_hosts(spec, {k: v for k, v in public_keys.items() if v}), changes)
        for host in spec["hosts"]:
            state["hostname"][host["name"]] = runner.hostname(host["uts"])
            pid = runner.sshd_pid(host) if host["netns"] in state["netns"] else None
            if pid and host["name"] in restart and not module.check_mode:
                runner.kill([pid])
                pid = None
            state["sshd"][host["name"]] = bool(pid) and host["name"] not in restart
        actions = [(c, None) for c in changes] + tb.plan(spec, state, previous)
        hosts = [{"name": h["name"], "netns": h["netns"], "mgmt": h["links"][0]["address"].split("/")[0]}
                 for h in spec["hosts"]]
    if not module.check_mode:
        if spec is not None and module.params["state"] == "present" and actions:
            # Claim first what this run may create (and what the last one had): a run cut short leaves no
            # namespace that no record names (validation would take it for another cluster's).
            os.makedirs(module.params["state_dir"], mode=0o700, exist_ok=True)
            names = {h["name"] for h in spec["hosts"]}
            claim = dict(spec, hosts=spec["hosts"] + [h for h in (previous or {}).get("hosts", [])
                                                      if h["name"] not in names])
            with open(record, "w") as f:
                json.dump(claim, f, indent=1, sort_keys=True)
        for _desc, argv in actions:
            if argv:
                runner.execute(argv)
        if spec is not None and module.params["state"] == "present" and spec != previous:
            os.makedirs(module.params["state_dir"], mode=0o700, exist_ok=True)
            with open(record, "w") as f:
                json.dump(spec, f, indent=1, sort_keys=True)
    rewrite = spec is not None and module.params["state"] == "present" and spec != previous
    result = {"changed": bool(actions) or rewrite, "actions": [desc for desc, _argv in actions]}
    if hosts is not None:
        result["hosts"] = hosts
    module.exit_json(**result)


if __name__ == "__main__":
    main()
