#!/usr/bin/python
"""Ansible module: remove old code snapshots and agent runtimes from a cluster's lab root.

A shim: its spec and its code are sweepops/remote/snapshot_gc.py (standard library only), shipped
to the login host as module_utils (module_utils/sweepops_remote links to sweepops/remote/).
"""

from __future__ import annotations

# BEGIN DOCUMENTATION, generated from its spec sweepops.remote.snapshot_gc.SPEC:
# edit the spec, then run `python -m sweepops.ansible.docgen --write`.

DOCUMENTATION = r"""
module: sweepops_gc
short_description: Remove code snapshots and agent runtimes no live
  job needs
description:
  - Every deploy leaves an immutable snapshot C(LAB/code/KEY) (and
    C(LAB/agent/KEY)); files shared with earlier snapshots are hard
    links, but each snapshot still costs one inode per file, which
    file-count quotas of cluster file systems count.
  - 'Keeps, per kind, what C(LATEST) names, the I(keep) newest, and
    every snapshot that the batch script of a live job (C(squeue),
    all users: the lab root may be shared) names; removes the others.
    Fails, removing nothing, when Slurm cannot say which jobs are
    live or a live job''s script under the lab root cannot be read.'
  - A removed snapshot can still be reproduced from its commit and
    stored diff (C(sweepops reproduce) rebuilds and syncs it again).
  - In check mode nothing is removed; what would be is reported.
options:
  lab_root:
    description: The cluster's lab root.
    type: path
    required: true
  keep:
    description: How many of the newest snapshots of each kind to
      keep besides the others.
    type: int
    default: 5
  squeue:
    description: The squeue command.
    type: str
    default: squeue
author: sweepops
"""

EXAMPLES = r"""
- name: Remove snapshots no live job needs, keeping the 3 newest
  sweepops_gc:
    lab_root: /srv/lab
    keep: 3
"""

RETURN = r"""
removed:
  description: Snapshot directories removed (or that would be, in
    check mode).
  returned: always
  type: list
  elements: str
kept:
  description: Each snapshot kept and why.
  returned: always
  type: dict
live_scripts:
  description: The batch scripts of live jobs that were read.
  returned: always
  type: list
  elements: str
"""
# END DOCUMENTATION

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.sweepops_remote.module_spec import run_module
from ansible.module_utils.sweepops_remote.snapshot_gc import SPEC, gc


def main() -> None:
    run_module(SPEC, gc, AnsibleModule)


if __name__ == "__main__":
    main()
