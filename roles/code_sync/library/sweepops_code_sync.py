#!/usr/bin/python
"""Ansible module (role code_sync): the cluster side of a snapshot sync, one call per step.

Runs on the login host with its own Python (standard library only). ``state=probe`` answers in
one round trip what used to take a stat per tree, a slurp of each LATEST and a find (and removes
what the find found); ``state=present`` renames synced trees into place and records LATEST.
"""

from __future__ import annotations

# (Imports first: ruff's E402 exemption for DOCUMENTATION-first modules covers library/ only.)
import os
import re
import shutil
import time
from typing import Any

from ansible.module_utils.basic import AnsibleModule

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

KINDS = ("code", "agent")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_age(text: str) -> float:
    match = re.fullmatch(r"\s*(-?\d+)\s*([smhdw]?)\s*", str(text).lower())
    if not match:
        raise ValueError(f"incoming_max_age {text!r}: use a number with s, m, h, d or w")
    return int(match.group(1)) * _UNITS[match.group(2)]


def read_latest(base: str) -> str:
    try:
        with open(os.path.join(base, "LATEST")) as fh:
            return fh.read().strip()
    except OSError:
        return ""


def stale_incoming(base: str, max_age: float, now: float) -> list[str]:
    """``.incoming-*`` directories of ``base`` as old as ``max_age`` (find's age semantics)."""
    out: list[str] = []
    try:
        entries = list(os.scandir(base))
    except OSError:
        return out
    for entry in entries:
        if not entry.name.startswith(".incoming-") or not entry.is_dir(follow_symlinks=False):
            continue
        age = now - entry.stat(follow_symlinks=False).st_mtime
        if (max_age >= 0 and age >= max_age) or (max_age < 0 and age <= -max_age):
            out.append(entry.path)
    return sorted(out)


def remove_tree(path: str) -> None:
    # Snapshot files are read-only; their directories are not: rmtree needs no chmod.
    shutil.rmtree(path)


def write_latest(base: str, key: str) -> None:
    tmp = os.path.join(base, f".LATEST.{os.getpid()}")
    with open(tmp, "w") as fh:
        fh.write(key + "\n")
    os.replace(tmp, os.path.join(base, "LATEST"))


def incoming_dir(lab: str, kind: str, key: str, tag: str) -> str:
    return os.path.join(lab, kind, f".incoming-{key}-{tag}")


def place(base: str, key: str, incoming: str) -> bool:
    """Rename ``incoming`` to ``base/key`` and record it as LATEST; False if already there."""
    final = os.path.join(base, key)
    if os.path.isdir(final):
        return False
    try:
        os.rename(incoming, final)
    except OSError:
        if not os.path.isdir(final):
            raise
        # another deploy renamed the same snapshot into place first: keep theirs
        remove_tree(incoming)
    write_latest(base, key)
    return True


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
    for tree in trees:
        if tree.get("kind") not in KINDS or not re.fullmatch(
            r"[0-9a-f]{8,64}", tree.get("key", "")
        ):
            module.fail_json(msg=f"bad tree {tree!r}: kind one of {KINDS}, key a hex hash")
    if tag is not None and ("/" in tag or not tag.strip()):
        module.fail_json(msg=f"incoming_tag {tag!r}: no '/' and not empty")

    if p["state"] == "probe":
        try:
            max_age = parse_age(p["incoming_max_age"])
        except ValueError as exc:
            module.fail_json(msg=str(exc))
        now = time.time()
        found: dict[str, dict[str, Any]] = {}
        stale: list[str] = []
        for kind in dict.fromkeys(t["kind"] for t in trees):
            base = os.path.join(lab, kind)
            found[kind] = {"latest": read_latest(base)}
            stale += stale_incoming(base, max_age, now)
        for tree in trees:
            kind, key = tree["kind"], tree["key"]
            found[kind]["present"] = os.path.isdir(os.path.join(lab, kind, key))
            if tag is not None:
                found[kind]["incoming"] = incoming_dir(lab, kind, key, tag)
        if not module.check_mode:
            for path in stale:
                try:
                    remove_tree(path)
                except OSError as exc:
                    module.fail_json(msg=f"cannot remove the leftover {path}: {exc}")
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
