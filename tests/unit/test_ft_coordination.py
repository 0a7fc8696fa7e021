"""Unit tests of the fault-tolerance decisions in plugins/module_utils/ckpt.py.

The "scans" are what ``ft_host.scan`` returns on each live host; they are
built here by hand with ``host_scan`` and ``copy``.
"""

import os
import shlex

import pytest

from ansible_collections.vcluster.cluster.plugins.module_utils import ckpt

SITES = {"site_a": ["a1", "a2"], "site_b": ["b1", "b2"]}
VNODES = [{"name": "vn1", "host": "a1", "ip": "10.0.0.1"}, {"name": "vn2", "host": "b1", "ip": "10.0.0.2"}]


def copy(parent=None, complete=True, problems=None, origin="a1", size=10, time=100.0):
    """One vnode's copy of one checkpoint, as scan() describes it."""
    info = {"complete": complete, "size": size, "parent": parent, "origin": origin, "time": time}
    if problems is not None:
        info["problems"] = problems
    return info


def host_scan(copies=None, committed=None, vnodes=None, catalog=None, ids=None):
    """A host's scan; ``copies``: {id: {vnode: copy()}}; ids default to the copies'."""
    copies = {str(c): dict(v) for c, v in (copies or {}).items()}
    return {"ids": list(ids if ids is not None else [int(c) for c in copies]),
            "committed": list(committed if committed is not None else [int(c) for c in copies]),
            "prepared": [], "copies": copies, "vnodes": vnodes or {}, "catalog": catalog}


def chain(vnode, ids, origin="a1", **kw):
    """{id: {vnode: copy}} for an incremental chain: each id's parent is the one before."""
    return {c: {vnode: copy(parent=p, origin=origin, **kw)} for p, c in zip([None] + ids[:-1], ids)}


def merge(*parts):
    out = {}
    for part in parts:
        for c, v in part.items():
            out.setdefault(c, {}).update(v)
    return out


# --- ids, catalogs, where the vnodes run ---------------------------------------

def test_committed_ids_are_the_union_over_hosts():
    scans = {"a1": host_scan(committed=[1, 2]), "b1": host_scan(committed=["3", 2]), "b2": host_scan()}
    assert ckpt.committed_ids(scans) == [1, 2, 3]


def test_a_checkpoint_counts_only_when_every_answering_member_committed():
    def scan(committed, ids, members):
        out = host_scan(committed=committed, ids=ids)
        out["members"] = {str(i): members for i in ids}
        return out
    members = ["a1", "b1"]
    both = {"a1": scan([5], [5], members), "b1": scan([5], [5], members)}
    assert ckpt.committed_ids(both) == [5] and ckpt.partial_ids(both) == []
    half = {"a1": scan([5], [5], members), "b1": scan([], [], members)}  # b1 deleted its part (lease)
    assert ckpt.committed_ids(half) == [] and ckpt.partial_ids(half) == [5]
    prepared = {"a1": scan([5], [5], members), "b1": scan([], [5], members)}  # b1 prepared only
    assert ckpt.committed_ids(prepared) == [] and ckpt.partial_ids(prepared) == [5]
    b1_down = {"a1": scan([5], [5], members)}  # b1 does not answer: it cannot say; its copies are not there
    assert ckpt.committed_ids(b1_down) == [5]
    replica_only = dict(both, b2=host_scan(committed=[], ids=[5]))  # a peer holding a copy, not a member
    assert ckpt.committed_ids(replica_only) == [5] and ckpt.partial_ids(replica_only) == []


def test_newest_catalog_has_the_highest_serial():
    scans = {"a1": host_scan(catalog={"serial": 2}), "a2": host_scan(catalog={"serial": 5, "x": 1}),
             "b1": host_scan(catalog=None), "b2": host_scan(catalog="garbage")}
    assert ckpt.newest_catalog(scans) == {"serial": 5, "x": 1}
    assert ckpt.newest_catalog({"a1": host_scan()}) == {}


