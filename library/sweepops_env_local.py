#!/usr/bin/python
"""Ansible module: the workstation's side of an env sync (thin wrapper over sweepops.envsync).
Run on localhost."""

from __future__ import annotations

DOCUMENTATION = r"""
module: sweepops_env_local
short_description: Check a local conda env or venv and fingerprint it for the sync
description:
  - Runs on the workstation (C(delegate_to: localhost)). Fails clearly when I(prefix) is not an
    absolute path, does not exist or has no C(bin/python).
  - Returns the manifest digest of I(sync_path) (default I(prefix)), its size and file count,
    and the env's package list (C(conda list --explicit) when the env is a conda env and conda
    is found, else C(pip freeze --all), else the C(*.dist-info) found) with its sha256 and the
    text of the lock file.
  - Reads only; never reports a change.
options:
  prefix:
    description: The env's absolute prefix (the directory holding C(bin/python)).
    type: path
    required: true
  name:
    description: The env's name (the lock file's name); default the prefix's last component.
    type: str
  sync_path:
    description: What is synced, when more than the env (a whole conda root holding it).
    type: path
  content:
    description: Hash file contents instead of using mtimes.
    type: bool
    default: false
  packages:
    description: Also make the package list and lock text (a drift check needs only the digest).
    type: bool
    default: true
author: sweepops
"""

RETURN = r"""
name:
  description: The env's name.
  returned: always
  type: str
conda:
  description: Whether the prefix is a conda env (has C(conda-meta/)).
  returned: always
  type: bool
digest:
  description: Manifest digest of the synced path.
  returned: always
  type: str
size:
  description: Bytes in the synced files.
  returned: always
  type: int
file_count:
  description: Number of files and symlinks synced.
  returned: always
  type: int
lock_source:
  description: How the package list was made (empty when I(packages) is false).
  returned: always
  type: str
lock_sha256:
  description: sha256 of the package list.
  returned: always
  type: str
lock_text:
  description: The lock file's text.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "prefix": {"type": "path", "required": True},
            "name": {"type": "str"},
            "sync_path": {"type": "path"},
            "content": {"type": "bool", "default": False},
            "packages": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    try:
        from sweepops import envsync
        from sweepops.errors import SweepopsError
    except ImportError as exc:
        module.fail_json(msg=f"the sweepops package is not importable by this Python: {exc}")
    p = module.params
    try:
        prefix = envsync.check_prefix(p["prefix"])
        sync_path = p["sync_path"] or str(prefix)
        if p["sync_path"] and not str(prefix).startswith(sync_path.rstrip("/") + "/"):
            raise SweepopsError(f"the env {prefix} is not inside the synced root {sync_path}")
        name = p["name"] or prefix.name
        entries = envsync.manifest(sync_path, content=p["content"])
        source = sha = text = ""
        if p["packages"]:
            source, packages = envsync.package_list(prefix)
            sha, text = envsync.lock_text(name, prefix, source, packages)
    except (SweepopsError, OSError) as exc:
        module.fail_json(msg=f"on the workstation: {exc}")
    module.exit_json(
        changed=False,
        name=name,
        prefix=str(prefix),
        sync_path=sync_path,
        conda=envsync.is_conda_env(prefix),
        digest=envsync.digest(entries),
        size=envsync.total_size(entries),
        file_count=len(entries),
        lock_source=source,
        lock_sha256=sha,
        lock_text=text,
    )


if __name__ == "__main__":
    main()
