"""Unit tests of one host's checkpoint work (plugins/module_utils/ft_host.py).

LXC is faked by ``FakeRun``; tar is the real binary (the file-system saves and
their restore are checked end to end on tmp_path).
"""

import os
import shlex
import shutil
import subprocess
import tarfile
import time

import pytest

from ansible_collections.vcluster.cluster.plugins.module_utils import ckpt
from ansible_collections.vcluster.cluster.plugins.module_utils import ft_host as H

CLUSTER = "c"


class FakeRun:
    """run(argv, **kw) -> (rc, out, err): records calls, answers lxc-info from
    ``states``, runs tar for real, and fakes CRIU's dump (one image file)."""

    def __init__(self, states=None):
        self.states = states or {}
        self.calls = []

    def __call__(self, argv, **kw):
        self.calls.append(list(argv))
        if argv[0] == "tar":
            proc = subprocess.run(argv, capture_output=True, text=True)
            return proc.returncode, proc.stdout, proc.stderr
        if argv[0] == "lxc-info":
            state = self.states.get(argv[argv.index("-n") + 1])
            return (0, state + "\n", "") if state else (1, "", "not found")
        if argv[0] == "lxc-checkpoint":
            with open(os.path.join(argv[argv.index("-D") + 1], "core-1.img"), "w") as f:
                f.write("criu image of %s" % argv[argv.index("-n") + 1])
            return 0, "", ""
        return 0, "", ""

    def commands(self, name):
        return [c for c in self.calls if c[0] == name]


def write(path, data="x"):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(str(path), "w") as f:
        f.write(data)


def fake_copy(store, ckpt_id, vnode, parent=None, origin="h1", data="data"):
    """A complete copy of ``vnode`` at ``ckpt_id``: images, fs.tar, manifest."""
    top = ckpt.vnode_dir(str(store), CLUSTER, ckpt_id, vnode)
    write(os.path.join(top, "images", "core-1.img"), data)
    write(os.path.join(top, "fs.tar"), "tar of %s" % ckpt_id)
    ckpt.write_manifest(top, vnode=vnode, ckpt=ckpt_id, parent=parent, origin=origin, time=1.5)
    return top


def tree(top):
    """{relative path: file content, "<dir>" or "-> target"} of a directory."""
    out = {}
    for rel in H.upper_paths(top):
        path = os.path.join(top, rel)
        if os.path.islink(path):
            out[rel] = "-> " + os.readlink(path)
        elif os.path.isdir(path):
            out[rel] = "<dir>"
        else:
            with open(path) as f:
                out[rel] = f.read()
    return out


# --- the layer's paths -----------------------------------------------------------

def test_upper_paths_lists_parents_before_children(tmp_path):
    write(tmp_path / "b" / "y")
    write(tmp_path / "b" / "c" / "z")
    write(tmp_path / "a")
    os.makedirs(str(tmp_path / "empty"))
    os.symlink("b", str(tmp_path / "link"))  # listed with the dirs, never walked into
    assert H.upper_paths(str(tmp_path)) == ["b", "empty", "link", "a", "b/c", "b/y", "b/c/z"]


def test_changed_paths_are_those_whose_ctime_moved(tmp_path):
    for name in ("old", "touched", "gone", "rewritten"):
        write(tmp_path / name)
    time.sleep(0.02)  # ctime has a coarse clock
    since = time.time_ns()
    time.sleep(0.02)
    write(tmp_path / "new")
    write(tmp_path / "rewritten", "y")
    os.utime(str(tmp_path / "touched"), (0, 0))  # mtime into the past: ctime still moves
    os.unlink(str(tmp_path / "gone"))
    paths = ["gone", "new", "old", "rewritten", "touched"]
    assert H.changed_paths(str(tmp_path), paths, since) == ["new", "rewritten", "touched"]
    assert H.changed_paths(str(tmp_path), paths, None) == paths


# --- chains ----------------------------------------------------------------------

