"""The QMP client (plugins/module_utils/qmp.py), against a fake QMP server: a
thread serving a unix socket with QMP's framing (greeting, capabilities
negotiation, replies by id, errors, events). No QEMU here."""

import json
import re
import shlex
import socket
import threading
import time

import pytest

from ansible_collections.vcluster.cluster.plugins.module_utils import qmp as Q

GREETING = {"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 8}, "package": "Debian 1:8.2.0"},
                    "capabilities": ["oob"]}}
TS = {"seconds": 1700000000, "microseconds": 1}
CLOSE = object()  # a handler's answer: hang up


def event(name, data=None):
    out = {"event": name, "timestamp": TS}
    if data is not None:
        out["data"] = data
    return out


class FakeQMP:
    """Serves one connection on ``path``: sends the greeting (after
    ``greeting_delay`` s; None: no greeting), then hands each command the client sends to
    ``handler(server, command)``, which answers with server.reply / error /
    send / send_raw (or not at all); returning CLOSE hangs up."""

    def __init__(self, path, handler, greeting_delay=0.0, greeting=GREETING):
        self.path = str(path)
        self.handler = handler
        self.greeting_delay = greeting_delay
        self.greeting = greeting
        self.received = []
        self.early = None  # bytes the client sent before the greeting
        self.conn = None
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(1)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        conn, _ = self.listener.accept()
        self.conn = conn
        with conn:
            if self.greeting_delay:
                time.sleep(self.greeting_delay)
                try:
                    self.early = conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
                except BlockingIOError:
                    self.early = b""
            if self.greeting is not None:
                self.send(self.greeting)
            buf = b""
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    command = json.loads(line)
                    self.received.append(command)
                    if self.handler(self, command) is CLOSE:
                        conn.shutdown(socket.SHUT_RDWR)
                        return

    def send_raw(self, data):
        self.conn.sendall(data)

    def send(self, *messages):
        self.send_raw(b"".join(json.dumps(m).encode() + b"\r\n" for m in messages))

    def reply(self, command, value):
        self.send({"return": value, "id": command.get("id")})

    def error(self, command, desc, error_class="GenericError"):
        self.send({"error": {"class": error_class, "desc": desc}, "id": command.get("id")})

    def commands(self):
        return [c["execute"] for c in self.received]

    def stop(self):
        if self.conn is not None:
            try:
                self.conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.listener.close()
        self.thread.join(1)


def answering(table):
    """A handler answering qmp_capabilities with {} and each command in
    ``table`` with its value: a list is answered one item per call (the last
    repeats), a callable is called as f(server, command) and answers itself,
    None means silence; unknown commands get CommandNotFound."""
    calls = {}

    def handler(server, command):
        name = command["execute"]
        if name == "qmp_capabilities":
            return server.reply(command, {})
        if name not in table:
            return server.error(command, "The command %s has not been found" % name, "CommandNotFound")
        value = table[name]
        if callable(value):
            return value(server, command)
        if value is None:
            return None
        if isinstance(value, list):
            n = calls[name] = calls.get(name, -1) + 1
            value = value[min(n, len(value) - 1)]
        return server.reply(command, value)

    return handler


@pytest.fixture
def serve(tmp_path):
    """serve(table_or_handler, timeout=1.0) -> (server, connected client)."""
    started = []

    def start(table, timeout=1.0, greeting_delay=0.0):
        handler = table if callable(table) else answering(table)
        server = FakeQMP(tmp_path / "qmp.sock", handler, greeting_delay)
        client = Q.QMP(server.path, timeout=timeout)
        started.append((server, client))
        client.connect()
        return server, client

    yield start
    for server, client in started:
        client.close()
        server.stop()


# --- connection ---------------------------------------------------------------

def test_connect_reads_the_greeting_then_negotiates_capabilities_first(serve):
    server, client = serve({"query-status": {"status": "running", "running": True}}, greeting_delay=0.05)
    assert server.early == b""  # nothing sent before QEMU's greeting
    assert client.greeting["version"]["qemu"]["major"] == 8
    assert client.status() == "running"
    assert server.commands() == ["qmp_capabilities", "query-status"]
    assert "arguments" not in server.received[0]


