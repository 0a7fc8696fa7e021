"""The repository builds and installs as the collection vcluster.cluster
(galaxy.yml, meta/runtime.yml), not only through scripts/setup's symlink."""

import json
import os
import pathlib
import subprocess
import sys
import tarfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent


def test_collection_builds_installs_and_its_plugins_load(tmp_path):
    out, dest = tmp_path / "out", tmp_path / "collections"
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(out), str(ROOT)],
                   cwd=tmp_path, check=True, capture_output=True, text=True)
    (archive,) = out.glob("vcluster-cluster-*.tar.gz")
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert "MANIFEST.json" in names and "meta/runtime.yml" in names and "plugins/modules/vnode.py" in names
    assert not [n for n in names if n.startswith((".venv", ".collections", "tests/bad_inventories"))]
    # --force: Molecule installs the collection into ~/.ansible/collections (galaxy.yml), which counts as installed
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", "--no-deps", "--force", "-p", str(dest),
                    str(archive)], cwd=tmp_path, check=True, capture_output=True, text=True)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(dest))
    doc = subprocess.run([str(BIN / "ansible-doc"), "-t", "module", "vcluster.cluster.ft_restore"], cwd=tmp_path,
                         env=env, check=True, capture_output=True, text=True).stdout
    assert str(dest / "ansible_collections" / "vcluster" / "cluster" / "plugins" / "modules") in doc
    filters = subprocess.run([str(BIN / "ansible-doc"), "-t", "filter", "-l", "vcluster.cluster"], cwd=tmp_path,
                             env=env, check=True, capture_output=True, text=True)
    assert "vcluster.cluster.vc_path_vnodes" in filters.stdout, filters.stdout + filters.stderr
    # Every module's and role's documentation parses (ansible-lint only prints an error for a module whose
    # DOCUMENTATION is not YAML, and passes).
    modules = sorted("vcluster.cluster." + p.stem for p in (ROOT / "plugins" / "modules").glob("*.py"))
    docs = subprocess.run([str(BIN / "ansible-doc"), "-j", "-t", "module", *modules], cwd=tmp_path, env=env,
                          capture_output=True, text=True, check=False)
    assert docs.returncode == 0, docs.stderr[-3000:]
    assert sorted(json.loads(docs.stdout)) == modules
    roles = sorted("vcluster.cluster." + p.name for p in (ROOT / "roles").iterdir() if (p / "meta").is_dir())
    docs = subprocess.run([str(BIN / "ansible-doc"), "-j", "-t", "role", *roles], cwd=tmp_path, env=env,
                          capture_output=True, text=True, check=False)
    assert docs.returncode == 0, docs.stderr[-3000:]
    assert sorted(json.loads(docs.stdout)) == roles