def test_locate_finds_running_and_frozen_vnodes_and_reports_problems():
    vnodes = [{"name": n} for n in ("vn1", "vn2", "vn3", "vn4")]
    scans = {"a1": host_scan(vnodes={"vn1": "RUNNING", "vn3": "STOPPED", "vn4": "RUNNING"}),
             "b1": host_scan(vnodes={"vn2": "FROZEN", "vn4": "FROZEN"})}
    where, problems = ckpt.locate(scans, vnodes)
    assert where == {"vn1": "a1", "vn2": "b1"}
    assert len(problems) == 2
    assert problems[0].startswith("vnode vn3 is not running on any live host")
    assert problems[1] == "vnode vn4 runs on a1 and b1 at once: stop all but one"


# --- checkpoint_plan -------------------------------------------------------------

@pytest.mark.parametrize("ids_a, ids_b, catalog, expected", [
    ([], [], None, 1),
    ([1, 2], [1, 2, 7], None, 8),  # 7: an aborted id left on one host only
    ([3], [3], {"serial": 4, "last_id": 9}, 10),  # 4..9 deleted everywhere, known to the catalog
    ([12], [], {"serial": 1, "last_id": 5}, 13),
])
def test_checkpoint_id_is_never_reused(ids_a, ids_b, catalog, expected):
    scans = {"a1": host_scan(ids=ids_a, vnodes={"vn1": "RUNNING"}, catalog=catalog),
             "b1": host_scan(ids=ids_b, vnodes={"vn2": "RUNNING"})}
    plan = ckpt.checkpoint_plan(scans, VNODES)
    assert plan == {"id": expected, "dumps": {"a1": ["vn1"], "b1": ["vn2"]}, "where": {"vn1": "a1", "vn2": "b1"}}


def test_an_id_deleted_everywhere_is_not_used_again():
    scans = {"a1": host_scan(ids=[1], vnodes={"vn1": "RUNNING"}), "b1": host_scan(ids=[1], vnodes={"vn2": "RUNNING"})}
    scans["b1"]["last_id"] = 4  # 2..4 aborted and deleted, the catalog never knew them
    assert ckpt.checkpoint_plan(scans, VNODES)["id"] == 5


def test_checkpoint_plan_groups_the_dumps_per_host():
    scans = {"a1": host_scan(vnodes={"vn2": "RUNNING", "vn1": "FROZEN"})}
    assert ckpt.checkpoint_plan(scans, VNODES)["dumps"] == {"a1": ["vn1", "vn2"]}


def test_checkpoint_plan_refuses_a_vnode_that_is_not_running():
    scans = {"a1": host_scan(vnodes={"vn1": "RUNNING"}), "b1": host_scan(vnodes={"vn2": "STOPPED"})}
    with pytest.raises(ckpt.CheckpointError, match="^cannot checkpoint: vnode vn2 is not running"):
        ckpt.checkpoint_plan(scans, VNODES)


# --- chain_at --------------------------------------------------------------------

def test_chain_at_follows_parents_oldest_first():
    scan = host_scan(merge(chain("vn1", [1, 2, 3]), {4: {"vn1": copy()}}))
    assert ckpt.chain_at(scan, 3, "vn1") == [1, 2, 3]
    assert ckpt.chain_at(scan, 4, "vn1") == [4]
    assert ckpt.chain_at(scan, 3, "vn2") is None


@pytest.mark.parametrize("damage", [
    lambda c: c.pop(1),  # an ancestor is missing
    lambda c: c[2]["vn1"].update(complete=False),
    lambda c: c[1]["vn1"].update(problems=["fs.tar: sha256 mismatch"]),
    lambda c: c[1]["vn1"].update(parent=3),  # a loop
])
def test_chain_at_is_none_when_a_member_is_unusable(damage):
    copies = chain("vn1", [1, 2, 3])
    damage(copies)
    assert ckpt.chain_at(host_scan(copies), 3, "vn1") is None