@pytest.mark.parametrize("greeting, error, match", [
    ({"hello": "world"}, Q.QMPError, "^connect: .* did not greet with QMP"),
    (None, Q.QMPTimeout, "^connect: no greeting from QEMU on .*qmp.sock within 0.1 s$"),
])
def test_connect_refuses_a_server_that_does_not_greet_with_qmp(tmp_path, greeting, error, match):
    server = FakeQMP(tmp_path / "qmp.sock", answering({}), greeting=greeting)
    client = Q.QMP(server.path, timeout=0.1)
    with pytest.raises(error, match=match):
        client.connect()
    assert server.received == []  # no capabilities sent to it
    client.close()
    server.stop()


def test_connect_to_a_missing_socket_names_it(tmp_path):
    with pytest.raises(Q.QMPError, match=re.escape(str(tmp_path / "nothing.sock"))):
        Q.QMP(tmp_path / "nothing.sock", timeout=0.2).connect()


def test_context_manager_connects_and_closes(tmp_path):
    server = FakeQMP(tmp_path / "qmp.sock", answering({"stop": {}}))
    with Q.QMP(server.path, timeout=1.0) as client:
        assert client.stop() == {}
    with pytest.raises(Q.QMPError, match="not connected"):
        client.stop()
    server.stop()
    assert server.commands() == ["qmp_capabilities", "stop"]


# --- replies, ids, events -------------------------------------------------------

def test_each_command_has_its_own_id_and_late_replies_are_dropped(serve):
    def status(server, command):
        # a late reply to some earlier command, then ours
        server.send({"return": {"status": "stale"}, "id": command["id"] - 1})
        server.reply(command, {"status": "paused", "running": False})

    server, client = serve({"query-status": status, "stop": {}})
    assert client.stop() == {}
    assert client.status() == "paused"
    ids = [c["id"] for c in server.received]
    assert len(set(ids)) == len(ids) == 3


def test_an_event_before_the_reply_is_kept(serve):
    def stop(server, command):
        server.send(event("STOP"))
        server.reply(command, {})

    server, client = serve({"stop": stop})
    assert client.stop() == {}
    assert [e["event"] for e in client.events] == ["STOP"]
    assert client.wait_event("STOP", timeout=0.1)["timestamp"] == TS
    assert client.events == []  # taken


def test_wait_event_awaits_a_new_event_and_keeps_the_others(serve):
    def cont(server, command):
        server.reply(command, {})
        time.sleep(0.02)
        server.send(event("NIC_RX_FILTER_CHANGED"), event("RESUME"))

    server, client = serve({"cont": cont})
    client.cont()
    assert client.wait_event("RESUME", timeout=1)["event"] == "RESUME"
    assert [e["event"] for e in client.events] == ["NIC_RX_FILTER_CHANGED"]
    with pytest.raises(Q.QMPTimeout, match="SHUTDOWN"):
        client.wait_event("SHUTDOWN", timeout=0.05)


def test_a_reply_split_across_two_sends(serve):
    def status(server, command):
        data = json.dumps({"return": {"status": "running", "running": True}, "id": command["id"]}).encode() + b"\n"
        server.send_raw(data[:17])
        time.sleep(0.03)
        server.send_raw(data[17:])

    server, client = serve({"query-status": status})
    assert client.status() == "running"


def test_two_messages_in_one_send(serve):
    def stop(server, command):
        server.send(event("STOP"), {"return": {}, "id": command["id"]})

    def status(server, command):
        server.send({"return": {"status": "paused"}, "id": command["id"]},
                    event("RESUME"))  # the event comes with the reply: kept for later

    server, client = serve({"stop": stop, "query-status": status})
    assert client.stop() == {}
    assert client.status() == "paused"
    assert [e["event"] for e in client.events] == ["STOP"]
    assert client.wait_event("RESUME", timeout=0.1)["event"] == "RESUME"


def test_an_error_reply_raises_with_its_class_and_desc(serve):
    server, client = serve({})
    with pytest.raises(Q.QMPError) as err:
        client.execute("blockdev-snapshot-sync", **{"node-name": "nope", "snapshot-file": "/x.qcow2"})
    assert err.value.error_class == "CommandNotFound"
    assert err.value.desc == "The command blockdev-snapshot-sync has not been found"
    assert str(err.value) == "blockdev-snapshot-sync: The command blockdev-snapshot-sync has not been found"
    assert server.received[-1]["arguments"] == {"node-name": "nope", "snapshot-file": "/x.qcow2"}


