"""Removing code snapshots and agent runtimes that no live job needs (library/sweepops_gc.py).

The live jobs' batch scripts (``squeue -h -o %o``, all users: the lab root may be shared) name
the snapshots they run; snapshot_store keeps those, what LATEST names and the newest, and this
removes the rest. Runs on the login host (standard library only, shipped as module_utils).
"""

from __future__ import annotations

import subprocess

from .module_spec import ModuleFailed, ModuleSpec, Params, Result
from .snapshot_store import collect, referenced, remove_tree


def parse_scripts(out: str) -> list[str]:
    """The batch script paths in ``squeue -h -o %o``'s output. A job submitted with
    ``--wrap`` (or from stdin) has a command, not a script path: left out."""
    return sorted({line.strip() for line in out.splitlines() if line.startswith("/")})


def live_scripts(squeue: str) -> list[str]:
    """The batch script paths of every live job (pending, running, suspended, ...)."""
    proc = subprocess.run(
        [squeue, "-h", "-o", "%o"], capture_output=True, text=True, timeout=120, check=False
    )
    if proc.returncode != 0:
        raise OSError(f"squeue failed ({proc.returncode}): {proc.stderr.strip()}")
    return parse_scripts(proc.stdout)


def read_scripts(paths: list[str], lab: str) -> list[str]:
    """The texts of the live jobs' scripts. One under the lab root that cannot be read
    fails (it may name a snapshot); others (another user's, elsewhere) are skipped."""
    texts = []
    for path in paths:
        try:
            with open(path, errors="replace") as fh:
                texts.append(fh.read())
        except OSError as exc:
            if path.startswith(lab + "/"):
                raise ModuleFailed(
                    f"cannot read {path}, the script of a live job, so nothing was removed: {exc}"
                ) from exc
    return texts


def gc(p: Params, check_mode: bool) -> Result:
    """The module: see SPEC."""
    lab = p["lab_root"].rstrip("/")
    if p["keep"] < 0:
        raise ModuleFailed("keep must be 0 or more")
    try:
        scripts = live_scripts(p["squeue"])
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ModuleFailed(
            f"cannot tell which jobs are live, so nothing was removed: {exc}"
        ) from exc
    remove, kept = collect(lab, p["keep"], referenced(lab, read_scripts(scripts, lab)))
    if not check_mode:
        for path in remove:
            try:
                remove_tree(path)
            except OSError as exc:
                raise ModuleFailed(f"cannot remove {path}: {exc}", removed=[], kept=kept) from exc
    return {"changed": bool(remove), "removed": remove, "kept": kept, "live_scripts": scripts}


SPEC = ModuleSpec(
    name="sweepops_gc",
    short_description="Remove code snapshots and agent runtimes no live job needs",
    description=(
        (
            "Every deploy leaves an immutable snapshot C(LAB/code/KEY) (and "
            "C(LAB/agent/KEY)); files shared with earlier snapshots are hard links, but "
            "each snapshot still costs one inode per file, which file-count quotas of "
            "cluster file systems count."
        ),
        (
            "Keeps, per kind, what C(LATEST) names, the I(keep) newest, and every "
            "snapshot that the batch script of a live job (C(squeue), all users: the lab "
            "root may be shared) names; removes the others. Fails, removing nothing, when"
            " Slurm cannot say which jobs are live or a live job's script under the lab "
            "root cannot be read."
        ),
        (
            "A removed snapshot can still be reproduced from its commit and stored diff "
            "(C(sweepops reproduce) rebuilds and syncs it again)."
        ),
        "In check mode nothing is removed; what would be is reported.",
    ),
    options={
        "lab_root": {
            "description": "The cluster's lab root.",
            "type": "path",
            "required": True,
        },
        "keep": {
            "description": (
                "How many of the newest snapshots of each kind to keep besides the others."
            ),
            "type": "int",
            "default": 5,
        },
        "squeue": {
            "description": "The squeue command.",
            "type": "str",
            "default": "squeue",
        },
    },
    returns={
        "removed": {
            "description": "Snapshot directories removed (or that would be, in check mode).",
            "returned": "always",
            "type": "list",
            "elements": "str",
        },
        "kept": {
            "description": "Each snapshot kept and why.",
            "returned": "always",
            "type": "dict",
        },
        "live_scripts": {
            "description": "The batch scripts of live jobs that were read.",
            "returned": "always",
            "type": "list",
            "elements": "str",
        },
    },
    examples="""
- name: Remove snapshots no live job needs, keeping the 3 newest
  sweepops_gc:
    lab_root: /srv/lab
    keep: 3
""",
)
