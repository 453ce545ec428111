#!/usr/bin/python
"""Ansible module: the sha256 of a container image file on the cluster (stdlib only, over
sweepops.remote.imagedigest shipped as module_utils)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: sweepops_image_digest
short_description: The sha256 of a container image on the cluster, for the ledger and reproduce
description:
  - Reads the sha256 of I(path). The answer is cached next to the image
    (C(PATH.sha256.json)) keyed by its device, inode, size, mtime and ctime, so an unchanged
    multi-gigabyte image is not read again at every deploy; I(fresh) always reads it.
  - A missing image fails (the jobs could not start), unless I(missing_ok).
  - Never reports a change (the cache file is bookkeeping).
options:
  path:
    description: The image file on this host.
    type: path
    required: true
  fresh:
    description: Hash the file even when the cache says it is unchanged.
    type: bool
    default: false
  missing_ok:
    description: Report C(exists=false) instead of failing when the file is missing.
    type: bool
    default: false
author: sweepops
"""

RETURN = r"""
exists:
  description: Whether the image exists.
  returned: always
  type: bool
sha256:
  description: Its sha256 (empty when missing).
  returned: always
  type: str
size:
  description: Its size in bytes.
  returned: always
  type: int
cached:
  description: Whether the digest came from the cache.
  returned: always
  type: bool
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.sweepops_imagedigest import image_digest


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "fresh": {"type": "bool", "default": False},
            "missing_ok": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    path = module.params["path"]
    try:
        # In check mode nothing is written, the cache included.
        found = image_digest(path, fresh=module.params["fresh"], cache=not module.check_mode)
    except OSError as exc:
        module.fail_json(
            msg=f"{os.uname().nodename}: cannot read the container image {path}: {exc}"
        )
    if not found["exists"] and not module.params["missing_ok"]:
        module.fail_json(
            msg=f"{os.uname().nodename}: the container image {path} (container_image) is not "
            "there, so the jobs could not start; run `sweepops provision CLUSTER` to build and "
            "copy it, or leave container_image unset",
            **found,
        )
    module.exit_json(changed=False, **found)


if __name__ == "__main__":
    main()
