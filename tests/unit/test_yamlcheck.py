"""Linting an inventory's variable files (plugins/module_utils/yamlcheck.py)."""

import pathlib

from ansible_collections.vcluster.cluster.plugins.module_utils import yamlcheck as Y

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_good_files_pass():
    assert Y.check_text("---\na: 1\nb:\n  - x\n  - y\n", "f.yml") == []
    assert Y.check_text("# only a comment\n", "f.yml") == []
    assert Y.check_text("a: !unsafe '{{ x }}'\nb: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  3338\n", "f.yml") == []
    assert Y.check_text("a: 'tab\tin a value'\n", "f.yml") == []
    for inventory in ("inventories/local", "inventories/example", "molecule/host/inventory"):
        assert Y.check_inventory_dir(str(ROOT / inventory)) == [], inventory


def test_a_tab_in_the_indentation_names_the_line():
    assert Y.check_text("a:\n  b: 1\n\tc: 2\n", "g/all.yml") == [
        "g/all.yml line 3: a tab in the indentation; YAML indents with spaces only: replace it by spaces"]


def test_a_bad_indent_names_line_and_column():
    (msg,) = Y.check_text("a: 1\n  b: 2\n", "g/all.yml")
    assert msg.startswith("g/all.yml line 2 column 4: mapping values are not allowed here; fix the YAML there")


def test_a_key_given_twice_names_both_lines():
    (msg,) = Y.check_text("a: 1\nb: 2\na: 3\n", "g/all.yml")
    assert msg == "g/all.yml line 3 column 1: the key 'a' is given twice (first on line 1); Ansible keeps only the " \
                  "last one: remove one"
    assert Y.check_text("a: {x: 1}\nb: {x: 2}\n", "f") == []  # the same key in two mappings


def test_the_files_ansible_reads_and_only_those(tmp_path):
    for rel in ("group_vars/all/ft.yml", "group_vars/all/.hidden.yml", "group_vars/site_a.yaml",
                "group_vars/emulated", "host_vars/h1/x.json", "group_vars/all/notes.txt", "hosts.yml"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("a:\n\tb: 1\n")
    found = [str(pathlib.Path(p).relative_to(tmp_path)) for p in Y.variable_files(str(tmp_path))]
    assert found == ["group_vars/all/ft.yml", "group_vars/emulated", "group_vars/site_a.yaml", "host_vars/h1/x.json"]
    problems = Y.check_inventory_dir(str(tmp_path), cwd=str(tmp_path))
    assert [p.split(" line ")[0] for p in problems] == found
    (tmp_path / "group_vars" / "all" / "ft.yml").write_text("$ANSIBLE_VAULT;1.1;AES256\n6162\n")
    assert len(Y.check_inventory_dir(str(tmp_path), cwd=str(tmp_path))) == 3  # a vaulted file is Ansible's


def test_a_path_outside_the_working_directory_is_shown_whole(tmp_path):
    assert Y.shown("/etc/x/group_vars/all.yml", cwd=str(tmp_path)) == "/etc/x/group_vars/all.yml"
    assert Y.shown(str(tmp_path / "inv" / "a.yml"), cwd=str(tmp_path)) == "inv/a.yml"
