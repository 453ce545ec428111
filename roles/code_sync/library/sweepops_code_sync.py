#!/usr/bin/python
"""Ansible module: (role code_sync) the cluster side of a snapshot sync, one call per step.

A shim: its spec and its code are sweepops/remote/code_sync.py (standard library only), shipped
to the login host as module_utils (module_utils/sweepops_remote links to sweepops/remote/).
"""

from __future__ import annotations

# BEGIN DOCUMENTATION, generated from its spec sweepops.remote.code_sync.SPEC:
# edit the spec, then run `python -m sweepops.ansible.docgen --write`.

DOCUMENTATION = r"""
module: sweepops_code_sync
short_description: Probe and finalise immutable snapshots under a
  cluster's lab root
description:
  - C(state=probe) (read-only but for stale leftovers) tells for each
    tree (C(LAB/KIND/KEY)) whether it is there and what C(LAB/KIND/LATEST)
    names, and removes C(.incoming-*) directories (interrupted syncs)
    of those kinds older than I(incoming_max_age).
  - C(state=present) renames each tree's incoming directory to C(LAB/KIND/KEY)
    (if another deploy got there first, theirs is kept and the incoming
    copy removed) and writes C(LAB/KIND/LATEST) atomically. A tree
    already in place is left alone.
  - In check mode nothing is removed, renamed or written; what would
    change is reported.
options:
  lab_root:
    description: The cluster's lab root (shared by login and compute
      nodes).
    type: path
    required: true
  state:
    description: C(probe) or C(present) (see the description).
    type: str
    default: probe
    choices:
      - probe
      - present
  trees:
    description: Trees, each with C(kind) (C(code) or C(agent)) and
      C(key).
    type: list
    required: true
    elements: dict
  incoming_max_age:
    description: Age (as ansible.builtin.find's C(age), e.g. C(1d),
      C(12h), C(3600)) from which leftover C(.incoming-*) directories
      are removed by C(state=probe).
    type: str
    default: 1d
  incoming_tag:
    description: 'Names the directory a tree is synced into, C(LAB/KIND/.incoming-KEY-TAG)
      (the deploy id and the login host: two syncs never share one).
      Required by C(state=present); with C(state=probe) the names
      are returned.'
    type: str
author: sweepops
"""

RETURN = r"""
trees:
  description: Per kind, C(present) (the snapshot directory exists),
    C(latest) (the stripped content of LATEST, empty when missing)
    and, given I(incoming_tag), C(incoming) (the directory to sync
    into).
  returned: state=probe
  type: dict
removed:
  description: Leftover C(.incoming-*) directories removed (or, in
    check mode, that would be).
  returned: state=probe
  type: list
  elements: str
placed:
  description: The snapshot directories renamed into place (or that
    would be, in check mode).
  returned: state=present
  type: list
  elements: str
"""
# END DOCUMENTATION

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.sweepops_remote.code_sync import SPEC, code_sync
from ansible.module_utils.sweepops_remote.module_spec import run_module


def main() -> None:
    run_module(SPEC, code_sync, AnsibleModule)


if __name__ == "__main__":
    main()
