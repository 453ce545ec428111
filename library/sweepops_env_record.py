#!/usr/bin/python
"""Ansible module: record a cluster's env (prefix, package-list hash) in the experiment ledger
(thin wrapper over sweepops.artifacts.envsync.record_env). Run on localhost."""

from __future__ import annotations

# BEGIN DOCUMENTATION, generated from its spec sweepops.ansible.steps.SPECS:
# edit the spec, then run `python -m sweepops.ansible.docgen --write`.

DOCUMENTATION = r"""
module: sweepops_env_record
short_description: Record a cluster's env lock in the ledger
description:
  - Appends an C(env) event to C(ROOT/.sweepops/ledger.jsonl) unless
    the latest one for this host and env says the same (then no change).
    Nothing is written in check mode.
options:
  root:
    description: The sweepops repository (its C(.sweepops/) holds
      the ledger).
    type: path
    required: true
  host:
    description: The cluster's inventory host.
    type: str
    required: true
  env:
    description: What to record (name, prefix, lock_sha256, lock_source,
      lock_path, ...).
    type: dict
    required: true
author: sweepops
"""

RETURN = r"""
recorded:
  description: Whether an event was appended (or would be, in check
    mode).
  returned: always
  type: bool
"""
# END DOCUMENTATION

from ansible.module_utils.sweepops_workstation import run_step


def main() -> None:
    # The step and its spec: sweepops.ansible.steps (also run in-process by
    # action_plugins/sweepops_env_record.py).
    run_step("sweepops_env_record")


if __name__ == "__main__":
    main()