def test_verified_copy_without_problems_counts():
    assert ckpt.chain_at(host_scan(chain("vn1", [1, 2], problems=[])), 2, "vn1") == [1, 2]


# --- replication_plan ------------------------------------------------------------

def test_replication_keeps_live_previous_peers_and_sends_only_what_they_lack():
    scans = {"a1": host_scan(chain("vn1", [1, 2, 3])), "b2": host_scan(chain("vn1", [1, 2], origin="a1")),
             "a2": host_scan(), "b1": host_scan()}
    copies, warnings = ckpt.replication_plan(3, scans, {"vn1": "a1"}, SITES, 1, "spread",
                                             previous={"vn1": ["b2"]})
    assert copies == [{"vnode": "vn1", "src": "a1", "dst": "b2", "ids": [3], "basis": 2}] and warnings == []


def test_replication_replaces_a_dead_previous_peer_and_sends_the_whole_chain():
    scans = {"a1": host_scan(chain("vn1", [1, 2])), "a2": host_scan(), "b1": host_scan()}
    live = {"site_a": ["a1", "a2"], "site_b": ["b1"]}  # b2 is down
    copies, _ = ckpt.replication_plan(2, scans, {"vn1": "a1"}, live, 1, "spread", previous={"vn1": ["b2"]})
    assert copies == [{"vnode": "vn1", "src": "a1", "dst": "b1", "ids": [1, 2], "basis": None}]


@pytest.mark.parametrize("seed", range(10))
def test_spread_replication_goes_to_the_other_site(seed):
    scans = {h: host_scan() for h in ("a2", "b1", "b2")}
    scans["a1"] = host_scan({1: {"vn1": copy()}})
    copies, _ = ckpt.replication_plan(1, scans, {"vn1": "a1"}, SITES, 1, "spread", seed=seed)
    assert len(copies) == 1 and copies[0]["dst"] in SITES["site_b"]


def test_more_replicas_than_live_hosts_warns_and_makes_fewer_copies():
    scans = {"a1": host_scan({1: {"vn1": copy()}}), "b1": host_scan()}
    live = {"site_a": ["a1"], "site_b": ["b1"]}
    copies, warnings = ckpt.replication_plan(1, scans, {"vn1": "a1"}, live, 3, "random", seed=1)
    assert [c["dst"] for c in copies] == ["b1"]
    assert warnings == ["vn1: only 1 other live hosts, 1 copies instead of 3"]


def test_replication_refuses_an_incomplete_checkpoint():
    scans = {"a1": host_scan({2: {"vn1": copy(parent=1)}}), "b1": host_scan()}
    with pytest.raises(ckpt.CheckpointError, match="checkpoint 2 of vn1 is not complete on a1"):
        ckpt.replication_plan(2, scans, {"vn1": "a1"}, SITES, 1, "random")


# --- retention -------------------------------------------------------------------

@pytest.mark.parametrize("committed, retention, parents, partial, expected", [
    ([1, 2, 3, 4, 5], 2, {}, [], [1, 2, 3]),
    ([1, 2, 3, 4, 5], 2, {5: {"vn1": 4}, 4: {"vn1": 3}, 3: {"vn1": None}}, [], [1, 2]),
    # keys as strings (JSON), and the chain of one vnode only keeps its ancestors
    ([1, 2, 3, 4, 5], 2, {"5": {"vn1": None, "vn2": 4}, "4": {"vn1": None, "vn2": 2}, "2": {"vn2": 1},
                          "1": {"vn2": None}}, [], [3]),
    ([5], 0, {5: {"vn1": None}}, [], []),  # never the only committed one
    ([2, 4], 1, {4: {"vn1": 2}}, [3, 6], [3]),  # stale partial 3 goes, 2 is needed, 6 may be in progress
])
def test_retention_keeps_every_chain_member_of_a_kept_checkpoint(committed, retention, parents, partial,
                                                                 expected):
    assert ckpt.to_delete_chained(committed, retention, parents, partial) == expected


# --- build_catalog ---------------------------------------------------------------

