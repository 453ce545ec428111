#!/usr/bin/python
"""Ansible module: record what a deploy submitted, and say it (wrapper over
sweepops.records.ledger)."""

from __future__ import annotations

# BEGIN DOCUMENTATION, generated from its spec sweepops.ansible.steps.SPECS:
# edit the spec, then run `python -m sweepops.ansible.docgen --write`.

DOCUMENTATION = r"""
module: sweepops_record
short_description: Append a deploy's submissions to the experiment
  ledger and summarise them
description:
  - Appends one C(submitted) record per deploy to C(ROOT/.sweepops/ledger.jsonl)
    and writes C(ROOT/.sweepops/deploys/DEPLOY_ID/summary.json) and
    C(summary.txt).
  - Recording the same submissions again changes nothing.
options:
  root:
    description: The sweepops repository; omitted - nothing is recorded,
      only the job ids are returned (the fact C(sbatch_jobs)).
    type: path
  deploy_id:
    description: The deploy.
    type: str
    required: true
  clusters:
    description: Per cluster host, what was submitted there (login,
      lab_root, snapshot_dir, agent_dir, env_prefix, jobs).
    type: dict
  host:
    description: The cluster host whose submission is built from I(submission),
      I(checked) and I(submitted) (sweepops.core.records.submission_info).
    type: str
  submission:
    description: Where it was submitted - login, user, port, lab_root,
      snapshot_dir, agent_dir, env_prefix, container_image, shard,
      inventory_sources.
    type: dict
  checked:
    description: What the jobs were checked against - env_path, env_content_hash,
      env_digest, container_digest (and rebuilt).
    type: dict
  submitted:
    description: The C(sweepops_sbatch) results of the sweeps (their
      sweep_id and job_id).
    type: list
    elements: dict
  deploy:
    description: A deploy record appended to the ledger first when
      it is not there yet (a reproduction's).
    type: dict
  journal:
    description: Refresh the experiment journal's entry of the deploy.
    type: bool
    default: true
author: sweepops
"""

RETURN = r"""
summary:
  description: Lines saying, per sweep, its jobs per cluster and how
    to run one agent by hand.
  returned: always
  type: list
  elements: str
submission:
  description: The recorded entry of I(host).
  returned: when host is given
  type: dict
ansible_facts:
  description: C(sbatch_jobs) - sweep id -> job id of I(host).
  returned: when host is given
  type: dict
"""
# END DOCUMENTATION

from ansible.module_utils.sweepops_workstation import run_step


def main() -> None:
    # The step and its spec: sweepops.ansible.steps (also run in-process by
    # action_plugins/sweepops_record.py).
    run_step("sweepops_record")


if __name__ == "__main__":
    main()
