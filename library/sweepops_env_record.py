#!/usr/bin/python
"""Ansible module: record a cluster's env (prefix, package-list hash) in the experiment ledger
(thin wrapper over sweepops.envsync.record_env). Run on localhost."""

from __future__ import annotations

DOCUMENTATION = r"""
module: sweepops_env_record
short_description: Record a cluster's env lock in the ledger
description:
  - Appends an C(env) event to C(ROOT/.sweepops/ledger.jsonl) unless the latest one for this
    host and env says the same (then no change). Nothing is written in check mode.
options:
  root:
    description: The sweepops repository (its C(.sweepops/) holds the ledger).
    type: path
    required: true
  host:
    description: The cluster's inventory host.
    type: str
    required: true
  env:
    description: What to record (name, prefix, lock_sha256, lock_source, lock_path, ...).
    type: dict
    required: true
author: sweepops
"""

RETURN = r"""
recorded:
  description: Whether an event was appended (or would be, in check mode).
  returned: always
  type: bool
"""

from pathlib import Path

from ansible.module_utils.basic import AnsibleModule


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "root": {"type": "path", "required": True},
            "host": {"type": "str", "required": True},
            "env": {"type": "dict", "required": True},
        },
        supports_check_mode=True,
    )
    try:
        from sweepops import envsync
    except ImportError as exc:
        module.fail_json(msg=f"the sweepops package is not importable by this Python: {exc}")
    p = module.params
    root = Path(p["root"])
    try:
        new = envsync.record_env(root, p["host"], p["env"], dry_run=module.check_mode)
    except OSError as exc:
        module.fail_json(msg=f"cannot write the ledger under {root}: {exc}")
    module.exit_json(changed=new, recorded=new)


if __name__ == "__main__":
    main()
