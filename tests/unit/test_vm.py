"""Unit tests of the virtual machines' host-side logic (plugins/module_utils/vm.py) that needs no QEMU."""

from ansible_collections.vcluster.cluster.plugins.module_utils import vm


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
