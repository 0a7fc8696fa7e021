"""A QMP client: drive a QEMU process directly over its monitor socket.

The way Proxmox's qemu-server drives its VMs: QEMU runs with
``-qmp unix:<path>,server=on,wait=off`` and we speak the QEMU Machine
Protocol to it, with nothing but the standard library (no libvirt, no
qemu.qmp package on the hosts).

The protocol, as this client uses it:

- Messages are JSON objects, one per line (newline-delimited); a read may
  carry part of a message or several of them.
- On connect QEMU sends a greeting ``{"QMP": {"version": ..., "capabilities":
  [...]}}`` and accepts nothing but ``qmp_capabilities`` until that has been
  sent (capabilities negotiation).
- A command is ``{"execute": <name>, "arguments": {...}, "id": <id>}``; its
  reply is ``{"return": <value>, "id": <id>}`` or ``{"error": {"class": ...,
  "desc": ...}, "id": <id>}``. Every command sent here carries an id, and a
  reply is matched by it: a late reply to an earlier command (one that timed
  out) is dropped, never taken for the current one.
- Asynchronous events ``{"event": <NAME>, "data": ..., "timestamp": ...}``
  may arrive at any time, between or before replies; they are kept in
  ``QMP.events`` (oldest first) for ``wait_event``.

One command at a time: a QMP object is not meant to be shared by threads.

A VM's state is saved the way ``virsh save`` does it: a migration to a file
(``save_state`` with ``exec_save_uri``), read back by a QEMU started with
``-incoming defer`` (``migrate_incoming`` with ``exec_load_uri``); its disk
is frozen at the same instant by an external snapshot (``snapshot_disk``:
writes go to a new overlay from then on) taken while the VM is stopped.
"""

import hashlib
import json
import os
import re
import shlex
import socket
import time

CHUNK = 65536
# max-bandwidth for save_state (bytes/s): QEMU throttles a migration to
# 32 MiB/s unless told otherwise, which would make saving a 4 GiB VM take two
# minutes; 1 TiB/s means "as fast as the target takes it".
UNTHROTTLED = 1 << 40
# QMP node names: a letter, then letters, digits, '-', '_', '.'; at most 31
# characters (QEMU's node_name[32], with its terminating NUL).
NODE_NAME_MAX = 31
_NODE_NAME_BAD = re.compile(r"[^A-Za-z0-9._-]")
_HASH_LEN = 8


class QMPError(Exception):
    """A command that failed: QEMU's error (``error_class``, e.g.
    "GenericError", and ``desc``) or a local one (``error_class`` None: no
    connection, a timeout, a protocol error). str() is "<command>: <desc>"."""

    def __init__(self, command, desc, error_class=None):
        super().__init__(command, desc, error_class)
        self.command = command
        self.desc = desc
        self.error_class = error_class

    def __str__(self):
        return "%s: %s" % (self.command, self.desc)


class QMPTimeout(QMPError):
    """QEMU did not answer (or the awaited event or state did not come) in time."""


class QMPClosed(QMPError):
    """The monitor socket was closed (QEMU exited or dropped the connection)."""


