"""The extra-vars each verb takes (plugins/module_utils/verbs.py)."""

import pytest

from ansible_collections.vcluster.cluster.plugins.module_utils import verbs

VNODES = ["vn-a1", "vn-a2", "vn-b1", "vn-b2"]
HOSTS = ["a-h1", "a-h2", "b-h1", "b-h2"]


def check(verb, **given):
    return verbs.check(verb, given, VNODES, HOSTS)


@pytest.mark.parametrize("verb, given", [
    ("restore", {"ckpt": "7"}), ("restore", {"ckpt": 7}), ("restore", {"ckpt": "latest"}), ("restore", {}),
    ("restore", {"vc_ft_placement": "random"}), ("deploy", {"gateway_rotate": True, "vc_recreate": "vn-a1"}),
    ("run", {"job": "heat", "params": {"steps": 10}, "np": "4", "vnodes": "vn-a1,vn-b1", "wait": "true",
             "timeout": "60"}),
    ("jobs", {"id": "3", "wait": True, "timeout": 30}), ("checkpoints", {"verify": "yes"}),
    ("migrate", {"vnode": "vn-a1", "to": "b-h1"}), ("requests", {"wait": "2.5", "out": "/tmp/r.json"}),
    ("plan", {"target": "0.999", "out": "plan.json"}), ("checkpoint", {"ansible_python_interpreter": "/x"}),
    ("nosuchverb", {"anything": 1}),
])
def test_good_extra_vars_pass(verb, given):
    assert check(verb, **given) == []


@pytest.mark.parametrize("verb, given, message", [
    ("restore", {"ckp": "7"}, "-e ckp: restore.yml takes ckpt; did you mean ckpt?"),
    ("restore", {"ckpt": "abc"}, "-e ckpt=abc: ckpt must be a checkpoint id (an integer >= 1) or latest"),
    ("restore", {"ckpt": "0"}, "-e ckpt=0: ckpt must be a checkpoint id (an integer >= 1) or latest"),
    ("restore", {"ckpt": "1.5"}, "-e ckpt=1.5: ckpt must be a checkpoint id (an integer >= 1) or latest"),
    ("checkpoint", {"ckpt": "3"}, "-e ckpt: checkpoint.yml takes no extra-var but the inventory's"),
    ("jobs", {"id": "-1"}, "-e id=-1: id must be a job id (an integer >= 1)"),
    ("jobs", {"wait": "maybe"}, "-e wait=maybe: wait must be true or false"),
    ("run", {"job": "heat", "np": "four"}, "-e np=four: np must be a number of ranks >= 1"),
    ("run", {"job": "heat", "params": "steps=3"},
     "-e params=steps=3: params must be a mapping, e.g. -e '{\"params\": {\"steps\": 100}}'"),
    ("run", {"job": "heat", "vnodes": "vn-a1,vn-x"},
     "-e vnodes=vn-a1,vn-x: vnodes must be vnodes of the inventory, comma-separated (vn-a1, vn-a2, vn-b1, vn-b2)"),
    ("run", {"job": "heat", "timout": "5"}, "-e timout: run.yml takes job, np, params, timeout, vnodes, wait; did you "
                                            "mean timeout?"),
    ("plan", {"target": "1"}, "-e target=1: target must be a probability between 0 and 1, e.g. 0.999"),
    ("plan", {"target": "nan"}, "-e target=nan: target must be a probability between 0 and 1, e.g. 0.999"),
    ("requests", {"wait": "-2"}, "-e wait=-2: wait must be a number of seconds >= 0"),
    ("checkpoints", {"verify": "2"}, "-e verify=2: verify must be true or false"),
])
def test_bad_extra_vars_get_one_line_each(verb, given, message):
    assert check(verb, **given) == [message]