def test_catalog_lists_committed_checkpoints_and_their_complete_copies():
    scans = {"a1": host_scan({1: {"vn1": copy(size=5, time=10.0)}, 2: {"vn1": copy(parent=1, size=3, time=20.0)},
                              3: {"vn1": copy(parent=2)}}, committed=[1, 2], ids=[1, 2, 3]),
             "b1": host_scan({1: {"vn1": copy(size=5, time=12.0), "vn2": copy(origin="b1", size=7, time=9.0)},
                              2: {"vn1": copy(parent=1, complete=False)}}, committed=[1, 2])}
    cat = ckpt.build_catalog("c", scans, set(), {"serial": 4, "last_id": 7, "placement": {"vn1": "a2"}})
    assert cat["cluster"] == "c" and cat["serial"] == 5 and cat["last_id"] == 7
    assert cat["placement"] == {"vn1": "a2"}
    assert sorted(cat["checkpoints"]) == ["1", "2"]  # 3 is not committed
    one = cat["checkpoints"]["1"]
    assert one["time"] == 9.0 and one["size"] == 12
    assert one["vnodes"]["vn1"] == {"size": 5, "parent": None, "origin": "a1", "copies": ["a1", "b1"]}
    assert cat["checkpoints"]["2"]["vnodes"]["vn1"]["copies"] == ["a1"]  # b1's copy is incomplete
    assert ckpt.build_catalog("c", scans, set(), None, where={"vn1": "a1"})["last_id"] == 3


def test_catalog_keeps_copies_on_dead_hosts_marked_down():
    scans = {"a1": host_scan({1: {"vn1": copy()}})}
    previous = {"serial": 1, "checkpoints": {"1": {"vnodes": {
        "vn1": {"size": 10, "parent": None, "origin": "a1", "copies": ["a1", "b1"]},
        "vn2": {"size": 4, "parent": None, "origin": "b1", "copies": ["b1"]}}}}}
    cat = ckpt.build_catalog("c", scans, {"b1"}, previous)
    vnodes = cat["checkpoints"]["1"]["vnodes"]
    assert vnodes["vn1"]["copies"] == ["a1"] and vnodes["vn1"]["down"] == ["b1"]
    assert vnodes["vn2"]["copies"] == [] and vnodes["vn2"]["down"] == ["b1"]
    assert cat["checkpoints"]["1"]["size"] == 14


def test_catalog_still_knows_a_down_copy_after_a_second_rebuild():
    scans = {"a1": host_scan({1: {"vn1": copy()}})}
    previous = {"serial": 1, "checkpoints": {"1": {"vnodes": {
        "vn1": {"size": 10, "parent": None, "origin": "a1", "copies": ["a1", "b1"]},
        "vn2": {"size": 4, "parent": None, "origin": "b1", "copies": ["b1"]}}}}}
    first = ckpt.build_catalog("c", scans, {"b1"}, previous)
    second = ckpt.build_catalog("c", scans, {"b1"}, first)
    vnodes = second["checkpoints"]["1"]["vnodes"]
    assert vnodes["vn1"].get("down") == ["b1"]
    assert "vn2" in vnodes and vnodes["vn2"]["down"] == ["b1"]


# --- restore_plan ----------------------------------------------------------------

def both_at_home(ids=(1, 2)):
    """vn1 on a1 and vn2 on b1, each with a replica on the other host."""
    ids = list(ids)
    return {"a1": host_scan(merge(chain("vn1", ids), chain("vn2", ids, origin="b1"))),
            "b1": host_scan(merge(chain("vn1", ids), chain("vn2", ids, origin="b1")))}


@pytest.mark.parametrize("value, expected", [("latest", 2), (None, 2), ("1", 1), (1, 1)])
def test_restore_at_home_changes_nothing_else(value, expected):
    plan = ckpt.restore_plan(value, both_at_home(), set(), VNODES)
    assert plan["ckpt"] == expected
    assert plan["plan"] == {"vn1": {"host": "a1", "source": "a1", "moved": False},
                            "vn2": {"host": "b1", "source": "b1", "moved": False}}
    assert plan["restore"] == {"a1": [{"name": "vn1", "ip": "10.0.0.1"}], "b1": [{"name": "vn2", "ip": "10.0.0.2"}]}
    assert plan["fetch"] == [] and plan["corrupt"] == []


