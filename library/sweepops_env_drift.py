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

from ansible.module_utils.basic import AnsibleModule


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "host": {"type": "str", "required": True},
            "remote": {"type": "dict", "required": True},
            "content": {"type": "bool", "default": False},
            "fail": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    try:
        from sweepops import envsync
    except ImportError as exc:
        module.fail_json(msg=f"the sweepops package is not importable by this Python: {exc}")
    p = module.params
    remote = p["remote"]
    try:
        local = envsync.manifest(p["path"], content=p["content"])
    except OSError as exc:
        module.fail_json(msg=f"on the workstation: cannot read {p['path']}: {exc}")
    if remote.get("exists") and remote.get("digest") == envsync.digest(local):
        none: dict[str, list[str]] = {"changed": [], "missing": [], "extra": []}
        module.exit_json(changed=False, clean=True, drift=none)
    found = envsync.drift(local, remote.get("entries") or [])
    if not remote.get("exists"):
        msg = f"{p['host']}: the env is not on the cluster at {p['path']}"
    else:
        msg = f"{p['host']}: the cluster's copy of {p['path']} differs: {found.describe()}"
    hint = "; run `sweepops provision CLUSTER` (or provision.yml --limit CLUSTER) to sync it again"
    if p["fail"] and not found.clean:
        module.fail_json(msg=msg + hint, clean=False, drift=found.as_dict())
    module.exit_json(changed=False, clean=found.clean, drift=found.as_dict(), msg=msg)


if __name__ == "__main__":
    main()
