#!/usr/bin/python
"""Ansible module: the sha256 of a container image file on the cluster.

A shim: its spec and its code are sweepops/remote/imagedigest.py (standard library only), shipped
to the login host as module_utils (module_utils/sweepops_remote links to sweepops/remote/).
"""

from __future__ import annotations

# BEGIN DOCUMENTATION, generated from its spec sweepops.remote.imagedigest.SPEC:
# edit the spec, then run `python -m sweepops.ansible.docgen --write`.

DOCUMENTATION = r"""
module: sweepops_image_digest
short_description: The sha256 of a container image on the cluster,
  for the ledger and reproduce
description:
  - Reads the sha256 of I(path). The answer is cached next to the
    image (C(PATH.sha256.json)) keyed by its device, inode, size,
    mtime and ctime, so an unchanged multi-gigabyte image is not read
    again at every deploy; I(fresh) always reads it.
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
    description: Report C(exists=false) instead of failing when the
      file is missing.
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
# END DOCUMENTATION

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.sweepops_remote.imagedigest import SPEC, image_digest_module
from ansible.module_utils.sweepops_remote.module_spec import run_module


def main() -> None:
    run_module(SPEC, image_digest_module, AnsibleModule)


if __name__ == "__main__":
    main()
