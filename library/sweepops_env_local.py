#!/usr/bin/python
"""Ansible module: the workstation's side of an env sync (thin wrapper over
sweepops.artifacts.envsync).
Run on localhost."""

from __future__ import annotations

# BEGIN DOCUMENTATION, generated from its spec sweepops.ansible.steps.SPECS:
# edit the spec, then run `python -m sweepops.ansible.docgen --write`.

DOCUMENTATION = r"""
module: sweepops_env_local
short_description: Check a local conda env or venv and fingerprint
  it for the sync
description:
  - 'Runs on the workstation (C(delegate_to: localhost)). Fails clearly
    when I(prefix) is not an absolute path, does not exist or has
    no C(bin/python).'
  - Returns the manifest digest of I(sync_path) (default I(prefix)),
    its size and file count, and the env's package list (C(conda list
    --explicit) when the env is a conda env and conda is found, else
    C(pip freeze --all), else the C(*.dist-info) found) with its sha256
    and the text of the lock file.
  - Reads only; never reports a change.
options:
  prefix:
    description: The env's absolute prefix (the directory holding
      C(bin/python)).
    type: path
    required: true
  name:
    description: The env's name (the lock file's name); default the
      prefix's last component.
    type: str
  sync_path:
    description: What is synced, when more than the env (a whole conda
      root holding it).
    type: path
  content:
    description: Hash file contents instead of using mtimes.
    type: bool
    default: false
  packages:
    description: Also make the package list and lock text (a drift
      check needs only the digest).
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
  description: How the package list was made (empty when I(packages)
    is false).
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
# END DOCUMENTATION

from ansible.module_utils.sweepops_workstation import run_step


def main() -> None:
    # The step and its spec: sweepops.ansible.steps (also run in-process by
    # action_plugins/sweepops_env_local.py).
    run_step("sweepops_env_local")


if __name__ == "__main__":
    main()
