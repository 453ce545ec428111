#!/usr/bin/python
"""Ansible module: the manifest of a Python env's prefix on a cluster.

A shim: its spec and its code are sweepops/remote/manifest.py (standard library only), shipped
to the login host as module_utils (module_utils/sweepops_remote links to sweepops/remote/).
"""

from __future__ import annotations

# BEGIN DOCUMENTATION, generated from its spec sweepops.remote.manifest.SPEC:
# edit the spec, then run `python -m sweepops.ansible.docgen --write`.

DOCUMENTATION = r"""
module: sweepops_env_manifest
short_description: Fingerprint an env prefix and say whether it can
  exist at that path
description:
  - Walks I(prefix) and returns its manifest digest; one entry per
    file or symlink (path, kind, size, mtime or sha256, executable).
    Skips C(pkgs/) at the top, C(__pycache__) and C(*.pyc), as the
    sync does.
  - The entries themselves are returned only when they differ from
    I(expect_digest) (or it is not given), so a drift check of an
    unchanged env moves one hash over the wire.
  - Also reports whether the prefix could be created here (nearest
    existing ancestor, writable, free bytes) and this user's home,
    for the "same path" check.
  - Reads only; never reports a change.
options:
  prefix:
    description: Absolute path of the env on this host.
    type: path
    required: true
  content:
    description: Hash file contents instead of using mtimes.
    type: bool
    default: false
  expect_digest:
    description: The workstation's manifest digest; entries are left
      out when equal.
    type: str
author: sweepops
"""

RETURN = r"""
exists:
  description: Whether the prefix exists.
  returned: always
  type: bool
digest:
  description: Manifest digest (empty when the prefix does not exist).
  returned: always
  type: str
entries:
  description: The manifest, when it differs from I(expect_digest).
  returned: always
  type: list
ancestor:
  description: The prefix or its nearest existing ancestor.
  returned: always
  type: str
writable:
  description: Whether this user can write there (create the prefix
    or update it).
  returned: always
  type: bool
free_bytes:
  description: Free bytes for this user on the ancestor's file system.
  returned: always
  type: int
home:
  description: This user's home directory.
  returned: always
  type: str
prefix:
  description: The prefix fingerprinted (as given).
  returned: always
  type: str
content:
  description: Whether file contents were hashed (as given).
  returned: always
  type: bool
"""
# END DOCUMENTATION

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.sweepops_remote.manifest import SPEC, env_manifest
from ansible.module_utils.sweepops_remote.module_spec import run_module


def main() -> None:
    run_module(SPEC, env_manifest, AnsibleModule)


if __name__ == "__main__":
    main()
