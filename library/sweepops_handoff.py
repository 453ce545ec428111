#!/usr/bin/python
"""Ansible module: the cluster side of ``sweepops sync`` (compute nodes without internet).

A shim: its spec and its code are sweepops/remote/handoff.py (standard library only), shipped
to the login host as module_utils (module_utils/sweepops_remote links to sweepops/remote/).
"""

from __future__ import annotations

# BEGIN DOCUMENTATION, generated from its spec sweepops.remote.handoff.SPEC:
# edit the spec, then run `python -m sweepops.ansible.docgen --write`.

DOCUMENTATION = r"""
module: sweepops_handoff
short_description: List or mark the offline runs of wandb sweeps that
  sweepops sync uploads
description:
  - Without I(mark), lists per sweep the runs that are done (finished,
    failed, stopped), have an offline C(.wandb) file under C(LAB/sweeps/ID/wandb/)
    and no synced marker; counts the unfinished and the already synced
    ones; says whether any of I(job_ids) is still live.
  - With I(mark), writes each run's marker C(run-RUNID.wandb.synced)
    (wandb's own) next to its C(.wandb) file; runs already marked
    are left alone.
options:
  lab_root:
    description: The cluster's lab root.
    type: path
    required: true
  sweep_ids:
    description: The sweeps to look at.
    type: list
    required: true
    elements: str
  job_ids:
    description: The Slurm jobs of these sweeps (to tell whether more
      runs may come).
    type: list
    default: []
    elements: str
  mark:
    description: Runs uploaded, each with C(sweep_id), C(run_id),
      C(dir) (as listed) and optionally C(url).
    type: list
    elements: dict
author: sweepops
"""

RETURN = r"""
sweeps:
  description: Per sweep id, C(runs) to upload (run_id, dir, state),
    C(synced), C(unfinished), C(no_data) (done runs that logged nothing
    to wandb).
  returned: when listing
  type: dict
live_jobs:
  description: How many of I(job_ids) (array tasks) are pending or
    running.
  returned: when listing
  type: int
includes:
  description: rsync C(--include) patterns (relative to C(LAB/sweeps/))
    that select exactly the listed runs' directories.
  returned: when listing
  type: list
  elements: str
marked:
  description: The run ids marked by this call.
  returned: when marking
  type: list
  elements: str
"""
# END DOCUMENTATION

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.sweepops_remote.handoff import SPEC, handoff
from ansible.module_utils.sweepops_remote.module_spec import run_module


def main() -> None:
    run_module(SPEC, handoff, AnsibleModule)


if __name__ == "__main__":
    main()
