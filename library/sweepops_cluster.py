#!/usr/bin/python
"""Ansible module: progress of a deploy's sweeps on a cluster, and cancelling them.

A shim: its spec and its code are sweepops/remote/deploy_status.py (standard library only), shipped
to the login host as module_utils (module_utils/sweepops_remote links to sweepops/remote/).
"""

from __future__ import annotations

# BEGIN DOCUMENTATION, generated from its spec sweepops.remote.deploy_status.SPEC:
# edit the spec, then run `python -m sweepops.ansible.docgen --write`.

DOCUMENTATION = r"""
module: sweepops_cluster
short_description: Status or cancel of a sweepops deploy on a Slurm
  cluster
description:
  - Runs on the cluster's login host. Counts the runs of each of the
    deploy's offline sweeps by state (from their run records on the
    shared disk), lists the newest failed runs with the reason, and
    asks Slurm (squeue, then sacct) for the state of each job, with
    why a failed or pending one is so.
  - With C(action=cancel), marks each sweep C(cancelled) (agents claim
    no more runs) and scancels the live jobs (agents requeue their
    running runs); a deploy whose jobs have all ended is left alone.
    In check mode nothing is marked or cancelled.
  - With C(action=retry), marks the chosen runs of each sweep to be
    run again as new attempts (C(retry_failed), C(retry_lost), C(retry_runs))
    and submits the sweep's batch script again (C(sbatch_args) first)
    when it has runs waiting and its job (C(sweep_jobs)) is not live.
    In check mode nothing is marked or submitted.
options:
  action:
    description: What to do.
    type: str
    default: status
    choices:
      - status
      - cancel
      - retry
  lab_root:
    description: The cluster's lab root.
    type: path
    required: true
  sweep_ids:
    description: The deploy's sweeps.
    type: list
    required: true
    elements: str
  job_ids:
    description: The deploy's Slurm jobs on this cluster.
    type: list
    default: []
    elements: str
  deploy_id:
    description: The deploy (names its job logs' directory); without
      it no job log is read.
    type: str
    default: ''
  retry_failed:
    description: 'With C(action=retry): the failed runs.'
    type: bool
    default: false
  retry_lost:
    description: 'With C(action=retry): the lost runs, and running
      ones whose lease lapsed.'
    type: bool
    default: false
  retry_runs:
    description: 'With C(action=retry): these runs.'
    type: list
    default: []
    elements: str
  sweep_jobs:
    description: 'With C(action=retry): per sweep id, its job (as
      the ledger has it).'
    type: dict
    default: {}
  sbatch_args:
    description: 'With C(action=retry): sbatch options given before
      the script when it is submitted again (C(--mem=8G)), over its
      C(#SBATCH) lines.'
    type: list
    default: []
    elements: str
author: sweepops
"""

RETURN = r"""
sweeps:
  description: Per sweep id, the number of runs in each state, whether
    it is cancelled, and C(failed_runs) (the last 20 failed runs,
    each with C(id), C(log) and C(why), one line).
  returned: always
  type: dict
runs:
  description: Per sweep id, C(lapsed) (running runs whose lease lapsed),
    C(waiting) (runs waiting to be run again), C(unreadable) ({record
    path, why}) and C(loops) ({run id, interrupted attempts} of runs
    interrupted again and again), C(attempts) and C(excluded_nodes)
    ({node, why} of the nodes the sweep no longer uses).
  returned: always
  type: dict
jobs:
  description: Per job or array task, its Slurm state (squeue, sacct);
    a failed or pending one also has C(why) (one line, with the last
    error line of its log) and C(log); C(stale) on rows of live states
    when the controller did not answer (accounting's last word).
  returned: always
  type: dict
retried:
  description: 'With C(action=retry): per sweep id, C(marked) (runs
    to run again), C(waiting) (already waiting), C(refused) ({run
    id: why}), C(uncancelled).'
  returned: with action=retry
  type: dict
submitted:
  description: 'With C(action=retry): per sweep id, the job submitted
    again.'
  returned: with action=retry
  type: dict
controller_down:
  description: What squeue said when the Slurm controller did not
    answer, else null.
  returned: always
  type: str
"""
# END DOCUMENTATION

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.sweepops_remote.deploy_status import SPEC, status_or_cancel
from ansible.module_utils.sweepops_remote.module_spec import run_module


def main() -> None:
    run_module(SPEC, status_or_cancel, AnsibleModule)


if __name__ == "__main__":
    main()
