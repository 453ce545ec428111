#!/usr/bin/python
"""Ansible module: stop a deploy unless every target host passed its checks (a thin wrapper
over sweepops.ops.deploy_plan.gate)."""

from __future__ import annotations

# BEGIN DOCUMENTATION, generated from its spec sweepops.ansible.steps.SPECS:
# edit the spec, then run `python -m sweepops.ansible.docgen --write`.

DOCUMENTATION = r"""
module: sweepops_deploy_gate
short_description: Stop a deploy unless every target host passed its
  checks
description:
  - Fails, before any sweep is created, when a target host did not
    pass the cluster checks (an unreachable host drops out of a play
    silently).
  - Returns per host what its probe found missing for C(wandb agent).
  - Changes nothing. Run as an action plugin, it reads I(checked)
    (each host's C(sweepops_checked)) and I(wandb_problems) (C(cluster_check_probe.wandb_problem))
    from C(hostvars) itself when they are not given.
options:
  hosts:
    description: The deploy's target hosts.
    type: list
    required: true
    elements: str
  checked:
    description: Per host, whether it passed its checks.
    type: dict
  wandb_problems:
    description: Per host, why its jobs could not run C(wandb agent)
      (empty when they can).
    type: dict
author: sweepops
"""

EXAMPLES = r"""
- name: Stop unless every cluster passed its checks
  sweepops_deploy_gate:
    hosts: "{{ sweepops_plan.host_list }}"
  register: sweepops_gate
"""

RETURN = r"""
wandb_problems:
  description: Per host, the probe's C(wandb_problem) ('' when there
    is none).
  returned: always
  type: dict
"""
# END DOCUMENTATION

from ansible.module_utils.sweepops_workstation import run_step


def main() -> None:
    # The step: sweepops.ansible.steps; its spec: sweepops.ansible.step_specs (also run
    # in-process by action_plugins/sweepops_deploy_gate.py).
    run_step("sweepops_deploy_gate")


if __name__ == "__main__":
    main()
