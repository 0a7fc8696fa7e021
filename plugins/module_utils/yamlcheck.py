"""Lint an inventory's variable files before Ansible reads them.

Ansible reports a YAML error in group_vars or host_vars without the file or
the line ("YAML parsing failed: Mapping values are not allowed in this
context."). The vars plugin vcluster.cluster.inventory_lint runs this over
<inventory>/group_vars and <inventory>/host_vars first, so the message names
the file, the line and the fix. Standard library and PyYAML only.
"""

import os

import yaml

EXTENSIONS = ("", ".yml", ".yaml", ".json")


class _Loader(yaml.SafeLoader):  # pylint: disable=too-many-ancestors
    """A safe loader that refuses a key given twice in one mapping."""


def _mapping(loader, node, deep=False):
    seen = {}
    for key_node, _value in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None,
                    "the key %r is given twice (first on line %d); Ansible keeps only the last one: remove one"
                    % (key, seen[key] + 1), key_node.start_mark)
            seen[key] = key_node.start_mark.line
        except TypeError:  # an unhashable key: the constructor below reports it
            pass
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
# Ansible's !vault and !unsafe values are opaque strings here.
_Loader.add_constructor("!vault", lambda loader, node: "")
_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def check_text(text, name):
    """The problems of one YAML file's ``text`` (one line each, naming
    ``name`` and the line), [] when it is fine."""
    for number, line in enumerate(text.splitlines(), 1):
        indent = line[:len(line) - len(line.lstrip(" \t"))]
        if "\t" in indent and line.strip() and not line.lstrip().startswith("#"):
            return ["%s line %d: a tab in the indentation; YAML indents with spaces only: replace it by spaces"
                    % (name, number)]
    try:
        list(yaml.load_all(text, Loader=_Loader))  # noqa: S506 (a SafeLoader subclass)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = "%s line %d column %d" % (name, mark.line + 1, mark.column + 1) if mark else name
        what = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        fix = "" if ";" in what else "; fix the YAML there (indent with spaces, quote values with ': ' or '#' in them)"
        return ["%s: %s%s" % (where, what, fix)]
    except yaml.YAMLError as exc:
        return ["%s: %s" % (name, str(exc).splitlines()[0])]
    return []


def variable_files(inventory_dir):
    """The files Ansible reads as variables of ``inventory_dir``:
    group_vars/<group>[.yml|.yaml|.json] and host_vars/<host>..., and every
    file under such a directory (sorted, hidden files left out)."""
    out = []
    for kind in ("group_vars", "host_vars"):
        top = os.path.join(inventory_dir, kind)
        if not os.path.isdir(top):
            continue
        for entry in sorted(os.listdir(top)):
            path = os.path.join(top, entry)
            if entry.startswith("."):
                continue
            if os.path.isdir(path):
                for root, dirs, files in os.walk(path):
                    dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                    out += [os.path.join(root, f) for f in sorted(files)
                            if not f.startswith(".") and os.path.splitext(f)[1] in EXTENSIONS]
            elif os.path.splitext(entry)[1] in EXTENSIONS:
                out.append(path)
    return out


def shown(path, cwd=None):
    """``path`` as a message shows it: relative to the working directory
    when it is under it (inventories/x/group_vars/all.yml)."""
    rel = os.path.relpath(path, cwd or os.getcwd())
    return path if rel.startswith("..") else rel


def check_inventory_dir(inventory_dir, cwd=None):
    """The problems of every variable file of ``inventory_dir``."""
    problems = []
    for path in variable_files(inventory_dir):
        name = shown(path, cwd)
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as exc:
            problems.append("%s: cannot be read (%s)" % (name, exc))
            continue
        if text.startswith("$ANSIBLE_VAULT"):
            continue  # a vaulted file: Ansible decrypts and reads it
        problems += check_text(text, name)
    return problems
