#!/usr/bin/python
"""Ansible module: unpack a charliecloud image tarball on the cluster when it changed.

A shim: its spec and its code are sweepops/remote/image_unpack.py (standard library only), shipped
to the login host as module_utils (module_utils/sweepops_remote links to sweepops/remote/).
"""

from __future__ import annotations

# BEGIN DOCUMENTATION, generated from its spec sweepops.remote.image_unpack.SPEC:
# edit the spec, then run `python -m sweepops.ansible.docgen --write`.

DOCUMENTATION = r"""
module: sweepops_image_unpack
short_description: Unpack a charliecloud image tarball on the cluster
  when it changed
description:
  - Unpacks I(image) (a tarball) into I(dest), the directory C(ch-run)
    runs, when the tarball's sha256 differs from the one recorded
    in I(dest) (C(DEST/.sweepops-unpacked)); unpacked next to it and
    renamed into place.
  - Makes the I(bind_points) in it (ch-run binds only onto existing
    directories), and reports a change when any was missing.
  - With I(nvidia) and NVIDIA's driver on the host, injects the driver's
    libraries into a newly unpacked tree with C(ch-fromhost --nvidia).
  - In check mode nothing is written.
options:
  image:
    description: The image tarball on this host.
    type: path
    required: true
  dest:
    description: The directory it is unpacked into.
    type: path
    required: true
  bind_points:
    description: Absolute paths bound in at run time, made as directories
      in I(dest).
    type: list
    default: []
    elements: str
  nvidia:
    description: Inject the host's NVIDIA libraries after unpacking
      (ch-fromhost).
    type: bool
    default: false
author: sweepops
"""

RETURN = r"""
dest:
  description: The unpacked directory.
  returned: always
  type: str
sha256:
  description: The tarball's sha256.
  returned: always
  type: str
previous:
  description: 'The sha256 the directory was unpacked from before
    (empty: none).'
  returned: always
  type: str
unpacked:
  description: Whether it was (or, in check mode, would be) unpacked.
  returned: always
  type: bool
made:
  description: The bind points made in an already unpacked directory.
  returned: always
  type: list
  elements: str
nvidia:
  description: 'What the NVIDIA injection did (empty: not asked or
    not unpacked).'
  returned: always
  type: str
"""
# END DOCUMENTATION

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.sweepops_remote.image_unpack import SPEC, image_unpack_module
from ansible.module_utils.sweepops_remote.module_spec import run_module


def main() -> None:
    run_module(SPEC, image_unpack_module, AnsibleModule)


if __name__ == "__main__":
    main()
