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
    description: The sweepops repository.
    type: path
    required: true
  deploy_id:
    description: The deploy.
    type: str
    required: true
  clusters:
    description: Per cluster host, what was submitted there (login,
      lab_root, snapshot_dir, agent_dir, env_prefix, jobs).
    type: dict
    required: true
author: sweepops
"""

RETURN = r"""
summary:
  description: Lines saying, per sweep, its jobs per cluster and how
    to run one agent by hand.
  returned: always
  type: list
  elements: str
"""
# END DOCUMENTATION

from ansible.module_utils.sweepops_workstation import run_step


def main() -> None:
    # The step and its spec: sweepops.ansible.steps (also run in-process by
    # action_plugins/sweepops_record.py).
    run_step("sweepops_record")


if __name__ == "__main__":
    main()
