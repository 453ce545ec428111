#!/usr/bin/python
"""Ansible module: decide whether a run can be reproduced exactly on a cluster, from what
reproduce.yml saw there (thin wrapper over sweepops.ops.reproduce.verify). Run on localhost."""

from __future__ import annotations

# BEGIN DOCUMENTATION, generated from its spec sweepops.ansible.steps.SPECS:
# edit the spec, then run `python -m sweepops.ansible.docgen --write`.

DOCUMENTATION = r"""
module: sweepops_reproduce_check
short_description: Refuse a reproduction whose env or container changed;
  rebuild a gone snapshot
description:
  - 'Runs on the workstation (C(delegate_to: localhost)) after the
    cluster was asked for the env''s fingerprint, the image''s sha256
    and whether the snapshot and agent are there.'
  - Fails, saying what changed and what to do, when the env fingerprint
    or the container image digest differs from what the deploy recorded.
  - When the code snapshot is gone, rebuilds it in I(rebuild_dir)
    from the recorded commit and stored diff and checks its tree hash
    (fails when the commit is unknown here or the tree differs); returns
    in C(snapshot) what the C(code_sync) role needs to sync it again.
  - Never reports a change on the cluster (the rebuilt tree is a local
    scratch directory).
options:
  root:
    description: The sweepops repository (its git history and C(.sweepops/)).
    type: path
    required: true
  host:
    description: The cluster's inventory host, for messages.
    type: str
    required: true
  expect:
    description: What the deploy recorded (C(sweepops.ops.reproduce.expected)).
    type: dict
    required: true
  observed:
    description: What the cluster answered (C(env), C(image), C(snapshot_present),
      C(agent_present)).
    type: dict
    required: true
  rebuild_dir:
    description: Where a gone snapshot is rebuilt.
    type: path
    required: true
  deploy_id:
    description: The reproduction's deploy id (names the cluster's
      temporary sync directory).
    type: str
    required: true
author: sweepops
"""

RETURN = r"""
sync:
  description: Whether the code_sync role must put a snapshot or the
    agent back.
  returned: always
  type: bool
rebuilt:
  description: Whether the snapshot was rebuilt from commit and diff.
  returned: always
  type: bool
snapshot:
  description: The C(code_sync_snapshot) for the code_sync role (empty
    when nothing to sync).
  returned: always
  type: dict
"""
# END DOCUMENTATION

from ansible.module_utils.sweepops_workstation import run_step


def main() -> None:
    # The step and its spec: sweepops.ansible.steps (also run in-process by
    # action_plugins/sweepops_reproduce_check.py).
    run_step("sweepops_reproduce_check")


if __name__ == "__main__":
    main()
