"""Unit tests of the virtual machines' host-side logic (plugins/module_utils/vm.py) that needs no QEMU."""

import os
import pathlib
import shutil
import subprocess

import pytest

from ansible_collections.vcluster.cluster.plugins.module_utils import ft_host, vm, vnode


def test_resources_are_checked_against_the_host():
    ok = [{"name": "vn-k1", "memory_mb": 512, "vcpus": 1}]
    assert vm.resource_errors(ok, 4096, 2) == []
    assert vm.resource_errors([], 0, 1) == []
    assert vm.resource_errors([{"name": "vn-k1", "memory_mb": 512, "vcpus": 4}], 4096, 2) == [
        "vnode vn-k1 asks for 4 vCPUs but its host has 2 CPUs; set vcpus: 2 or less on it in vc_vnodes"]
    assert vm.resource_errors(ok * 2, 1000, 2) == [
        "vnodes vn-k1, vn-k1 need 1024 MiB but the host has 1000 MiB available (keeping 256 for itself); lower "
        "memory_mb in vc_vnodes or place some on another host"]


def test_free_memory_reads_mem_available(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:   2097152 kB\n")
    assert vm.free_memory_mb(str(meminfo)) == 2048


def test_a_pidfile_of_another_process_is_not_the_vm(tmp_path):
    files = {"pid": str(tmp_path / "qemu.pid"), "qmp": str(tmp_path / "qmp.sock")}
    assert vm.pid_of(files) is None
    (tmp_path / "qemu.pid").write_text("1\n")  # init, not this VM's QEMU
    assert vm.pid_of(files) is None


def test_tail_of_a_missing_log_is_empty(tmp_path):
    assert vm.tail(str(tmp_path / "none")) == ""
    (tmp_path / "log").write_text("x" * 3000 + "end")
    assert vm.tail(str(tmp_path / "log"), 10).endswith("end")


# The disk's chain of layers, with the real qemu-img and qemu-io (no QEMU process).

def qemu_io(path, command):
    out = subprocess.run(["qemu-io", "-f", "qcow2", "-c", command, path], capture_output=True, text=True, check=False)
    return out.returncode == 0 and "Pattern verification failed" not in out.stdout, out.stdout + out.stderr


needs_qemu = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-utils is not installed")


@needs_qemu
def test_saves_laid_out_again_elsewhere_give_the_same_disk_and_a_merge_stands_alone(tmp_path):
    run = ft_host.local_run
    image = tmp_path / "image"
    image.mkdir()
    base = str(image / "disk.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", base, "16M"], check=True)
    assert qemu_io(base, "write -P 0x11 0 64k")[0]
    here = vnode.vm_files(str(tmp_path / "a"), "vn-k1")
    os.makedirs(here["dir"])
    first = vm.new_layer(run, here, "vn-k1", base)
    vm.point_disk(here, first)
    assert os.readlink(here["disk"]) == os.path.basename(first)
    assert qemu_io(here["disk"], "write -P 0x22 1M 64k")[0]
    second = vm.new_layer(run, here, "vn-k1", os.path.basename(first), 16 << 20)  # relative backing, not opened
    vm.point_disk(here, second)
    assert qemu_io(here["disk"], "write -P 0x33 2M 64k")[0]
    for key in vm.key_files(here):
        pathlib.Path(key).write_text("key\n")
    # Two checkpoints' saves, as the store holds them: each layer under disk.qcow2.
    saves = []
    for i, layer in enumerate((first, second)):
        d = tmp_path / "store" / str(i + 1)
        d.mkdir(parents=True)
        vm.link_or_copy(layer, str(d / "disk.qcow2"))
        for key in vm.key_files(here):
            shutil.copy2(key, d / os.path.basename(key))
        saves.append((str(d), os.path.basename(layer)))
    there = vnode.vm_files(str(tmp_path / "b"), "vn-k1")
    vm.lay_out(run, there, "vn-k1", saves, base)
    for pattern, offset in (("0x11", "0"), ("0x22", "1M"), ("0x33", "2M")):
        ok, out = qemu_io(there["disk"], "read -P %s %s 64k" % (pattern, offset))
        assert ok, out
    assert os.stat(there["host_key"]).st_mode & 0o777 == 0o600
    # A full save: the top with the chain merged in, backed by the image's disk alone.
    full = str(tmp_path / "full.qcow2")
    vm.merge(run, here, "vn-k1", second, base, full)
    info = vm.image_info(run, full)
    assert info["backing-filename"] == base
    for pattern, offset in (("0x11", "0"), ("0x22", "1M"), ("0x33", "2M")):
        ok, out = qemu_io(full, "read -P %s %s 64k" % (pattern, offset))
        assert ok, out
    assert not [n for n in os.listdir(here["dir"]) if n.startswith(".full-")]
