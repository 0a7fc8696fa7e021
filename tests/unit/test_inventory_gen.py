"""scripts/make-inventory (plugins/module_utils/inventory_gen.py): the inventories it writes pass the validator
as they are (read by ansible-inventory, as deploy.yml reads them); bad parameters are refused."""

import pathlib
import subprocess
import sys

import pytest

from ansible_collections.vcluster.cluster.plugins.module_utils import inventory, inventory_gen

ROOT = pathlib.Path(__file__).resolve().parents[2]
ANSIBLE_INVENTORY = str(pathlib.Path(sys.executable).parent / "ansible-inventory")


def write(tmp_path, *args):
    out = tmp_path / "inv"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts/make-inventory"), *args, "--out", str(out)],
                          capture_output=True, text=True, check=False)
    return proc, out


@pytest.mark.parametrize("sites, hosts, vnodes", [(1, 1, 1), (3, 2, 1), (4, 8, 1), (2, 2, 3)])
def test_generated_inventories_are_valid(tmp_path, sites, hosts, vnodes):
    proc, out = write(tmp_path, "--sites", str(sites), "--hosts-per-site", str(hosts), "--vnodes-per-host",
                      str(vnodes), "--name", "gen%d" % sites, "--net", "150")
    assert proc.returncode == 0, proc.stderr
    hostvars, groups, site_names = inventory.read_inventory(str(out), exe=ANSIBLE_INVENTORY, cwd=str(ROOT))
    model = inventory.build_model(hostvars, groups, site_names)
    assert inventory.validate(model) == []
    assert len(model["sites"]) == sites and len(model["vnodes"]) == sites * hosts * vnodes
    assert sum(1 for h in model["hosts"].values() if not h["gateway"]) == sites * hosts
    assert len(model["wan_links"]) == sites * (sites - 1) // 2


def test_the_real_machines_skeleton_is_refused_until_filled_in(tmp_path):
    proc, out = write(tmp_path, "--sites", "2", "--hosts-per-site", "1", "--real")
    assert proc.returncode == 0 and "fill in every CHANGE-ME" in proc.stdout, proc.stderr
    text = (out / "hosts.yml").read_text()
    assert "CHANGE-ME" in text and "emulated" not in text
    hostvars, groups, site_names = inventory.read_inventory(str(out), exe=ANSIBLE_INVENTORY, cwd=str(ROOT))
    errors = inventory.validate(inventory.build_model(hostvars, groups, site_names))
    assert any("vc_lan_ip 'CHANGE-ME' is not an IPv4 address" in e for e in errors), errors


def test_layout_names_and_addresses_are_unique_and_short():
    lay = inventory_gen.layout(15, 14, 1, net=100, name="scale")
    names = list(lay["hosts"]) + [v["name"] for v in lay["vnodes"]]
    assert len(names) == len(set(names))
    assert max(len(h) for h in lay["hosts"]) <= 12  # emulated hosts name interfaces
    for key in ("mgmt_ip", "lan_ip"):
        values = [h[key] for h in lay["hosts"].values()]
        assert len(values) == len(set(values))
    assert len({v["ip"] for v in lay["vnodes"]}) == len(lay["vnodes"])
    assert lay["overlay"] == "10.101.0.0/24" and lay["hosts"]["scaa-gw"]["mgmt_ip"] == "10.100.0.11"
    assert inventory_gen.layout(4, 8, 16, net=100)["overlay"] == "10.101.0.0/16"


@pytest.mark.parametrize("args, message", [
    (["--sites", "0", "--hosts-per-site", "1"], "--sites 0: give 1 to 15 sites"),
    (["--sites", "2", "--hosts-per-site", "20"], "--hosts-per-site 20: give 1 to 14"),
    (["--sites", "2", "--hosts-per-site", "1", "--name", "Bad_Name"], "--name 'Bad_Name': lower-case"),
    (["--sites", "2", "--hosts-per-site", "1", "--net", "254"], "--net 254: give 1 to 253"),
    (["--sites", "2", "--hosts-per-site", "1", "--vpn", "pptp"], "--vpn 'pptp': one of openvpn"),
])
def test_bad_parameters_are_refused_and_nothing_is_written(tmp_path, args, message):
    proc, out = write(tmp_path, *args)
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr
    assert not out.exists()


def test_a_directory_that_is_not_empty_is_refused(tmp_path):
    (tmp_path / "inv").mkdir()
    (tmp_path / "inv" / "hosts.yml").write_text("---\n")
    proc, _out = write(tmp_path, "--sites", "1", "--hosts-per-site", "1")
    assert proc.returncode != 0 and "is not empty" in proc.stderr