class QMP:
    """A connection to one QEMU's QMP unix socket ``path``; ``timeout``
    (seconds) bounds connecting and each command. Use as a context manager,
    or call connect() and close()."""

    def __init__(self, path, timeout=30.0):
        self.path = str(path)
        self.timeout = timeout
        self.greeting = None  # the "QMP" member of QEMU's greeting
        self.events = []  # events received and not yet taken by wait_event
        self._sock = None
        self._buf = b""
        self._id = 0

    # --- connection ---------------------------------------------------------

    def connect(self):
        """Connect, read QEMU's greeting and negotiate capabilities (none
        asked for). Returns self. Raises QMPError (QMPTimeout when QEMU does
        not answer in time)."""
        self.close()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except socket.timeout:
            sock.close()
            raise QMPTimeout("connect", "cannot connect to %s within %g s" % (self.path, self.timeout)) from None
        except OSError as err:
            sock.close()
            raise QMPError("connect", "cannot connect to %s: %s" % (self.path, err.strerror or err)) from None
        self._sock, self._buf, self.events, self.greeting = sock, b"", [], None
        try:
            greeting = self._next("connect", "greeting", time.monotonic() + self.timeout, self.timeout)
            if not isinstance(greeting.get("QMP"), dict):
                raise QMPError("connect", "%s did not greet with QMP: %r" % (self.path, greeting))
            self.greeting = greeting["QMP"]
            self.execute("qmp_capabilities")
        except BaseException:
            self.close()
            raise
        return self

    def close(self):
        """Close the connection (nothing to do when not connected)."""
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def __enter__(self):
        if self._sock is None:
            self.connect()
        return self

    def __exit__(self, *exc):
        self.close()

    # --- framing ------------------------------------------------------------

    def _send(self, message, command):
        if self._sock is None:
            raise QMPError(command, "not connected to %s" % self.path)
        data = (json.dumps(message) + "\n").encode()
        try:
            self._sock.settimeout(self.timeout)
            self._sock.sendall(data)
        except socket.timeout:
            raise QMPTimeout(command, "cannot write to %s within %g s" % (self.path, self.timeout)) from None
        except OSError as err:
            raise QMPClosed(command, "cannot write to %s: %s" % (self.path, err.strerror or err)) from None

    def _recv(self, command, expect, deadline, timeout):
        remaining = deadline - time.monotonic()
        try:
            if remaining <= 0:
                raise socket.timeout()
            self._sock.settimeout(remaining)
            data = self._sock.recv(CHUNK)
        except socket.timeout:
            raise QMPTimeout(command, "no %s from QEMU on %s within %g s" % (expect, self.path, timeout)) from None
        except OSError as err:
            raise QMPClosed(command, "lost the connection to %s: %s" % (self.path, err.strerror or err)) from None
        if not data:
            raise QMPClosed(command, "QEMU closed the monitor socket %s" % self.path)
        return data

    def _next(self, command, expect, deadline, timeout):
        """The next message (a dict), reading from the socket as needed:
        a message may come in pieces, or several in one read."""
        if self._sock is None:
            raise QMPError(command, "not connected to %s" % self.path)
        while True:
            line, newline, rest = self._buf.partition(b"\n")
            if not newline:
                self._buf += self._recv(command, expect, deadline, timeout)
                continue
            self._buf = rest
            if not line.strip():
                continue
            try:
                message = json.loads(line)
            except ValueError as err:
                raise QMPError(command, "invalid JSON from %s: %s" % (self.path, err)) from None
            if not isinstance(message, dict):
                raise QMPError(command, "unexpected message from %s: %r" % (self.path, message))
            return message

    # --- commands and events ------------------------------------------------

    def execute(self, command, **arguments):
        """Run QMP ``command`` with ``arguments`` (pass names with '-' as
        ``**{"node-name": ...}``) and return its "return" value. Events that
        arrive meanwhile go to self.events. Raises QMPError with QEMU's error
        class and desc, QMPTimeout after self.timeout, QMPClosed if the
        socket closes."""
        self._id += 1
        ident = self._id
        message = {"execute": command, "id": ident}
        if arguments:
            message["arguments"] = arguments
        self._send(message, command)
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._next(command, "reply", deadline, self.timeout)
            if "event" in reply:
                self.events.append(reply)
                continue
            # no id: QEMU could not read our command's id (it echoes it
            # otherwise), so the answer is to this command
            if reply.get("id", ident) != ident:
                continue  # a late reply to an earlier command
            if "error" in reply:
                error = reply["error"] if isinstance(reply["error"], dict) else {"desc": str(reply["error"])}
                raise QMPError(command, error.get("desc", "unknown error"), error.get("class"))
            if "return" in reply:
                return reply["return"]
            raise QMPError(command, "unexpected reply from %s: %r" % (self.path, reply))

    def wait_event(self, name, timeout=None):
        """The first event ``name`` (e.g. "STOP", "SHUTDOWN"), taken out of
        self.events if already received, else awaited for ``timeout`` seconds
        (default self.timeout). Raises QMPTimeout."""
        for i, event in enumerate(self.events):
            if event.get("event") == name:
                return self.events.pop(i)
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            message = self._next("event " + name, name + " event", deadline, timeout)
            if "event" not in message:
                continue  # a late reply to a command that timed out
            if message["event"] == name:
                return message
            self.events.append(message)

    # --- helpers ------------------------------------------------------------

    def status(self):
        """The VM's run state ("running", "paused", "postmigrate",
        "inmigrate", "shutdown", ...) from query-status."""
        return self.execute("query-status")["status"]

    def stop(self):
        """Pause the VM's CPUs (``stop``); QEMU emits a STOP event."""
        return self.execute("stop")

    def cont(self):
        """Resume the VM's CPUs (``cont``); QEMU emits a RESUME event."""
        return self.execute("cont")

    def quit(self):
        """Make QEMU exit (``quit``) and close the connection. QEMU may close
        the socket before its reply reaches us: that counts as done."""
        try:
            self.execute("quit")
        except QMPClosed:
            pass
        finally:
            self.close()

    def snapshot_disk(self, node, overlay, fmt="qcow2", existing=False):
        """External snapshot of block node ``node``: QEMU creates the file
        ``overlay`` (format ``fmt``) backed by the node's current image and
        writes to it from now on, leaving the image as it is at this instant
        (blockdev-snapshot-sync); with ``existing``, ``overlay`` was made
        beforehand (its backing-file name is then the caller's). Returns the
        overlay's node name (node_name(overlay))."""
        new = node_name(overlay)
        self.execute("blockdev-snapshot-sync", **{"node-name": node, "snapshot-file": overlay,
                                                  "snapshot-node-name": new, "format": fmt,
                                                  "mode": "existing" if existing else "absolute-paths"})
        return new

    def top_node(self, qdev):
        """The node name of the image a block device (its qdev id, e.g. vda) writes to now."""
        for dev in self.execute("query-block"):
            if qdev in (dev.get("qdev") or "").split("/") and dev.get("inserted"):
                return dev["inserted"]["node-name"]
        raise QMPError("query-block", "no block device %s with a medium" % qdev)

    def save_state(self, uri, bandwidth=None, poll=0.05, timeout=600):
        """Save the VM's state (RAM and devices) by migrating it to ``uri``
        (e.g. exec_save_uri(path)) at ``bandwidth`` bytes/s (default
        unthrottled; QEMU's own default is 32 MiB/s), polling query-migrate
        every ``poll`` s. Returns query-migrate's dict once "completed"
        (total-time and downtime in ms, ram stats); the VM is then stopped
        ("postmigrate"). Raises QMPError with QEMU's error-desc if the
        migration fails or is cancelled, QMPTimeout (after cancelling it) if
        it has not completed within ``timeout`` s."""
        rate = UNTHROTTLED if bandwidth is None else int(bandwidth)
        self.execute("migrate-set-parameters", **{"max-bandwidth": rate})
        self.execute("migrate", uri=uri)
        deadline = time.monotonic() + timeout
        while True:
            info = self.execute("query-migrate")
            state = info.get("status")
            if state == "completed":
                return info
            if state in ("failed", "cancelled"):
                raise QMPError("migrate", info.get("error-desc") or "migration to %s %s" % (uri, state))
            if time.monotonic() >= deadline:
                try:
                    self.execute("migrate_cancel")
                except QMPError:
                    pass
                raise QMPTimeout("migrate", "migration to %s not completed within %g s on %s (status %r); "
                                            "cancelled" % (uri, timeout, self.path, state))
            time.sleep(poll)

    def migrate_incoming(self, uri):
        """Load a saved state from ``uri`` (e.g. exec_load_uri(path)) into a
        QEMU started with ``-incoming defer``; the VM stays paused until
        cont() (wait_status(("paused",)) first: the load runs in the
        background)."""
        return self.execute("migrate-incoming", uri=uri)

    def wait_status(self, wanted, timeout=30.0, poll=0.05):
        """Poll query-status every ``poll`` s until the run state is one of
        ``wanted`` (a state or a sequence of them, e.g. ("paused",
        "postmigrate")) and return it. Raises QMPTimeout, naming the last
        state seen, after ``timeout`` s."""
        wanted = (wanted,) if isinstance(wanted, str) else tuple(wanted)
        deadline = time.monotonic() + timeout
        while True:
            state = self.status()
            if state in wanted:
                return state
            if time.monotonic() >= deadline:
                raise QMPTimeout("query-status", "%s still %r after %g s, waiting for %s"
                                 % (self.path, state, timeout, " or ".join(wanted)))
            time.sleep(poll)

    def block_nodes(self):
        """Every named block node (query-named-block-nodes, flat: backing
        images listed as nodes of their own, not nested)."""
        return self.execute("query-named-block-nodes", flat=True)


def node_name(path):
    """A QMP node name for the image file ``path``: its base name, with
    characters QMP refuses replaced by '_', prefixed with "n" if it does not
    start with a letter; a name longer than 31 characters keeps its first 22
    and ends with '-' and 8 hex digits of the base name's sha256 (overlays
    whose long names differ only at the end stay distinct)."""
    base = os.path.basename(str(path).rstrip("/"))
    if not base:
        raise ValueError("no file name in %r to name a block node after" % (path,))
    name = _NODE_NAME_BAD.sub("_", base)
    if not name[0].isalpha():  # only ASCII is left
        name = "n" + name
    if len(name) > NODE_NAME_MAX:
        digest = hashlib.sha256(base.encode("utf-8", "surrogateescape")).hexdigest()[:_HASH_LEN]
        name = name[:NODE_NAME_MAX - _HASH_LEN - 1] + "-" + digest
    return name


def exec_save_uri(path):
    """The migration URI that writes the state to the file ``path``
    (QEMU runs it with /bin/sh)."""
    return "exec:cat > " + shlex.quote(str(path))


def exec_load_uri(path):
    """The incoming-migration URI that reads the state from the file ``path``."""
    return "exec:cat " + shlex.quote(str(path))
