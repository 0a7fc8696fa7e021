"""Options shared by the action plugins that drive the hosts' FT agents (ft_checkpoint, ft_restore)."""


class ModuleDocFragment:  # pylint: disable=too-few-public-methods
    DOCUMENTATION = r"""
options:
  cluster:
    description: The cluster's name.
    type: str
    required: true
  hosts:
    description: Per compute host, how to reach it and its paths (filter C(vcluster.cluster.vc_ft_ssh_hosts)).
    type: dict
    required: true
  emulated:
    description: The emulated hosts; one whose network namespace is gone is down and never contacted.
    type: list
    elements: str
    default: []
  vnodes:
    description: The model's vnodes C({name, host, ip}).
    type: list
    elements: dict
    required: true
  lease:
    description: Seconds an agent waits without a word from the controller before it acts alone.
    type: float
    required: true
  controller_dir:
    description: The controller's FT directory (its copy of the catalog goes to C(<controller_dir>/<cluster>/)).
    type: path
    required: true
attributes:
  diff_mode:
    support: none
    description: Nothing to show.
  platform:
    platforms: posix
    description: Runs on the controller; the hosts need SSH, Python 3, LXC, CRIU and rsync.
"""
