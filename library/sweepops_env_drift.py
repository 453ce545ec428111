#!/usr/bin/python
"""Ansible module: compare the workstation's env with the cluster's copy (thin wrapper over
sweepops.envsync.drift). Run on localhost."""

from __future__ import annotations

DOCUMENTATION = r"""
module: sweepops_env_drift
short_description: Fail when a cluster's copy of an env differs from the workstation's
description:
  - Runs on the workstation (C(delegate_to: localhost)) after C(sweepops_env_manifest) ran on
    the cluster. Equal digests: done. Otherwise the local manifest is computed again and
    compared entry by entry; the module fails naming the differing files (changed, missing on
    the cluster, only on the cluster), unless I(fail) is false.
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
    description: The registered result of C(sweepops_env_manifest) on the cluster.
    type: dict
    required: true
  local_digest:
    description:
      - The digest of the workstation's copy (C(sweepops_env_local)'s C(digest)), if known;
        when the cluster's digest equals it the workstation's env is not read again.
    type: str
  content:
    description: Hash file contents instead of using mtimes (as the remote side did).
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
  description: Lists C(changed), C(missing) (on the cluster), C(extra) (only on the cluster).
  returned: always
  type: dict
"""

import json
import sys

from ansible.module_utils.basic import AnsibleModule


def main() -> None:
    try:
        from sweepops.workstation_steps import module_main
    except ImportError as exc:
        print(
            json.dumps(
                {
                    "failed": True,
                    "msg": (
                        f"sweepops is not importable by {sys.executable}: {exc}; "
                        "install it (pip install -e .) into the Python running ansible-playbook"
                    ),
                }
            )
        )
        sys.exit(1)
    # The step and its argument spec live in the package (also run in-process by
    # action_plugins/sweepops_env_drift.py): this module is the same step in a new Python.
    module_main("sweepops_env_drift", AnsibleModule)


if __name__ == "__main__":
    main()
