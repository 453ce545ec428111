#!/usr/bin/python
"""Ansible module: start a sweep's agents on this machine (wrapper over
sweepops.executors.local)."""

from __future__ import annotations

# BEGIN DOCUMENTATION, generated from its spec sweepops.ansible.steps.SPECS:
# edit the spec, then run `python -m sweepops.ansible.docgen --write`.

DOCUMENTATION = r"""
module: sweepops_local_agents
short_description: Start detached sweepops agents for an offline sweep
  on this machine
description:
  - Starts I(count) agents in their own session, logging to C(SWEEP_DIR/agents/).
  - 'Idempotent: a sweep whose agents were already started is left
    alone.'
options:
  sweep_dir:
    description: The sweep directory.
    type: path
    required: true
  count:
    description: Number of agents.
    type: int
    required: true
  code_dir:
    description: Directory the runs start in.
    type: path
    required: true
  agent_args:
    description: Extra arguments for C(sweepops agent).
    type: list
    default: []
    elements: str
  wandb_path:
    description: ENTITY/PROJECT/ID of a wandb sweep; the agents are
      then C(wandb agent).
    type: str
author: sweepops
"""

RETURN = r"""
agents:
  description: One record per agent (pid, log).
  returned: always
  type: list
  elements: dict
"""
# END DOCUMENTATION

from ansible.module_utils.sweepops_workstation import run_step


def main() -> None:
    # The step and its spec: sweepops.ansible.steps.
    run_step("sweepops_local_agents")


if __name__ == "__main__":
    main()
