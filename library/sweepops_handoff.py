#!/usr/bin/python
"""Ansible module: the cluster side of ``sweepops sync`` (compute nodes without internet).

Runs on the login host (stdlib + the shipped module_utils ``sweepops_handoff``, which is
``sweepops/remote/handoff.py``, and ``sweepops_slurm``). Lists the offline runs of wandb sweeps that
are done and not uploaded yet, or marks uploaded runs so that no one uploads them again.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: sweepops_handoff
short_description: List or mark the offline runs of wandb sweeps that sweepops sync uploads
description:
  - Without I(mark), lists per sweep the runs that are done (finished, failed, stopped), have
    an offline C(.wandb) file under C(LAB/sweeps/ID/wandb/) and no synced marker; counts the
    unfinished and the already synced ones; says whether any of I(job_ids) is still live.
  - With I(mark), writes each run's marker C(run-RUNID.wandb.synced) (wandb's own) next to its
    C(.wandb) file; runs already marked are left alone.
options:
  lab_root:
    description: The cluster's lab root.
    type: path
    required: true
  sweep_ids:
    description: The sweeps to look at.
    type: list
    elements: str
    required: true
  job_ids:
    description: The Slurm jobs of these sweeps (to tell whether more runs may come).
    type: list
    elements: str
    default: []
  mark:
    description: Runs uploaded, each with C(sweep_id), C(run_id), C(dir) (as listed) and
      optionally C(url).
    type: list
    elements: dict
author: sweepops
"""

RETURN = r"""
sweeps:
  description: Per sweep id, C(runs) to upload (run_id, dir, state), C(synced), C(unfinished),
    C(no_data) (done runs that logged nothing to wandb).
  returned: when listing
  type: dict
live_jobs:
  description: How many of I(job_ids) (array tasks) are pending or running.
  returned: when listing
  type: int
includes:
  description: rsync C(--include) patterns (relative to C(LAB/sweeps/)) that select exactly
    the listed runs' directories.
  returned: when listing
  type: list
  elements: str
marked:
  description: The run ids marked by this call.
  returned: when marking
  type: list
  elements: str
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.sweepops_handoff import mark_synced, pending_runs
from ansible.module_utils.sweepops_slurm import FINAL_STATES, SlurmError, job_states


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "lab_root": {"type": "path", "required": True},
            "sweep_ids": {"type": "list", "elements": "str", "required": True},
            "job_ids": {"type": "list", "elements": "str", "default": []},
            "mark": {"type": "list", "elements": "dict"},
        },
        supports_check_mode=True,
    )
    p = module.params
    dirs = {sid: os.path.join(p["lab_root"], "sweeps", sid) for sid in p["sweep_ids"]}
    if p["mark"] is not None:
        marked = []
        for item in p["mark"]:
            sweep_dir = dirs.get(str(item.get("sweep_id")))
            if sweep_dir is None:
                module.fail_json(msg=f"run {item.get('run_id')}: sweep not among sweep_ids")
            info = {"url": item.get("url") or "", "sweep_id": item["sweep_id"]}
            try:
                if module.check_mode:
                    continue
                if mark_synced(sweep_dir, str(item["dir"]), str(item["run_id"]), info):
                    marked.append(str(item["run_id"]))
            except (OSError, ValueError, KeyError) as exc:
                module.fail_json(msg=f"cannot mark run {item.get('run_id')}: {exc}", marked=marked)
        module.exit_json(changed=bool(marked), marked=marked)
    try:
        # Jobs first: when none is live, the listing that follows is the final one.
        live = sum(
            1 for s in job_states(p["job_ids"]).values() if s.get("state") not in FINAL_STATES
        )
    except SlurmError as exc:
        module.fail_json(msg=str(exc))
    sweeps = {sid: pending_runs(d) for sid, d in dirs.items()}
    includes = []  # rsync filter rules that pull exactly those runs' directories
    for sid, found in sweeps.items():
        for run in found["runs"]:
            includes += [f"/{sid}/", f"/{sid}/wandb/", f"/{sid}/{run['dir']}/"]
            includes += [f"/{sid}/{run['dir']}/**"]
    includes = list(dict.fromkeys(includes))
    module.exit_json(changed=False, sweeps=sweeps, live_jobs=live, includes=includes)


if __name__ == "__main__":
    main()
