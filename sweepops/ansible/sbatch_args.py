"""What the sbatch role's submission step (action_plugins/sweepops_sbatch.py) checks of its
arguments on the workstation, before anything is rendered or sent."""

from __future__ import annotations

from typing import Any

#: The message of a submission step given no sweeps, a sweep without id or dir, or no lab root.
BAD_SWEEPS = (
    "sbatch_sweeps needs items with id, name, dir (and agents); sbatch_lab_root must be set"
)


def sweeps_problem(sweeps: Any, lab_root: Any) -> str | None:
    """:data:`BAD_SWEEPS` when ``sweeps`` is not a non-empty list of mappings each with an
    ``id`` and a ``dir``, or ``lab_root`` is empty; else None."""
    if not isinstance(sweeps, list) or not sweeps or not str(lab_root or ""):
        return BAD_SWEEPS
    for sweep in sweeps:
        if not isinstance(sweep, dict) or "id" not in sweep or "dir" not in sweep:
            return BAD_SWEEPS
    return None