@pytest.mark.parametrize("value, message", [
    ("abc", "ckpt=abc is not a checkpoint id; give an integer or latest (committed: 1, 2)"),
    ("999", "ckpt=999 does not exist or is not committed; committed: 1, 2"),
])
def test_restore_refuses_a_bad_ckpt(value, message):
    with pytest.raises(ckpt.CheckpointError) as err:
        ckpt.restore_plan(value, both_at_home(), set(), VNODES)
    assert str(err.value) == message


def test_dead_home_moves_the_vnode_to_a_live_replica_holder():
    scans = both_at_home()
    del scans["a1"]
    plan = ckpt.restore_plan("latest", scans, {"a1"}, VNODES)
    assert plan["plan"]["vn1"] == {"host": "b1", "source": "b1", "moved": True}
    assert plan["restore"] == {"b1": [{"name": "vn1", "ip": "10.0.0.1"}, {"name": "vn2", "ip": "10.0.0.2"}]}
    assert plan["fetch"] == []


def test_incremental_restore_needs_every_ancestor_on_the_same_host():
    scans = {"b1": host_scan(merge({3: {"vn1": copy(parent=2)}}, chain("vn2", [1, 2, 3], origin="b1"))),
             "b2": host_scan(chain("vn1", [1, 2, 3]))}  # a1 is down; b1 lacks vn1's checkpoint 2
    plan = ckpt.restore_plan("3", scans, {"a1"}, VNODES)
    assert plan["plan"]["vn1"] == {"host": "b2", "source": "b2", "moved": True}
    assert plan["corrupt"] == []


def test_damaged_ancestor_disqualifies_the_host_and_is_reported():
    vn1 = chain("vn1", [1, 2, 3], problems=[])
    vn1[1]["vn1"]["problems"] = ["fs.tar: sha256 mismatch"]
    scans = {"b1": host_scan(merge(vn1, chain("vn2", [1, 2, 3], origin="b1"))),
             "b2": host_scan(chain("vn1", [1, 2, 3], problems=[]))}
    plan = ckpt.restore_plan("latest", scans, {"a1"}, VNODES)
    assert plan["plan"]["vn1"]["host"] == "b2"
    assert plan["corrupt"] == ["b1: checkpoint 1 of vn1: fs.tar: sha256 mismatch"]


def test_restore_refuses_when_no_live_host_has_a_verified_copy():
    scans = both_at_home()
    scans["b1"]["copies"]["2"]["vn1"]["problems"] = ["images/core.img is missing"]
    del scans["a1"]
    with pytest.raises(ckpt.CheckpointError) as err:
        ckpt.restore_plan("latest", scans, {"a1"}, VNODES + [{"name": "vn3", "host": "a2", "ip": "10.0.0.3"}])
    assert str(err.value) == ("checkpoint 2 cannot be restored: no verified copy on a live host for vn1, vn3; "
                              "nothing was changed")


def test_live_home_without_the_copy_fetches_only_the_missing_chain_ids():
    scans = both_at_home([1, 2, 3])
    for c in ("2", "3"):  # a1 was down during checkpoints 2 and 3
        del scans["a1"]["copies"][c]
    scans["a1"]["committed"] = [1]
    plan = ckpt.restore_plan("latest", scans, set(), VNODES)
    assert plan["ckpt"] == 3
    assert plan["plan"]["vn1"] == {"host": "a1", "source": "b1", "moved": False}
    assert plan["restore"]["a1"] == [{"name": "vn1", "ip": "10.0.0.1"}]
    assert plan["fetch"] == [{"vnode": "vn1", "src": "b1", "dst": "a1", "ids": [2, 3], "basis": 1}]


