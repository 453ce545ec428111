#!/usr/bin/python
"""Ansible module: what the code_sync role rsyncs (a thin wrapper over
sweepops.artifacts.sync_plan)."""

from __future__ import annotations

# BEGIN DOCUMENTATION, generated from its spec sweepops.ansible.steps.SPECS:
# edit the spec, then run `python -m sweepops.ansible.docgen --write`.

DOCUMENTATION = r"""
module: sweepops_code_sync_plan
short_description: Plan the code_sync role's rsync of the snapshot
  and the agent's runtime
description:
  - Names the snapshot's directories on the cluster (C(LAB/code/KEY),
    C(LAB/agent/KEY)) and the trees the cluster probe looks for.
  - Given what the probe found (I(present)), gives per missing tree
    the synchronize arguments (hard links to earlier trees, read-only
    files, Ansible's ControlMaster joined) and the trees to rename
    into place.
  - Sets the facts C(code_sync_plan), C(code_sync_snapshot_dir), C(code_sync_agent_dir)
    and C(code_sync_result). Changes nothing.
options:
  lab_root:
    description: The lab root on the cluster.
    type: str
    required: true
  snapshot:
    description: The sweepops_snapshot result the play has already
      (empty - use I(computed)).
    type: dict
  computed:
    description: The sweepops_snapshot result the role computed.
    type: dict
  runtime:
    description: The agent's runtime to sync too (key, src, files_from);
      empty - none.
    type: dict
  host:
    description: The cluster host (names the temporary directories).
    type: str
    required: true
  present:
    description: The probe's answer (with C(trees)); empty - not known
      yet.
    type: dict
  control_path:
    description: The ssh connection's control_path setting.
    type: str
  control_path_dir:
    description: The ssh connection's control_path_dir setting.
    type: str
  ssh_extra_args:
    description: The host's ansible_ssh_extra_args.
    type: str
  rsync_extra_opts:
    description: Extra rsync options.
    type: list
    elements: str
author: sweepops
"""

EXAMPLES = r"""
- name: Plan the sync
  sweepops_code_sync_plan:
    lab_root: /srv/lab
    snapshot: "{{ sweepops_snapshot }}"
    host: "{{ inventory_hostname }}"
"""

RETURN = r"""
ansible_facts:
  description: C(code_sync_plan) (snapshot_dir, agent_dir, trees,
    incoming_tag, known, and when known syncs and synced), C(code_sync_snapshot_dir),
    C(code_sync_agent_dir), C(code_sync_result).
  returned: always
  type: dict
"""
# END DOCUMENTATION

from ansible.module_utils.sweepops_workstation import run_step


def main() -> None:
    # The step: sweepops.ansible.steps; its spec: sweepops.ansible.step_specs (also run
    # in-process by action_plugins/sweepops_code_sync_plan.py).
    run_step("sweepops_code_sync_plan")


if __name__ == "__main__":
    main()
