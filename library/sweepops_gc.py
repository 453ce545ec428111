#!/usr/bin/python
"""Ansible module: remove old code snapshots and agent runtimes from a cluster's lab root."""

from __future__ import annotations

DOCUMENTATION = r"""
module: sweepops_gc
short_description: Remove code snapshots and agent runtimes no live job needs
description:
  - Every deploy leaves an immutable snapshot C(LAB/code/KEY) (and C(LAB/agent/KEY)); files
    shared with earlier snapshots are hard links, but each snapshot still costs one inode per
    file, which file-count quotas of cluster file systems count.
  - Keeps, per kind, what C(LATEST) names, the I(keep) newest, and every snapshot that the
    batch script of a live job (C(squeue), all users: the lab root may be shared) names;
    removes the others. Fails, removing nothing, when Slurm cannot say which jobs are live or
    a live job's script under the lab root cannot be read.
  - A removed snapshot can still be reproduced from its commit and stored diff
    (C(sweepops reproduce) rebuilds and syncs it again).
  - In check mode nothing is removed; what would be is reported.
options:
  lab_root:
    description: The cluster's lab root.
    type: path
    required: true
  keep:
    description: How many of the newest snapshots of each kind to keep besides the others.
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
  description: Snapshot directories removed (or that would be, in check mode).
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

import subprocess

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.sweepops_snapshot_store import collect, referenced, remove_tree


def live_scripts(squeue: str) -> list[str]:
    """The batch script paths of every live job (pending, running, suspended, ...)."""
    proc = subprocess.run(
        [squeue, "-h", "-o", "%o"], capture_output=True, text=True, timeout=120, check=False
    )
    if proc.returncode != 0:
        raise OSError(f"squeue failed ({proc.returncode}): {proc.stderr.strip()}")
    return sorted({line.strip() for line in proc.stdout.splitlines() if line.startswith("/")})


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "lab_root": {"type": "path", "required": True},
            "keep": {"type": "int", "default": 5},
            "squeue": {"type": "str", "default": "squeue"},
        },
        supports_check_mode=True,
    )
    lab = module.params["lab_root"].rstrip("/")
    if module.params["keep"] < 0:
        module.fail_json(msg="keep must be 0 or more")
    try:
        scripts = live_scripts(module.params["squeue"])
    except (OSError, subprocess.TimeoutExpired) as exc:
        module.fail_json(msg=f"cannot tell which jobs are live, so nothing was removed: {exc}")
    texts = []
    for path in scripts:
        try:
            with open(path, errors="replace") as fh:
                texts.append(fh.read())
        except OSError as exc:
            if path.startswith(lab + "/"):
                module.fail_json(
                    msg=f"cannot read {path}, the script of a live job, so nothing was removed: "
                    f"{exc}"
                )
    remove, kept = collect(lab, module.params["keep"], referenced(lab, texts))
    if not module.check_mode:
        for path in remove:
            try:
                remove_tree(path)
            except OSError as exc:
                module.fail_json(msg=f"cannot remove {path}: {exc}", removed=[], kept=kept)
    module.exit_json(changed=bool(remove), removed=remove, kept=kept, live_scripts=scripts)


if __name__ == "__main__":
    main()