def test_home_is_the_origin_of_the_copy_else_the_catalog_placement():
    """The host that dumped the checkpoint wins over the catalog and the inventory."""
    scans = both_at_home()
    plan = ckpt.restore_plan("latest", scans, set(), VNODES, home={"vn1": "b1"})
    assert plan["plan"]["vn1"] == {"host": "a1", "source": "a1", "moved": False}
    for scan in scans.values():
        for copies in scan["copies"].values():
            copies["vn1"]["origin"] = None
    plan = ckpt.restore_plan("latest", scans, set(), VNODES, home={"vn1": "b1"})
    assert plan["plan"]["vn1"] == {"host": "b1", "source": "b1", "moved": False}


def test_vnode_that_moved_is_restored_where_it_was_dumped():
    scans = both_at_home()
    for scan in scans.values():
        scan["copies"]["2"]["vn1"]["origin"] = "b1"  # vn1 ran on b1 at checkpoint 2
    plan = ckpt.restore_plan("latest", scans, set(), VNODES)
    assert plan["plan"]["vn1"] == {"host": "b1", "source": "b1", "moved": False}


# --- copying between hosts -------------------------------------------------------

def test_ssh_argv_keeps_the_inventory_options():
    host = {"address": "10.1.0.5", "user": "root", "key": "/k/id", "ssh_args": "-o 'ProxyCommand=ssh -W %h:%p gw'"}
    assert ckpt.ssh_argv(host) == ["ssh", "-o", "BatchMode=yes", "-i", "/k/id", "-o", "ProxyCommand=ssh -W %h:%p gw",
                                   "-l", "root", "10.1.0.5"]
    assert ckpt.ssh_argv({"address": "h", "user": "", "key": "", "ssh_args": ""}) == [
        "ssh", "-o", "BatchMode=yes", "h"]


def test_push_command_runs_on_the_source_and_pushes_to_the_peers_lan_address():
    src = {"address": "a", "store": "/st ore", "repl_key": "/e/k", "repl_known_hosts": "/e/kh", "mbit": 8}
    dst = {"address": "b", "user": "u", "store": "/d", "lan_ip": "10.240.2.11"}
    cmd = ckpt.push_command(src, dst, "c", 4, "vn1", basis="3/vn1")
    assert cmd[:-1] == ["ssh", "-o", "BatchMode=yes", "a"]  # the controller only starts it
    push = shlex.split(cmd[-1])
    assert push[:7] == ["nice", "-n", "19", "ionice", "-c", "3", "rsync"]
    assert push[-2:] == ["/st ore/c/4/vn1/", "root@10.240.2.11:4/.incoming-vn1/vn1/"]
    assert "--link-dest=/3/vn1" in push and "--bwlimit=976" in push
    assert "-i /e/k" in push[push.index("-e") + 1] and "UserKnownHostsFile=/e/kh" in push[push.index("-e") + 1]


def test_verify_ignores_the_restore_log_criu_adds(tmp_path):
    """images/restore.log (NOT_DATA) may appear after the manifest; other new files may not."""
    os.makedirs(str(tmp_path / "images"))
    (tmp_path / "images" / "core.img").write_bytes(b"core")
    ckpt.write_manifest(str(tmp_path), vnode="vn1")
    (tmp_path / "images" / "restore.log").write_text("criu says hello")
    (tmp_path / "images" / "stats-restore").write_bytes(b"\x01")
    assert ckpt.verify(str(tmp_path)) == []
    (tmp_path / "images" / "dump.log").write_text("added later")
    assert ckpt.verify(str(tmp_path)) == ["images/dump.log is not in the manifest"]


# --- placement is state: deploy and rebalance -------------------------------------

MODEL = [{"name": "vn1", "host": "a1", "ip": "10.0.0.1"}, {"name": "vn2", "host": "b1", "ip": "10.0.0.2"},
         {"name": "vn3", "host": "a2", "ip": "10.0.0.3"}]


