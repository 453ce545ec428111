"""The cluster side of a snapshot sync (roles/code_sync/library/sweepops_code_sync.py), one
call per step: ``state=probe`` answers in one round trip what is there (and removes stale
leftovers), ``state=present`` renames synced trees into place and records LATEST. Runs on the
login host (standard library only, shipped as module_utils); the tree layout is
snapshot_store's.
"""

from __future__ import annotations

import os

from .module_spec import ModuleFailed, ModuleSpec, Params, Result
from .snapshot_store import check_trees, incoming_dir, parse_age, place, probe


def put_in_place(lab: str, trees: list[dict[str, str]], tag: str, check_mode: bool) -> list[str]:
    """Rename each tree's incoming directory to LAB/KIND/KEY; the directories placed (or
    that would be, in check mode: those not there yet)."""
    placed = []
    for tree in trees:
        base = os.path.join(lab, tree["kind"])
        final = os.path.join(base, tree["key"])
        incoming = incoming_dir(lab, tree["kind"], tree["key"], tag)
        if check_mode:
            if not os.path.isdir(final):
                placed.append(final)
            continue
        try:
            if place(base, tree["key"], incoming):
                placed.append(final)
        except OSError as exc:
            raise ModuleFailed(f"cannot put {incoming} into place as {final}: {exc}") from exc
    return placed


def code_sync(p: Params, check_mode: bool) -> Result:
    """The module: see SPEC."""
    problem = check_trees(p["trees"], p["incoming_tag"])
    if problem:
        raise ModuleFailed(problem)
    if p["state"] == "present":
        placed = put_in_place(p["lab_root"], p["trees"], p["incoming_tag"], check_mode)
        return {"changed": bool(placed), "placed": placed}
    try:
        max_age = parse_age(p["incoming_max_age"])
    except ValueError as exc:
        raise ModuleFailed(str(exc)) from exc
    try:
        found, stale = probe(
            p["lab_root"], p["trees"], p["incoming_tag"], max_age, remove=not check_mode
        )
    except OSError as exc:
        raise ModuleFailed(str(exc)) from exc
    return {"changed": bool(stale), "trees": found, "removed": stale}


SPEC = ModuleSpec(
    name="sweepops_code_sync",
    short_description="Probe and finalise immutable snapshots under a cluster's lab root",
    description=(
        (
            "C(state=probe) (read-only but for stale leftovers) tells for each tree "
            "(C(LAB/KIND/KEY)) whether it is there and what C(LAB/KIND/LATEST) names, and"
            " removes C(.incoming-*) directories (interrupted syncs) of those kinds older"
            " than I(incoming_max_age)."
        ),
        (
            "C(state=present) renames each tree's incoming directory to C(LAB/KIND/KEY) "
            "(if another deploy got there first, theirs is kept and the incoming copy "
            "removed) and writes C(LAB/KIND/LATEST) atomically. A tree already in place "
            "is left alone."
        ),
        "In check mode nothing is removed, renamed or written; what would change is reported.",
    ),
    options={
        "lab_root": {
            "description": "The cluster's lab root (shared by login and compute nodes).",
            "type": "path",
            "required": True,
        },
        "state": {
            "description": "C(probe) or C(present) (see the description).",
            "type": "str",
            "choices": ["probe", "present"],
            "default": "probe",
        },
        "trees": {
            "description": "Trees, each with C(kind) (C(code) or C(agent)) and C(key).",
            "type": "list",
            "elements": "dict",
            "required": True,
        },
        "incoming_max_age": {
            "description": (
                "Age (as ansible.builtin.find's C(age), e.g. C(1d), C(12h), C(3600)) from"
                " which leftover C(.incoming-*) directories are removed by "
                "C(state=probe)."
            ),
            "type": "str",
            "default": "1d",
        },
        "incoming_tag": {
            "description": (
                "Names the directory a tree is synced into, C(LAB/KIND/.incoming-KEY-TAG)"
                " (the deploy id and the login host: two syncs never share one). Required"
                " by C(state=present); with C(state=probe) the names are returned."
            ),
            "type": "str",
        },
    },
    returns={
        "trees": {
            "description": (
                "Per kind, C(present) (the snapshot directory exists), C(latest) (the "
                "stripped content of LATEST, empty when missing) and, given "
                "I(incoming_tag), C(incoming) (the directory to sync into)."
            ),
            "returned": "state=probe",
            "type": "dict",
        },
        "removed": {
            "description": (
                "Leftover C(.incoming-*) directories removed (or, in check mode, that would be)."
            ),
            "returned": "state=probe",
            "type": "list",
            "elements": "str",
        },
        "placed": {
            "description": (
                "The snapshot directories renamed into place (or that would be, in check mode)."
            ),
            "returned": "state=present",
            "type": "list",
            "elements": "str",
        },
    },
    required_if=(("state", "present", ("incoming_tag",)),),
)
