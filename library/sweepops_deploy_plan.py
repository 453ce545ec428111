#!/usr/bin/python
"""Ansible module: what a deploy does where (a thin wrapper over sweepops.ops.deploy_plan)."""

from __future__ import annotations

# BEGIN DOCUMENTATION, generated from its spec sweepops.ansible.steps.SPECS:
# edit the spec, then run `python -m sweepops.ansible.docgen --write`.

DOCUMENTATION = r"""
module: sweepops_deploy_plan
short_description: Plan a deploy - its target hosts and what each
  of them does
description:
  - Names the hosts C(clusters=) asks for (in the order of Ansible's
    pattern), and fails on an empty or unknown C(clusters=) or a missing
    C(exp=) before anything runs.
  - Per host, from its inventory settings - its scheduler, its share
    C(I/K) of every sweep when the deploy spans several hosts, the
    env path the drift check fingerprints, its job limits and whether
    its compute nodes reach the internet.
  - Changes nothing. Run as an action plugin, it reads each target
    host's settings from C(hostvars) itself when I(settings) is not
    given.
options:
  clusters:
    description: The C(clusters=) value, comma separated; default
      C(local).
    type: str
  groups:
    description: The inventory's groups (Ansible's C(groups)).
    type: dict
    required: true
  settings:
    description: Per target host, its inventory settings (scheduler,
      lab_root, time, ...).
    type: dict
  exp:
    description: The C(exp=) value; an empty one is refused (not given
      - not checked).
    type: str
author: sweepops
"""

EXAMPLES = r"""
- name: Plan the deploy
  sweepops_deploy_plan:
    clusters: "{{ clusters | default(omit) }}"
    groups: "{{ groups }}"
    exp: "{{ exp | default('') }}"
"""

RETURN = r"""
ansible_facts:
  description: C(sweepops_plan) - targets, host_list, hosts (host
    -> scheduler, shard, lab_root, env_path, compute_internet, job_limits,
    slurm), slurm, lab_roots, compute_internet, job_limits and sweeps
    (the first host's sweep settings).
  returned: always
  type: dict
"""
# END DOCUMENTATION

from ansible.module_utils.sweepops_workstation import run_step


def main() -> None:
    # The step: sweepops.ansible.steps; its spec: sweepops.ansible.step_specs (also run
    # in-process by action_plugins/sweepops_deploy_plan.py).
    run_step("sweepops_deploy_plan")


if __name__ == "__main__":
    main()