def test_chain_of_follows_the_manifests(tmp_path):
    fake_copy(tmp_path, 1, "vn1")
    fake_copy(tmp_path, 2, "vn1", parent=1)
    fake_copy(tmp_path, 3, "vn1", parent=2)
    fake_copy(tmp_path, 5, "vn1", parent=4)
    assert H.chain_of(str(tmp_path), CLUSTER, "vn1", 3) == [1, 2, 3]
    assert H.chain_of(str(tmp_path), CLUSTER, "vn1", 1) == [1]
    assert H.chain_of(str(tmp_path), CLUSTER, "vn1", 5) is None  # 4 is not here
    assert H.chain_of(str(tmp_path), CLUSTER, "vn2", 1) is None


@pytest.mark.parametrize("state, max_chain, expected", [
    (None, 5, None),
    ({"ckpt": None, "since_ns": 1}, 5, None),
    ({"ckpt": 2, "since_ns": None}, 5, None),
    ({"ckpt": 2, "since_ns": 1}, 5, 2),
    ({"ckpt": 2, "since_ns": 1}, 3, 2),
    ({"ckpt": 2, "since_ns": 1}, 2, None),  # the chain would grow beyond max_chain
    ({"ckpt": 4, "since_ns": 1}, 5, None),  # 4 is not on this host
])
def test_choose_parent(tmp_path, state, max_chain, expected):
    fake_copy(tmp_path, 1, "vn1")
    fake_copy(tmp_path, 2, "vn1", parent=1)
    assert H.choose_parent(str(tmp_path), CLUSTER, "vn1", state, max_chain) == expected


# --- the two phases, abort, delete -------------------------------------------------

def test_prepare_marks_a_verified_checkpoint(tmp_path):
    fake_copy(tmp_path, 3, "vn1")
    fake_copy(tmp_path, 3, "vn2")
    H.prepare(str(tmp_path), CLUSTER, 3, ["vn1", "vn2"])
    assert os.path.isfile(os.path.join(ckpt.ckpt_dir(str(tmp_path), CLUSTER, 3), ckpt.PREPARED))


def test_prepare_refuses_a_missing_or_damaged_copy(tmp_path):
    top = fake_copy(tmp_path, 3, "vn1")
    write(os.path.join(top, "fs.tar"), "TAR of 3")
    with pytest.raises(H.HostError) as err:
        H.prepare(str(tmp_path), CLUSTER, 3, ["vn1", "vn2"])
    assert str(err.value) == ("checkpoint 3 is not complete here: vn1: fs.tar: sha256 mismatch; "
                              "vn2: no MANIFEST.json (incomplete copy)")
    assert not os.path.exists(os.path.join(ckpt.ckpt_dir(str(tmp_path), CLUSTER, 3), ckpt.PREPARED))


def test_abort_keeps_a_committed_checkpoint_and_deletes_another(tmp_path):
    store = str(tmp_path)
    fake_copy(tmp_path, 1, "vn1")
    fake_copy(tmp_path, 2, "vn1", parent=1)
    H.mark(store, CLUSTER, 1, ckpt.COMMITTED)
    H.mark(store, CLUSTER, 2, ckpt.PREPARED)
    assert H.abort(store, CLUSTER, 1) is False and os.path.isdir(ckpt.ckpt_dir(store, CLUSTER, 1))
    assert H.abort(store, CLUSTER, 2) is True and not os.path.exists(ckpt.ckpt_dir(store, CLUSTER, 2))
    assert H.abort(store, CLUSTER, 9) is False


def test_delete_removes_the_ids_present(tmp_path):
    store = str(tmp_path)
    for i in (1, 2, 3):
        fake_copy(tmp_path, i, "vn1")
    H.mark(store, CLUSTER, 1, ckpt.COMMITTED)
    assert H.delete(store, CLUSTER, [1, 3, 7]) == [1, 3]
    assert sorted(os.listdir(os.path.join(store, CLUSTER))) == ["2", H.LAST_ID]
    assert H.scan(store, CLUSTER)["last_id"] == 7  # never used again
    assert H.abort(store, CLUSTER, 1, force=True) is False


def test_abort_with_force_deletes_a_committed_part(tmp_path):
    store = str(tmp_path)
    fake_copy(tmp_path, 4, "vn1")
    H.mark(store, CLUSTER, 4, ckpt.COMMITTED, members=["h1", "h2"])
    assert H.scan(store, CLUSTER)["members"] == {"4": ["h1", "h2"]}
    assert H.abort(store, CLUSTER, 4) is False
    assert H.abort(store, CLUSTER, 4, force=True) is True and H.scan(store, CLUSTER)["ids"] == []


