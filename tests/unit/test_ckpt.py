"""Unit tests of the checkpoint logic (plugins/module_utils/ckpt.py)."""

import os

import pytest

from ansible_collections.vcluster.cluster.plugins.module_utils import ckpt

SITES = {"site_a": ["a-h1", "a-h2"], "site_b": ["b-h1", "b-h2"]}
ORIGINS = {"vn-a1": "a-h1", "vn-a2": "a-h2", "vn-b1": "b-h1", "vn-b2": "b-h2"}


@pytest.mark.parametrize("value, expected", [(None, 7), ("latest", 7), ("LATEST", 7), (3, 3), ("3", 3), (" 7 ", 7)])
def test_parse_ckpt(value, expected):
    assert ckpt.parse_ckpt(value, [3, 5, 7]) == expected


@pytest.mark.parametrize("value, message", [
    ("999", "ckpt=999 does not exist or is not committed; committed: 3, 5, 7"),
    ("abc", "ckpt=abc is not a checkpoint id; give an integer or latest (committed: 3, 5, 7)"),
    (True, "is not a checkpoint id"),
    ("4", "ckpt=4 does not exist"),
])
def test_parse_ckpt_refuses(value, message):
    with pytest.raises(ckpt.CheckpointError) as err:
        ckpt.parse_ckpt(value, [3, 5, 7])
    assert message in str(err.value)


def test_latest_without_checkpoints_says_how_to_make_one():
    with pytest.raises(ckpt.CheckpointError, match="no committed checkpoint.*run checkpoint.yml"):
        ckpt.parse_ckpt("latest", [])


def test_next_id_never_reuses_an_aborted_id():
    assert ckpt.next_id([]) == 1
    assert ckpt.next_id([1, 2, "5"]) == 6


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def test_manifest_verifies_and_detects_corruption(tmp_path):
    top = tmp_path / "vn-a1"
    write(str(top / "images" / "pages-1.img"), b"x" * 5000)
    write(str(top / "fs.tar"), b"tar")
    manifest = ckpt.write_manifest(str(top), vnode="vn-a1", ckpt=4)
    assert manifest["size"] == 5003 and set(manifest["files"]) == {"images/pages-1.img", "fs.tar"}
    assert ckpt.verify(str(top)) == []
    write(str(top / "fs.tar"), b"TAR")  # same size, other content
    assert ckpt.verify(str(top)) == ["fs.tar: sha256 mismatch"]
    write(str(top / "fs.tar"), b"tarball")
    assert ckpt.verify(str(top)) == ["fs.tar has 7 bytes, the manifest says 3"]
    os.unlink(str(top / "fs.tar"))
    write(str(top / "extra"), b"")
    assert ckpt.verify(str(top)) == ["fs.tar is missing", "extra is not in the manifest"]


def test_copy_without_manifest_is_incomplete(tmp_path):
    write(str(tmp_path / "images" / "core.img"), b"1")
    assert ckpt.verify(str(tmp_path)) == ["no MANIFEST.json (incomplete copy)"]


@pytest.mark.parametrize("seed", range(20))
def test_spread_puts_the_first_copy_at_the_other_site(seed):
    placed = ckpt.place_replicas(ORIGINS, SITES, 1, "spread", seed)
    for vnode, peers in placed.items():
        assert len(peers) == 1
        assert (peers[0][0], ORIGINS[vnode][0]) in (("a", "b"), ("b", "a"))


def test_spread_with_more_copies_than_other_site_hosts_uses_the_own_site():
    placed = ckpt.place_replicas(ORIGINS, SITES, 3, "spread", 1)
    assert placed["vn-a1"] == ["a-h2", "b-h1", "b-h2"]


@pytest.mark.parametrize("seed", range(20))
def test_random_gives_k_distinct_other_hosts(seed):
    placed = ckpt.place_replicas(ORIGINS, SITES, 2, "random", seed)
    for vnode, peers in placed.items():
        assert len(set(peers)) == 2 and ORIGINS[vnode] not in peers


def test_too_many_replicas_is_refused():
    with pytest.raises(ckpt.CheckpointError, match="vc_ft_replicas is 4 but only 3 other hosts"):
        ckpt.place_replicas(ORIGINS, SITES, 4, "random")


def test_restore_prefers_the_own_host():
    copies = {v: [h, "b-h1" if h.startswith("a") else "a-h1"] for v, h in ORIGINS.items()}
    plan = ckpt.plan_restore(4, ORIGINS, copies, SITES["site_a"] + SITES["site_b"])
    assert all(p == {"host": ORIGINS[v], "source": ORIGINS[v], "moved": False} for v, p in plan.items())


def test_restore_after_losing_a_site_moves_its_vnodes_to_replica_holders():
    copies = {"vn-a1": ["a-h1", "b-h1"], "vn-a2": ["a-h2", "b-h2"], "vn-b1": ["b-h1", "a-h1"],
              "vn-b2": ["b-h2", "a-h2"]}
    plan = ckpt.plan_restore(4, ORIGINS, copies, ["b-h1", "b-h2"])
    assert plan["vn-a1"] == {"host": "b-h1", "source": "b-h1", "moved": True}
    assert plan["vn-a2"] == {"host": "b-h2", "source": "b-h2", "moved": True}
    assert plan["vn-b1"]["host"] == "b-h1" and not plan["vn-b1"]["moved"]


def test_restore_refuses_when_a_vnode_has_no_live_copy_and_names_it():
    copies = {"vn-a1": ["a-h1", "a-h2"], "vn-a2": ["a-h2", "b-h1"], "vn-b1": ["b-h1"], "vn-b2": ["b-h2"]}
    with pytest.raises(ckpt.CheckpointError) as err:
        ckpt.plan_restore(7, ORIGINS, copies, ["b-h1", "b-h2"])
    assert str(err.value) == ("checkpoint 7 cannot be restored: no verified copy on a live host for vn-a1; "
                              "nothing was changed")


def test_live_home_without_copy_fetches_from_a_holder():
    plan = ckpt.plan_restore(2, {"vn-a1": "a-h1"}, {"vn-a1": ["b-h1"]}, ["a-h1", "b-h1"])
    assert plan["vn-a1"] == {"host": "a-h1", "source": "b-h1", "moved": False}


@pytest.mark.parametrize("committed, retention, partial, expected", [
    ([1, 2, 3, 4, 5], 3, [], [1, 2]),
    ([5], 1, [], []),
    ([5], 0, [], []),  # never the only committed one
    ([2, 4], 1, [3, 6], [2, 3]),  # partial 3 is stale, 6 may be in progress
    ([], 3, [1], []),
])
def test_retention(committed, retention, partial, expected):
    assert ckpt.to_delete(committed, retention, partial) == expected
