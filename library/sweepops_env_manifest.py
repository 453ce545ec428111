#!/usr/bin/python
"""Ansible module: the manifest of a Python env's prefix on a cluster (stdlib only).

Runs on the login host with its own Python, so it cannot import sweepops: the walk below is
``sweepops.artifacts.envsync.manifest``'s, kept in step by tests/unit/test_envsync.py.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: sweepops_env_manifest
short_description: Fingerprint an env prefix and say whether it can exist at that path
description:
  - Walks I(prefix) and returns its manifest digest; one entry per file or symlink
    (path, kind, size, mtime or sha256, executable). Skips C(pkgs/) at the top,
    C(__pycache__) and C(*.pyc), as the sync does.
  - The entries themselves are returned only when they differ from I(expect_digest) (or it is
    not given), so a drift check of an unchanged env moves one hash over the wire.
  - Also reports whether the prefix could be created here (nearest existing ancestor,
    writable, free bytes) and this user's home, for the "same path" check.
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
    description: The workstation's manifest digest; entries are left out when equal.
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
  description: Whether this user can write there (create the prefix or update it).
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

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.sweepops_manifest import describe_prefix


def main():
    module = AnsibleModule(
        argument_spec={
            "prefix": {"type": "path", "required": True},
            "content": {"type": "bool", "default": False},
            "expect_digest": {"type": "str"},
        },
        supports_check_mode=True,
    )
    prefix = module.params["prefix"]
    if not os.path.isabs(prefix):
        module.fail_json(msg=f"prefix {prefix!r} is not an absolute path")
    try:
        result = describe_prefix(
            prefix, content=module.params["content"], expect_digest=module.params["expect_digest"]
        )
    except OSError as exc:
        module.fail_json(msg=f"cannot read {prefix}: {exc}", changed=False)
    # as asked: a deploy records them with the digest, so reproduce can compute it again
    result.update(changed=False, prefix=prefix, content=module.params["content"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