# --- receiving a replica -----------------------------------------------------------

def incoming_copy(tmp_path, ckpt_id, vnode, data="data"):
    """A copy received in the incoming dir (made elsewhere, then moved there)."""
    made = fake_copy(tmp_path / "elsewhere", ckpt_id, vnode, data=data)
    incoming = H.incoming_dir(str(tmp_path), CLUSTER, ckpt_id, vnode)
    os.makedirs(incoming)
    os.rename(made, os.path.join(incoming, vnode))
    return incoming


def test_accept_moves_a_good_copy_into_place(tmp_path):
    damaged = fake_copy(tmp_path, 4, "vn1", data="old")
    write(os.path.join(damaged, "fs.tar"), "garbage")
    incoming = incoming_copy(tmp_path, 4, "vn1")
    assert H.accept(str(tmp_path), CLUSTER, 4, "vn1") == []
    final = ckpt.vnode_dir(str(tmp_path), CLUSTER, 4, "vn1")
    assert ckpt.verify(final) == [] and not os.path.exists(incoming)
    with open(os.path.join(final, "images", "core-1.img")) as f:
        assert f.read() == "data"


def test_accept_rejects_a_damaged_copy(tmp_path):
    incoming = incoming_copy(tmp_path, 4, "vn1")
    os.unlink(os.path.join(incoming, "vn1", "fs.tar"))
    assert H.accept(str(tmp_path), CLUSTER, 4, "vn1") == ["fs.tar is missing"]
    assert not os.path.exists(incoming)
    assert not os.path.exists(ckpt.vnode_dir(str(tmp_path), CLUSTER, 4, "vn1"))
    assert H.accept(str(tmp_path), CLUSTER, 4, "vn1") == ["nothing was received"]


def as_rrsync_would(argv, root):
    """The rsync of a push command, run locally: what rrsync on the peer does
    with it (the destination and a leading '/' of --link-dest anchored at
    ``root``; no ssh)."""
    argv = shlex.split(argv[-1])
    argv = argv[argv.index("rsync"):]
    i = argv.index("-e")
    del argv[i:i + 2]
    argv = [os.path.join(root, a[len("--link-dest=/"):]).join(("--link-dest=", "")) if a.startswith("--link-dest=/")
            else a for a in argv]
    argv[-1] = os.path.join(root, argv[-1].split(":", 1)[1])
    return argv


def test_push_commands_make_copies_that_accept_takes_with_unchanged_files_linked(tmp_path):
    """ckpt.push_command's rsync, run locally as the peer's rrsync would: the
    copy lands where accept looks, and what did not change since the basis is
    hard-linked to the basis, not stored twice."""
    src, dst = str(tmp_path / "src"), str(tmp_path / "dst")
    top1 = fake_copy(src, 1, "vn1", data="memory")
    top2 = fake_copy(src, 2, "vn1", parent=1, data="memory")  # fs.tar differs
    image = os.path.join("images", "core-1.img")
    shutil.copy2(os.path.join(top1, image), os.path.join(top2, image))  # unchanged: same size and mtime (to the ns)
    ckpt.write_manifest(top2, vnode="vn1", ckpt=2, parent=1, origin="h1", time=1.5)
    hosts = {"a": {"address": "a", "store": src, "repl_key": "/k", "repl_known_hosts": "/kh", "lan_ip": "10.1.0.1"},
             "b": {"address": "b", "store": dst, "repl_key": "/k", "repl_known_hosts": "/kh", "lan_ip": "10.1.0.2"}}
    root = ckpt.cluster_store(dst, CLUSTER)
    cmd = ckpt.push_command(hosts["a"], hosts["b"], CLUSTER, 1, "vn1")
    assert cmd[:4] == ["ssh", "-o", "BatchMode=yes", "a"] and "root@10.1.0.2:1/.incoming-vn1/vn1/" in cmd[-1]
    subprocess.run(as_rrsync_would(cmd, root), check=True, capture_output=True)
    assert H.accept(dst, CLUSTER, 1, "vn1") == []
    cmd = ckpt.push_command(hosts["a"], hosts["b"], CLUSTER, 2, "vn1", basis="1/vn1")
    subprocess.run(as_rrsync_would(cmd, root), check=True, capture_output=True)
    assert H.accept(dst, CLUSTER, 2, "vn1") == []
    got = ckpt.vnode_dir(dst, CLUSTER, 2, "vn1")
    assert tree(got) == tree(top2)
    assert os.stat(os.path.join(got, image)).st_ino == os.stat(
        os.path.join(ckpt.vnode_dir(dst, CLUSTER, 1, "vn1"), image)).st_ino
    assert os.stat(os.path.join(got, "fs.tar")).st_nlink == 1
    with pytest.raises(ckpt.CheckpointError, match="lan_ip"):
        ckpt.push_command(hosts["a"], dict(hosts["b"], lan_ip=""), CLUSTER, 2, "vn1")


