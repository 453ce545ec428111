#!/usr/bin/python
"""Ansible module: progress of a deploy's sweeps on a cluster, and cancelling them.

Runs on the login host (stdlib + the shipped ``sweepops_slurm`` module_utils, which is
``sweepops/remote/slurm.py``). Reads the offline sweeps' run records on the shared disk and asks
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
  deploy_id:
    description: The deploy (names its job logs' directory); without it no job log is read.
    type: str
    default: ""
author: sweepops
"""

RETURN = r"""
sweeps:
  description: Per sweep id, the number of runs in each state, whether it is cancelled, and
    C(failed_runs) (the last 20 failed runs, each with C(id), C(log) and C(why), one line).
  returned: always
  type: dict
runs:
  description: Per sweep id, C(lapsed) (running runs whose lease lapsed), C(waiting) (runs
    waiting to be run again), C(unreadable) ({record path, why}) and C(loops) ({run id,
    interrupted attempts} of runs interrupted again and again).
  returned: always
  type: dict
jobs:
  description: Per job or array task, its Slurm state (squeue, sacct); a failed or pending
    one also has C(why) (one line, with the last error line of its log) and C(log);
    C(stale) on rows of live states when the controller did not answer (accounting's last
    word).
  returned: always
  type: dict
controller_down:
  description: What squeue said when the Slurm controller did not answer, else null.
  returned: always
  type: str
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.sweepops_failures import (
    FAILED_JOB_STATES,
    FAILED_RUN_STATES,
    job_log_path,
    job_reason,
    read_tail,
    run_reason,
)
from ansible.module_utils.sweepops_slurm import SlurmError, cancel, job_states_checked
from ansible.module_utils.sweepops_sweep_layout import read_records, report

#: Failed runs reported per sweep (the newest).
MAX_FAILED_RUNS = 20

LIVE_STATES = ("PENDING", "RUNNING", "REQUEUED", "SUSPENDED", "CONFIGURING")


def sweep_progress(path: str) -> tuple[dict, dict]:
    """(runs per state with ``cancelled`` / ``missing``, and what status needs beyond the
    counts: lapsed leases, runs waiting, unreadable records, requeue loops)."""
    counts: dict = {"cancelled": os.path.exists(os.path.join(path, "cancelled"))}
    if not os.path.isdir(path):
        counts["missing"] = True
        return counts, {}
    records, unreadable = read_records(path)
    found = report(path, records=(records, unreadable))
    counts.update(found.pop("states"))
    failed = sorted(
        (r for r in records if r.get("state") in FAILED_RUN_STATES),
        key=lambda r: float(r.get("ended") or 0),
    )
    counts["failed_runs"] = [
        {
            "id": rec.get("id"),
            "log": rec.get("log"),
            "why": run_reason(rec, read_tail(rec["log"]) if rec.get("log") else ""),
        }
        for rec in failed[-MAX_FAILED_RUNS:]
    ]
    return counts, found


def explain_jobs(jobs: dict, lab_root: str, deploy_id: str) -> dict:
    """Each failed or pending job with ``why`` (one line) and its ``log``."""
    for job, row in jobs.items():
        log = job_log_path(lab_root, deploy_id, job) if deploy_id else None
        ended = row.get("state") in FAILED_JOB_STATES or row.get("state") == "COMPLETED"
        why = job_reason(row, read_tail(log) if log and ended else "")
        if why:
            row["why"] = why
        if log:
            row["log"] = log
    return jobs


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "action": {"type": "str", "choices": ["status", "cancel"], "default": "status"},
            "lab_root": {"type": "path", "required": True},
            "sweep_ids": {"type": "list", "elements": "str", "required": True},
            "job_ids": {"type": "list", "elements": "str", "default": []},
            "deploy_id": {"type": "str", "default": ""},
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
                if s.get("state") in LIVE_STATES
            }
            # A deploy whose jobs have all ended is over, not cancelled: mark nothing.
            todo = todo if live else []
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
            jobs=explain_jobs(jobs, p["lab_root"], p["deploy_id"]),
            controller_down=controller_down,
        )
    except SlurmError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