def test_deploy_keeps_a_moved_vnode_where_it_runs_and_starts_the_others_at_home():
    scans = {"a1": host_scan(vnodes={}), "a2": host_scan(vnodes={"vn1": "RUNNING"}),
             "b1": host_scan(vnodes={"vn2": "FROZEN"}), "b2": host_scan(vnodes={"vn3": "STOPPED"})}
    placed = ckpt.deploy_placement(scans, MODEL, recorded={"vn3": "b2"})
    assert {n: p["host"] for n, p in placed.items()} == {"vn1": "a2", "vn2": "b1", "vn3": "a2"}
    assert placed["vn1"]["moved"] and placed["vn1"]["why"].startswith("runs there, the inventory says a1: kept")
    assert placed["vn2"]["why"] == "runs on its inventory host"
    assert "it last ran on b2" in placed["vn3"]["why"]


def test_deploy_recreates_only_what_is_named_and_refuses_a_vnode_on_two_hosts():
    scans = {"a1": host_scan(vnodes={}), "a2": host_scan(vnodes={"vn1": "RUNNING"}), "b1": host_scan(vnodes={})}
    placed = ckpt.deploy_placement(scans, MODEL, recreate=["vn1"])
    assert placed["vn1"]["host"] == "a1" and placed["vn1"]["recreate"] is True
    assert not any(p.get("recreate") for n, p in placed.items() if n != "vn1")
    moved = ckpt.deploy_placement(scans, MODEL)  # its message names vc_recreate; it is not recreated
    assert "vc_recreate" in moved["vn1"]["why"] and not moved["vn1"].get("recreate")
    twice = {"a1": host_scan(vnodes={"vn1": "RUNNING"}), "a2": host_scan(vnodes={"vn1": "RUNNING"})}
    with pytest.raises(ckpt.CheckpointError, match="vnode vn1 runs on a1 and a2 at once: name it in"):
        ckpt.deploy_placement(twice, MODEL)


@pytest.mark.parametrize("value, expected", [(None, []), ("", []), ("vn2,vn1", ["vn1", "vn2"]),
                                             (["vn3"], ["vn3"]), ("vn1 vn1", ["vn1"])])
def test_recreate_names(value, expected):
    assert ckpt.recreate_names(value, MODEL) == expected


def test_recreate_names_refuses_an_unknown_vnode():
    with pytest.raises(ckpt.CheckpointError, match=r"^vc_recreate=nope: not a vnode of the inventory \(vn1, vn2"):
        ckpt.recreate_names("vn1,nope", MODEL)


def test_rebalance_moves_back_only_to_a_live_inventory_host():
    scans = {"a2": host_scan(vnodes={"vn1": "RUNNING", "vn3": "RUNNING"}), "b2": host_scan(vnodes={"vn2": "RUNNING"})}
    plan = ckpt.rebalance_plan(scans, MODEL)
    assert plan["moves"] == []  # a1 and b1 do not answer
    assert plan["notes"] == ["vnode vn1 stays on a2: its inventory host a1 does not answer",
                             "vnode vn2 stays on b2: its inventory host b1 does not answer"]
    scans["a1"] = host_scan(vnodes={})
    assert ckpt.rebalance_plan(scans, MODEL)["moves"] == [{"vnode": "vn1", "src": "a2", "to": "a1"}]


def test_a_restore_verifies_the_checkpoint_and_its_chains_only():
    scans = {"a1": {"copies": {"3": {"vn1": {"parent": 2}, "vn2": {"parent": None}},
                               "2": {"vn1": {"parent": 1}}, "1": {"vn1": {"parent": None}}, "4": {"vn1": {"parent": 3}}}},
             "b1": {"copies": {"3": {"vn3": {"parent": 1}}, "1": {"vn3": {}}, "2": {"vn2": {}}}}}
    assert ckpt.chain_ids(scans, 3) == [1, 2, 3]
    assert ckpt.chain_ids(scans, 2) == [1, 2]
    assert ckpt.chain_ids({}, 5) == [5]