def test_a_push_against_a_damaged_basis_still_makes_an_exact_copy(tmp_path):
    """The peer's basis copy rotted (same size, same mtime, other bytes): the
    pushed copy is still exact (the content check finds the basis file
    differs; rsync checks each rebuilt file whole) and accept takes it."""
    src, dst = str(tmp_path / "src"), str(tmp_path / "dst")
    top1 = fake_copy(src, 1, "vn1", data="memory pages " * 1000)
    top2 = fake_copy(src, 2, "vn1", parent=1, data="memory pages " * 1000)
    image = os.path.join("images", "core-1.img")
    shutil.copy2(os.path.join(top1, image), os.path.join(top2, image))
    ckpt.write_manifest(top2, vnode="vn1", ckpt=2, parent=1, origin="h1", time=1.5)
    hosts = {"a": {"address": "a", "store": src, "repl_key": "/k", "repl_known_hosts": "/kh", "lan_ip": "10.1.0.1"},
             "b": {"address": "b", "store": dst, "repl_key": "/k", "repl_known_hosts": "/kh", "lan_ip": "10.1.0.2"}}
    root = ckpt.cluster_store(dst, CLUSTER)
    subprocess.run(as_rrsync_would(ckpt.push_command(hosts["a"], hosts["b"], CLUSTER, 1, "vn1"), root), check=True,
                   capture_output=True)
    assert H.accept(dst, CLUSTER, 1, "vn1") == []
    basis = os.path.join(ckpt.vnode_dir(dst, CLUSTER, 1, "vn1"), image)
    stat = os.stat(basis)
    with open(basis, "r+b") as f:
        f.seek(100)
        f.write(b"ROT")
    os.utime(basis, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert ckpt.verify(ckpt.vnode_dir(dst, CLUSTER, 1, "vn1")) != []  # the basis is damaged
    subprocess.run(as_rrsync_would(ckpt.push_command(hosts["a"], hosts["b"], CLUSTER, 2, "vn1", basis="1/vn1"),
                                   root), check=True, capture_output=True)
    assert H.accept(dst, CLUSTER, 2, "vn1") == []
    assert tree(ckpt.vnode_dir(dst, CLUSTER, 2, "vn1")) == tree(top2)


# --- freezing ----------------------------------------------------------------------

def test_freeze_freezes_only_running_vnodes(tmp_path):
    run = FakeRun({"vn1": "RUNNING", "vn2": "FROZEN"})
    took = H.freeze(run, "/var/lib/lxc", ["vn1", "vn2"])
    assert sorted(took) == ["vn1", "vn2"]
    assert run.commands("lxc-freeze") == [["lxc-freeze", "-n", "vn1", "-P", "/var/lib/lxc"]]


@pytest.mark.parametrize("states, message", [
    ({"vn1": "RUNNING", "vn2": "STOPPED"}, "vnode vn2 is STOPPED, not running"),
    ({"vn1": "RUNNING"}, "vnode vn2 is ABSENT, not running"),
])
def test_freeze_refuses_a_vnode_that_is_not_running(states, message):
    run = FakeRun(states)
    with pytest.raises(H.HostError, match=message):
        H.freeze(run, "/r", ["vn2", "vn1"])
    assert run.commands("lxc-freeze") == []


# --- scan --------------------------------------------------------------------------

def test_scan_describes_the_store(tmp_path):
    store, root = str(tmp_path / "store"), str(tmp_path / "root")
    fake_copy(store, 1, "vn1")
    fake_copy(store, 2, "vn1", parent=1, origin="h2")
    damaged = fake_copy(store, 2, "vn2")
    write(os.path.join(damaged, "images", "core-1.img"), "changed")
    os.makedirs(ckpt.vnode_dir(store, CLUSTER, 3, "vn1"))  # a dump that never finished
    os.makedirs(os.path.join(H.incoming_dir(store, CLUSTER, 3, "vn2"), "vn2"))
    H.mark(store, CLUSTER, 1, ckpt.PREPARED)
    H.mark(store, CLUSTER, 1, ckpt.COMMITTED)
    H.mark(store, CLUSTER, 2, ckpt.PREPARED)
    H.write_json(os.path.join(store, CLUSTER, ckpt.CATALOG), {"serial": 3})
    write(os.path.join(root, "vn1", "vnode.json"), "{}")
    os.makedirs(os.path.join(root, "not-a-vnode"))
    run = FakeRun({"vn1": "FROZEN"})

    found = H.scan(store, CLUSTER, verify=True, run=run, root=root)
    assert (found["ids"], found["committed"], found["prepared"]) == ([1, 2, 3], [1], [1, 2])
    assert found["incoming"] == ["3/.incoming-vn2"] and found["catalog"] == {"serial": 3}
    assert found["vnodes"] == {"vn1": "FROZEN"}
    assert found["copies"]["2"]["vn1"] == {"complete": True, "size": len("data") + len("tar of 2"), "parent": 1,
                                           "origin": "h2", "time": 1.5, "image": None, "ip": None, "problems": []}
    assert found["copies"]["2"]["vn2"]["problems"] == ["images/core-1.img has 7 bytes, the manifest says 4"]
    assert found["copies"]["3"]["vn1"]["complete"] is False
    assert "problems" not in H.scan(store, CLUSTER)["copies"]["1"]["vn1"]


def test_scan_of_an_empty_store(tmp_path):
    assert H.scan(str(tmp_path), CLUSTER) == {"ids": [], "committed": [], "prepared": [], "copies": {},
                                              "incoming": [], "vnodes": {}, "catalog": None, "last_id": 0}


# --- dump and rebuild_layer, with the real tar ---------------------------------------

@pytest.fixture
def vnode(tmp_path):
    """A vnode's dirs: returns (store, root, upper) with a first layer in upper."""
    store, root = str(tmp_path / "store"), str(tmp_path / "root")
    upper = os.path.join(root, "vn1", "upper")
    write(os.path.join(upper, "etc", "hosts"), "127.0.0.1 localhost\n")
    write(os.path.join(upper, "etc", "motd"), "hello\n")
    write(os.path.join(upper, "home", "u", "data"), "v1")
    write(os.path.join(upper, "keep"), "unchanged")
    os.symlink("etc/hosts", os.path.join(upper, "hosts-link"))
    return store, root, upper


def dump(run, store, root, ckpt_id, max_chain=5):
    result = H.dump(run, store, CLUSTER, ckpt_id, root, "vn1", {"ip": "10.0.0.1", "image": "base"}, max_chain, "h1")
    assert ckpt.verify(ckpt.vnode_dir(store, CLUSTER, ckpt_id, "vn1")) == []
    return result


def members(store, ckpt_id):
    with tarfile.open(os.path.join(ckpt.vnode_dir(store, CLUSTER, ckpt_id, "vn1"), H.FS_TAR)) as tar:
        return sorted(m.name for m in tar.getmembers())


def settle():
    """Let the coarse ctime clock pass the stamp dump recorded."""
    time.sleep(0.03)


def test_full_then_incremental_dump_and_rebuild(vnode, tmp_path):
    store, root, upper = vnode
    run = FakeRun()
    first = dump(run, store, root, 1)
    assert first["parent"] is None and first["fs_changed"] == len(H.upper_paths(upper)) == 8
    assert members(store, 1) == sorted(H.upper_paths(upper))
    assert first["images_size"] == len("criu image of vn1")
    tree1 = tree(upper)

    settle()
    write(os.path.join(upper, "home", "u", "data"), "v2")
    os.unlink(os.path.join(upper, "etc", "motd"))
    write(os.path.join(upper, "home", "u", "new"), "fresh")
    second = dump(run, store, root, 2)
    assert second["parent"] == 1
    # the modified and new files, and the directories whose entries changed
    assert members(store, 2) == ["etc", "home/u", "home/u/data", "home/u/new"]
    meta = H.read_json(os.path.join(ckpt.vnode_dir(store, CLUSTER, 2, "vn1"), H.META))
    assert (meta["parent"], meta["origin"], meta["ip"], meta["fs_paths"]) == (1, "h1", "10.0.0.1", 8)
    state = H.read_json(os.path.join(root, "vn1", H.FT_STATE))
    assert state["ckpt"] == 2 and state["since_ns"] <= time.time_ns()
    tree2 = tree(upper)
    assert "etc/motd" not in tree2

    out = str(tmp_path / "rebuilt")
    assert H.rebuild_layer(run, store, CLUSTER, 2, "vn1", out) == [1, 2]
    assert tree(out) == tree2
    assert H.rebuild_layer(run, store, CLUSTER, 1, "vn1", out) == [1]
    assert tree(out) == tree1


def test_dump_saves_in_full_when_the_chain_is_long_enough(vnode):
    store, root, upper = vnode
    run = FakeRun()
    dump(run, store, root, 1, max_chain=2)
    settle()
    assert dump(run, store, root, 2, max_chain=2)["parent"] == 1
    settle()
    third = dump(run, store, root, 3, max_chain=2)
    assert third["parent"] is None and members(store, 3) == sorted(H.upper_paths(upper))


def test_incremental_dump_with_nothing_changed(vnode, tmp_path):
    store, root, upper = vnode
    run = FakeRun()
    dump(run, store, root, 1)
    settle()
    assert dump(run, store, root, 2)["fs_changed"] == 0 and members(store, 2) == []
    H.rebuild_layer(run, store, CLUSTER, 2, "vn1", str(tmp_path / "out"))
    assert tree(str(tmp_path / "out")) == tree(upper)


def test_rebuild_refuses_an_incomplete_chain(vnode, tmp_path):
    store, root, upper = vnode
    run = FakeRun()
    dump(run, store, root, 1)
    settle()
    dump(run, store, root, 2)
    H.delete(store, CLUSTER, [1])
    with pytest.raises(H.HostError, match="chain of vn1 at checkpoint 2 is incomplete"):
        H.rebuild_layer(run, store, CLUSTER, 2, "vn1", str(tmp_path / "out"))


def test_rebuild_after_renaming_a_directory(vnode, tmp_path):
    store, root, upper = vnode
    run = FakeRun()
    dump(run, store, root, 1)
    settle()
    os.rename(os.path.join(upper, "home"), os.path.join(upper, "house"))
    dump(run, store, root, 2)
    H.rebuild_layer(run, store, CLUSTER, 2, "vn1", str(tmp_path / "out"))
    assert tree(str(tmp_path / "out")) == tree(upper)


def test_rebuild_after_a_directory_became_a_file(vnode, tmp_path):
    store, root, upper = vnode
    run = FakeRun()
    dump(run, store, root, 1)
    settle()
    os.unlink(os.path.join(upper, "home", "u", "data"))
    os.rmdir(os.path.join(upper, "home", "u"))
    write(os.path.join(upper, "home", "u"), "now a file")
    dump(run, store, root, 2)
    H.rebuild_layer(run, store, CLUSTER, 2, "vn1", str(tmp_path / "out"))
    assert tree(str(tmp_path / "out")) == tree(upper)


def test_scan_verifies_only_the_checkpoints_asked_for(tmp_path):
    for ckpt_id in (1, 2):
        top = fake_copy(tmp_path, ckpt_id, "vn1")
        write(os.path.join(top, "fs.tar"), "rotten")
    got = H.scan(str(tmp_path), CLUSTER, verify={2})["copies"]
    assert "problems" not in got["1"]["vn1"] and got["2"]["vn1"]["problems"] == [
        "fs.tar has 6 bytes, the manifest says 8"]
    assert H.scan(str(tmp_path), CLUSTER, verify=True)["copies"]["1"]["vn1"]["problems"]
