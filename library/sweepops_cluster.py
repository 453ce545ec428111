#!/usr/bin/python
"""Ansible module: progress of a deploy's sweeps on a cluster, and cancelling them.

Runs on the login host (stdlib + the shipped ``sweepops_slurm`` module_utils, which is
``sweepops/slurm.py``). Reads the offline sweeps' run records on the shared disk and asks
Slurm (squeue, sacct) for the jobs' states; ``cancel`` marks the sweeps cancelled (agents
claim nothing more) and scancels the jobs (agents requeue their running runs).
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: sweepops_cluster
short_description: Status or cancel of a sweepops deploy on a Slurm cluster
options:
  action:
    description: What to do.
    type: str
    choices: [status, cancel]
    default: status
  lab_root:
    description: The cluster's lab root.
    type: path
    required: true
  sweep_ids:
    description: The deploy's sweeps.
    type: list
    elements: str
    required: true
  job_ids:
    description: The deploy's Slurm jobs on this cluster.
    type: list
    elements: str
    default: []
author: sweepops
"""

RETURN = r"""
sweeps:
  description: Per sweep id, the number of runs in each state, and whether it is cancelled.
  returned: always
  type: dict
runs:
  description: Per sweep id, C(lapsed) (running runs whose lease lapsed), C(waiting) (runs
    waiting to be run again), C(unreadable) ({record path, why}) and C(loops) ({run id,
    interrupted attempts} of runs interrupted again and again).
  returned: always
  type: dict
jobs:
  description: Per job or array task, its Slurm state (squeue, sacct); C(stale) on rows of
    live states when the controller did not answer (accounting's last word).
  returned: always
  type: dict
controller_down:
  description: What squeue said when the Slurm controller did not answer, else null.
  returned: always
  type: str
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.sweepops_slurm import SlurmError, cancel, job_states_checked
from ansible.module_utils.sweepops_sweep_layout import report


def sweep_progress(path: str) -> tuple[dict, dict]:
    """(runs per state with ``cancelled`` / ``missing``, and what status needs beyond the
    counts: lapsed leases, runs waiting, unreadable records, requeue loops)."""
    counts: dict = {"cancelled": os.path.exists(os.path.join(path, "cancelled"))}
    if not os.path.isdir(path):
        counts["missing"] = True
        return counts, {}
    found = report(path)
    counts.update(found.pop("states"))
    return counts, found


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "action": {"type": "str", "choices": ["status", "cancel"], "default": "status"},
            "lab_root": {"type": "path", "required": True},
            "sweep_ids": {"type": "list", "elements": "str", "required": True},
            "job_ids": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True,
    )
    p = module.params
    dirs = {sid: os.path.join(p["lab_root"], "sweeps", sid) for sid in p["sweep_ids"]}
    changed = False
    try:
        if p["action"] == "cancel":
            todo = [
                d
                for d in dirs.values()
                if os.path.isdir(d) and not os.path.exists(os.path.join(d, "cancelled"))
            ]
            live = {
                j: s
                for j, s in job_states_checked(p["job_ids"])[0].items()
                if s.get("state") in ("PENDING", "RUNNING", "REQUEUED", "SUSPENDED", "CONFIGURING")
            }
            changed = bool(todo or live)
            if not module.check_mode:
                for d in todo:
                    open(os.path.join(d, "cancelled"), "a").close()
                if live:
                    cancel(p["job_ids"])
        progress = {sid: sweep_progress(d) for sid, d in dirs.items()}
        jobs, controller_down = job_states_checked(p["job_ids"])
        module.exit_json(
            changed=changed,
            sweeps={sid: counts for sid, (counts, _) in progress.items()},
            runs={sid: found for sid, (_, found) in progress.items()},
            jobs=jobs,
            controller_down=controller_down,
        )
    except SlurmError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