def test_a_silent_server_times_out_naming_the_socket(serve):
    server, client = serve({"query-status": None}, timeout=0.2)
    started = time.monotonic()
    with pytest.raises(Q.QMPTimeout) as err:
        client.status()
    assert time.monotonic() - started < 1
    assert server.path in str(err.value) and str(err.value).startswith("query-status: no reply")
    assert isinstance(err.value, Q.QMPError)


def test_a_closed_socket_raises(serve):
    server, client = serve({"query-status": lambda server, command: CLOSE})
    with pytest.raises(Q.QMPClosed, match="closed"):
        client.status()


# --- helpers --------------------------------------------------------------------

def test_quit_when_qemu_closes_the_socket_without_replying(serve):
    server, client = serve({"quit": lambda server, command: CLOSE})
    client.quit()
    assert server.commands()[-1] == "quit"


def test_quit_when_qemu_replies_then_exits(serve):
    def quit_(server, command):
        server.reply(command, {})
        server.send(event("SHUTDOWN", {"guest": False, "reason": "host-qmp-quit"}))
        return CLOSE

    server, client = serve({"quit": quit_})
    client.quit()
    with pytest.raises(Q.QMPError, match="not connected"):
        client.status()


def test_stop_cont_status(serve):
    server, client = serve({"stop": {}, "cont": {}, "query-status": [{"status": "paused"}, {"status": "running"}]})
    client.stop()
    assert client.status() == "paused"
    client.cont()
    assert client.status() == "running"
    assert server.commands()[1:] == ["stop", "query-status", "cont", "query-status"]


def test_save_state_unthrottles_migrates_and_polls_until_completed(serve):
    done = {"status": "completed", "total-time": 812, "downtime": 35, "setup-time": 2,
            "ram": {"transferred": 1 << 28, "total": 1 << 30, "mbps": 2641.3}}
    server, client = serve({"migrate-set-parameters": {}, "migrate": {},
                            "query-migrate": [{"status": "setup"}, {"status": "active", "ram": {}}, done]})
    path = "/var/lib/vcluster/state dir/vm1.state"
    assert client.save_state(Q.exec_save_uri(path), poll=0.001) == done
    assert server.commands()[1:] == ["migrate-set-parameters", "migrate"] + ["query-migrate"] * 3
    assert server.received[1]["arguments"]["max-bandwidth"] >= 1 << 40
    assert server.received[2]["arguments"] == {"uri": "exec:cat > '/var/lib/vcluster/state dir/vm1.state'"}


def test_save_state_with_a_bandwidth(serve):
    server, client = serve({"migrate-set-parameters": {}, "migrate": {}, "query-migrate": {"status": "completed"}})
    client.save_state("exec:cat > /s", bandwidth=100 << 20)
    assert server.received[1]["arguments"] == {"max-bandwidth": 100 << 20}


@pytest.mark.parametrize("state", ["failed", "cancelled"])
def test_save_state_raises_on_failure_with_the_error_desc(serve, state):
    failed = {"status": state, "error-desc": "Unable to write to command: Broken pipe"}
    server, client = serve({"migrate-set-parameters": {}, "migrate": {},
                            "query-migrate": [{"status": "active"}, failed]})
    with pytest.raises(Q.QMPError, match="^migrate: Unable to write to command: Broken pipe$"):
        client.save_state("exec:cat > /full/disk", poll=0.001)


def test_save_state_cancels_when_it_takes_too_long(serve):
    server, client = serve({"migrate-set-parameters": {}, "migrate": {}, "migrate_cancel": {},
                            "query-migrate": {"status": "active"}})
    with pytest.raises(Q.QMPTimeout, match="'active'.*cancelled"):
        client.save_state("exec:cat > /slow", poll=0.005, timeout=0.02)
    assert server.commands()[-1] == "migrate_cancel"


def test_migrate_incoming_and_wait_status(serve):
    server, client = serve({"migrate-incoming": {},
                            "query-status": [{"status": "inmigrate"}, {"status": "inmigrate"},
                                             {"status": "paused"}]})
    client.migrate_incoming(Q.exec_load_uri("/s/vm 1.state"))
    assert server.received[1]["arguments"] == {"uri": "exec:cat '/s/vm 1.state'"}
    assert client.wait_status(("paused", "postmigrate"), timeout=1, poll=0.001) == "paused"
    assert client.wait_status("paused", timeout=0) == "paused"


