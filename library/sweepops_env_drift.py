#!/usr/bin/python
"""Ansible module: compare the workstation's env with the cluster's copy (thin wrapper over
sweepops.artifacts.envsync.drift). Run on localhost."""

from __future__ import annotations

# BEGIN DOCUMENTATION, generated from its spec sweepops.ansible.steps.SPECS:
# edit the spec, then run `python -m sweepops.ansible.docgen --write`.

DOCUMENTATION = r"""
module: sweepops_env_drift
short_description: Fail when a cluster's copy of an env differs from
  the workstation's
description:
  - 'Runs on the workstation (C(delegate_to: localhost)) after C(sweepops_env_manifest)
    ran on the cluster. Equal digests: done. Otherwise the local manifest
    is computed again and compared entry by entry; the module fails
    naming the differing files (changed, missing on the cluster, only
    on the cluster), unless I(fail) is false.'
  - Never reports a change.
options:
  path:
    description: The synced path (same on both sides).
    type: path
    required: true
  host:
    description: The cluster's name, for the message.
    type: str
    required: true
  remote:
    description: The registered result of C(sweepops_env_manifest)
      on the cluster.
    type: dict
    required: true
  local_digest:
    description: The digest of the workstation's copy (C(sweepops_env_local)'s
      C(digest)), if known; when the cluster's digest equals it the
      workstation's env is not read again.
    type: str
  content:
    description: Hash file contents instead of using mtimes (as the
      remote side did).
    type: bool
    default: false
  fail:
    description: Fail on drift (else report it in C(drift)).
    type: bool
    default: true
author: sweepops
"""

RETURN = r"""
clean:
  description: Whether both copies are the same.
  returned: always
  type: bool
drift:
  description: Lists C(changed), C(missing) (on the cluster), C(extra)
    (only on the cluster).
  returned: always
  type: dict
"""
# END DOCUMENTATION

from ansible.module_utils.sweepops_workstation import run_step


def main() -> None:
    # The step and its spec: sweepops.ansible.steps (also run in-process by
    # action_plugins/sweepops_env_drift.py).
    run_step("sweepops_env_drift")


if __name__ == "__main__":
    main()
