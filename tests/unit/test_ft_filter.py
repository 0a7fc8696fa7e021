"""Unit tests of the FT layer's filters that are not covered through ckpt.py (plugins/filter/ft.py)."""

from ansible_collections.vcluster.cluster.plugins.filter.ft import scans

HOSTVARS = {
    "ok": {"r": {"changed": True, "result": {}}},
    "down": {"r": {"unreachable": True, "msg": "ssh: connect to host: Connection refused"}},
    "bad": {"r": {"failed": True, "msg": "lxc-checkpoint -r failed"}},
    "quiet": {"r": {"failed": True}},
    "never": {},
}


def test_scans_count_failed_and_unreachable_hosts_as_dead():
    state = scans(HOSTVARS, ["ok", "down", "bad", "never"], "r")
    assert state == {"scans": {"ok": {}}, "dead": ["bad", "down", "never"]}