def test_wait_status_times_out_with_the_last_state(serve):
    server, client = serve({"query-status": [{"status": "finish-migrate"}, {"status": "running"}]})
    with pytest.raises(Q.QMPTimeout, match="still 'running'.*paused or postmigrate"):
        client.wait_status(("paused", "postmigrate"), timeout=0.03, poll=0.005)


def test_snapshot_disk_and_block_nodes(serve):
    nodes = [{"node-name": "disk0", "file": "/v/base.qcow2"}, {"node-name": "vm1-ckpt1.qcow2", "file": "/v/o"}]
    server, client = serve({"blockdev-snapshot-sync": {}, "query-named-block-nodes": [nodes]})
    assert client.snapshot_disk("disk0", "/v/ckpt/vm1-ckpt1.qcow2") == "vm1-ckpt1.qcow2"
    assert server.received[1]["arguments"] == {"node-name": "disk0", "snapshot-file": "/v/ckpt/vm1-ckpt1.qcow2",
                                               "snapshot-node-name": "vm1-ckpt1.qcow2", "format": "qcow2",
                                               "mode": "absolute-paths"}
    assert client.block_nodes() == nodes
    assert server.received[2]["arguments"] == {"flat": True}


def test_snapshot_onto_an_existing_overlay_and_the_devices_top_node(serve):
    blocks = [{"device": "", "qdev": "/machine/peripheral/vda/virtio-backend", "inserted": {"node-name": "n-2"}}]
    server, client = serve({"blockdev-snapshot-sync": {}, "query-block": [blocks]})
    assert client.top_node("vda") == "n-2"
    client.snapshot_disk("n-2", "/v/layer-9.qcow2", existing=True)
    assert server.received[2]["arguments"]["mode"] == "existing"
    with pytest.raises(Q.QMPError, match="no block device vdb"):
        client.top_node("vdb")


# --- pure functions ---------------------------------------------------------------

VALID = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{0,30}$")


@pytest.mark.parametrize("path, expected", [
    ("/var/lib/vc/vm1-ckpt3.qcow2", "vm1-ckpt3.qcow2"),
    ("overlay_2", "overlay_2"),
    ("/x/0001.qcow2", "n0001.qcow2"),
    ("/x/.hidden.qcow2", "n.hidden.qcow2"),
    ("/x/disk 1 (copy)+é.qcow2", "disk_1__copy___.qcow2"),
    ("/x/dir/", "dir"),
])
def test_node_name(path, expected):
    assert Q.node_name(path) == expected
    assert VALID.match(expected)


def test_node_name_of_long_names_is_short_valid_and_distinct():
    a = Q.node_name("/x/vnode-with-a-rather-long-name.ckpt-000001.qcow2")
    b = Q.node_name("/x/vnode-with-a-rather-long-name.ckpt-000002.qcow2")
    assert a != b and len(a) == len(b) == 31
    assert VALID.match(a) and VALID.match(b)
    assert a.startswith("vnode-with-a-rather-lo-")
    assert Q.node_name("/x/" + "9" * 40) == Q.node_name("/y/" + "9" * 40)  # deterministic
    assert VALID.match(Q.node_name("/x/" + "9" * 40))
    assert len(Q.node_name("a" * 31)) == 31 and Q.node_name("a" * 31) == "a" * 31


@pytest.mark.parametrize("path", ["", "/"])
def test_node_name_needs_a_file_name(path):
    with pytest.raises(ValueError):
        Q.node_name(path)


def test_exec_uris_quote_the_path():
    path = "/var/lib/vc/state dir/vm1's.state"
    save, load = Q.exec_save_uri(path), Q.exec_load_uri(path)
    assert save.startswith("exec:") and load.startswith("exec:")
    assert shlex.split(save[len("exec:"):]) == ["cat", ">", path]
    assert shlex.split(load[len("exec:"):]) == ["cat", path]
    assert Q.exec_save_uri("/s/a b") == "exec:cat > '/s/a b'"
    assert Q.exec_load_uri("/s/a b") == "exec:cat '/s/a b'"
    assert Q.exec_load_uri("/s/plain") == "exec:cat /s/plain"
