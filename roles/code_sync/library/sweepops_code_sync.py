#!/usr/bin/python
"""Ansible module (role code_sync): the cluster side of a snapshot sync, one call per step.

Runs on the login host with its own Python (standard library only). ``state=probe`` answers in
one round trip what used to take a stat per tree, a slurp of each LATEST and a find (and removes
what the find found); ``state=present`` renames synced trees into place and records LATEST.
"""

from __future__ import annotations

# (Imports first: ruff's E402 exemption for DOCUMENTATION-first modules covers library/ only.)
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.sweepops_snapshot_store import (
    check_trees,
    incoming_dir,
    parse_age,
    place,
    probe,
)

DOCUMENTATION = r"""
module: sweepops_code_sync
short_description: Probe and finalise immutable snapshots under a cluster's lab root
description:
  - C(state=probe) (read-only but for stale leftovers) tells for each tree (C(LAB/KIND/KEY))
    whether it is there and what C(LAB/KIND/LATEST) names, and removes C(.incoming-*)
    directories (interrupted syncs) of those kinds older than I(incoming_max_age).
  - C(state=present) renames each tree's incoming directory to C(LAB/KIND/KEY) (if another
    deploy got there first, theirs is kept and the incoming copy removed) and writes
    C(LAB/KIND/LATEST) atomically. A tree already in place is left alone.
  - In check mode nothing is removed, renamed or written; what would change is reported.
options:
  lab_root:
    description: The cluster's lab root (shared by login and compute nodes).
    type: path
    required: true
  state:
    description: C(probe) or C(present) (see the description).
    type: str
    choices: [probe, present]
    default: probe
  trees:
    description: Trees, each with C(kind) (C(code) or C(agent)) and C(key).
    type: list
    elements: dict
    required: true
  incoming_tag:
    description: Names the directory a tree is synced into, C(LAB/KIND/.incoming-KEY-TAG)
      (the deploy id and the login host: two syncs never share one). Required by
      C(state=present); with C(state=probe) the names are returned.
    type: str
  incoming_max_age:
    description: Age (as ansible.builtin.find's C(age), e.g. C(1d), C(12h), C(3600)) from which
      leftover C(.incoming-*) directories are removed by C(state=probe).
    type: str
    default: 1d
author: sweepops
"""

RETURN = r"""
trees:
  description: Per kind, C(present) (the snapshot directory exists), C(latest) (the stripped
    content of LATEST, empty when missing) and, given I(incoming_tag), C(incoming) (the
    directory to sync into).
  returned: state=probe
  type: dict
removed:
  description: Leftover C(.incoming-*) directories removed (or, in check mode, that would be).
  returned: state=probe
  type: list
  elements: str
placed:
  description: The snapshot directories renamed into place (or that would be, in check mode).
  returned: state=present
  type: list
  elements: str
"""


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "lab_root": {"type": "path", "required": True},
            "state": {"type": "str", "choices": ["probe", "present"], "default": "probe"},
            "trees": {"type": "list", "elements": "dict", "required": True},
            "incoming_max_age": {"type": "str", "default": "1d"},
            "incoming_tag": {"type": "str"},
        },
        required_if=[("state", "present", ("incoming_tag",))],
        supports_check_mode=True,
    )
    p = module.params
    lab = p["lab_root"]
    trees = p["trees"]
    tag = p["incoming_tag"]
    problem = check_trees(trees, tag)
    if problem:
        module.fail_json(msg=problem)

    if p["state"] == "probe":
        try:
            max_age = parse_age(p["incoming_max_age"])
        except ValueError as exc:
            module.fail_json(msg=str(exc))
        try:
            found, stale = probe(lab, trees, tag, max_age, remove=not module.check_mode)
        except OSError as exc:
            module.fail_json(msg=str(exc))
        module.exit_json(changed=bool(stale), trees=found, removed=stale)

    placed = []
    for tree in trees:
        base = os.path.join(lab, tree["kind"])
        final = os.path.join(base, tree["key"])
        incoming = incoming_dir(lab, tree["kind"], tree["key"], tag)
        if module.check_mode:
            if not os.path.isdir(final):
                placed.append(final)
            continue
        try:
            if place(base, tree["key"], incoming):
                placed.append(final)
        except OSError as exc:
            module.fail_json(msg=f"cannot put {incoming} into place as {final}: {exc}")
    module.exit_json(changed=bool(placed), placed=placed)


if __name__ == "__main__":
    main()
