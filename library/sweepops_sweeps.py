#!/usr/bin/python
"""Ansible module: create an experiment's sweeps (a thin wrapper over
sweepops.ops.create_sweeps)."""

from __future__ import annotations

# BEGIN DOCUMENTATION, generated from its spec sweepops.ansible.steps.SPECS:
# edit the spec, then run `python -m sweepops.ansible.docgen --write`.

DOCUMENTATION = r"""
module: sweepops_sweeps
short_description: Create the sweeps of a sweepops experiment
description:
  - Loads and validates the experiment file, then creates one sweep
    per (sub)test.
  - 'Idempotent by I(deploy_id): a deploy id already in the ledger
    returns its sweeps unchanged.'
  - In check mode nothing is created; the sweeps that would be created
    are returned.
options:
  exp:
    description: Experiment name (C(experiments/NAME)) or path.
    type: str
    required: true
  root:
    description: The sweepops repository (holds C(experiments/) and
      C(.sweepops/)).
    type: path
    required: true
  deploy_id:
    description: Id of this deploy; generated when omitted.
    type: str
  lab_root:
    description: Where the sweeps directories go (default C(ROOT/.sweepops/lab)).
    type: path
  default_agents:
    description: Agents per sweep when the experiment gives no C(_num_nodes).
    type: raw
    default: 2
  confirm_runs:
    description: The deploy's number of runs (or C(yes)), confirming
      a deploy of more runs than I(confirm_runs_above); empty for
      none.
    type: raw
  confirm_runs_above:
    description: More runs than this are refused before anything is
      made, unless I(confirm_runs) confirms them; empty for the default.
    type: raw
  clusters:
    description: Where the sweeps will run; C(local) makes their directories
      here.
    type: list
    default:
      - local
    elements: str
  backend:
    description: C(wandb), C(offline) or C(auto) (wandb when an API
      key is configured); default the experiment's C(sweep_backend),
      else auto.
    type: str
    choices:
      - wandb
      - offline
      - auto
  entity:
    description: wandb entity when the experiment names none (default
      the key's own).
    type: str
  project:
    description: wandb project when the experiment names none (default
      the experiment name).
    type: str
  base_url:
    description: wandb server (default C(WANDB_BASE_URL), else https://api.wandb.ai).
    type: str
  compute_internet:
    description: Per cluster host, whether its compute nodes reach
      the wandb server (C(true), C(false), C(auto) = as provisioning
      recorded). With wandb, the hosts without get the hand-off (offline
      agent, C(sweepops sync)); listed in the record's C(handoff).
    type: dict
  allow_duplicate:
    description: Create a new deploy even when an earlier one of the
      same experiment file at the same clean commit to the same clusters
      exists (it would run the grid again).
    type: bool
    default: false
  job_limits:
    description: Per Slurm cluster host, its C(time) and C(preempt_signal_seconds);
      a combination that would interrupt and requeue every attempt
      is refused.
    type: dict
  wandb_problems:
    description: Per cluster host, why its jobs could not run C(wandb
      agent) (the cluster probe's C(wandb_problem); empty when they
      can). With wandb, one for a host that runs C(wandb agent) refuses
      the deploy before a sweep is created.
    type: dict
  lab_roots:
    description: Per cluster host, its lab root; the result's C(hosts)
      then says per host what its jobs run (its sweeps with their
      C(dir) there, C(handoff), C(agent)).
    type: dict
author: sweepops
"""

RETURN = r"""
deploy:
  description: The deploy record (deploy_id, commit, sweeps with id,
    name, tags, agents, dir).
  returned: always
  type: dict
said:
  description: What the deploy says at its end - a line per sweep,
    the deploy, where to watch.
  returned: always
  type: list
  elements: str
hosts:
  description: Per host of I(lab_roots) - its C(sweeps) (each with
    its C(dir) there), C(handoff) and C(agent) (C(wandb) - the jobs
    run C(wandb agent); C(sweepops) - the offline agent's runtime).
  returned: when lab_roots is given
  type: dict
"""
# END DOCUMENTATION

from ansible.module_utils.sweepops_workstation import run_step


def main() -> None:
    # The step and its spec: sweepops.ansible.steps (also run in-process by
    # action_plugins/sweepops_sweeps.py).
    run_step("sweepops_sweeps")


if __name__ == "__main__":
    main()
