"""Unit tests of the FT layer's filters that are not covered through ckpt.py (plugins/filter/ft.py)."""

from ansible_collections.vcluster.cluster.plugins.filter.ft import failures, scans

HOSTVARS = {
    "ok": {"r": {"changed": True, "result": {}}},
    "down": {"r": {"unreachable": True, "msg": "ssh: connect to host: Connection refused"}},
    "bad": {"r": {"failed": True, "msg": "lxc-checkpoint -r failed"}},
    "quiet": {"r": {"failed": True}},
    "never": {},
}


def test_failures_name_each_host_and_its_reason_in_the_given_order():
    assert failures(HOSTVARS, ["ok", "down", "bad", "quiet", "never", "gone"], "r") == [
        "down: unreachable", "bad: lxc-checkpoint -r failed", "quiet: failed", "never: unreachable",
        "gone: unreachable"]


def test_no_failures_when_every_host_succeeded():
    assert failures(HOSTVARS, ["ok"], "r") == []


def test_scans_count_failed_and_unreachable_hosts_as_dead():
    state = scans(HOSTVARS, ["ok", "down", "bad", "never"], "r")
    assert state == {"scans": {"ok": {}}, "dead": ["bad", "down", "never"]}
