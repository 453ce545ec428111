"""The layout of an offline sweep directory, and making one from its meta atomically.

Standard library only: login hosts use it as Ansible module_utils
(module_utils/sweepops_sweep_layout.py links here) to create sweep directories before jobs
are submitted; the workstation uses it through ``OfflineSweep.create_from_meta``.
"""

from __future__ import annotations

import json
import os
from typing import Any

#: Sub-directories of a sweep directory.
SWEEP_SUBDIRS = ("runs", "params", "logs", "wandb", "agents")


def materialise(parent: str | os.PathLike[str], meta: dict[str, Any]) -> bool:
    """Create ``parent/ID`` (``sweep.json`` = ``meta``, its sub-directories, the lock file)
    under a temporary name and rename it into place, so agents never see half a sweep.
    False (and nothing touched) when the sweep is already there."""
    parent = os.fspath(parent)
    sweep_id = str(meta["id"])
    path = os.path.join(parent, sweep_id)
    if os.path.isfile(os.path.join(path, "sweep.json")):
        return False
    tmp = os.path.join(parent, f".{sweep_id}.creating")
    for sub in SWEEP_SUBDIRS:
        os.makedirs(os.path.join(tmp, sub), exist_ok=True)
    with open(os.path.join(tmp, "sweep.json.tmp"), "w") as fh:
        json.dump(meta, fh, indent=1, sort_keys=True)
    os.replace(os.path.join(tmp, "sweep.json.tmp"), os.path.join(tmp, "sweep.json"))
    open(os.path.join(tmp, "lock"), "a").close()
    try:
        os.replace(tmp, path)
    except OSError:
        if not os.path.isfile(os.path.join(path, "sweep.json")):
            raise
        return False  # created by someone else meanwhile
    return True
