#!/usr/bin/python
"""Ansible module: materialise offline sweep directories on a cluster's shared disk.

Runs on the login host with its own Python (stdlib only). Each sweep's ``sweep.json`` content
was made once on the workstation (``sweepops.offline_sweep.sweep_meta``); this writes it, with
the sweep's sub-directories, to ``LAB_ROOT/sweeps/ID`` — built under a temporary name and
renamed, as ``OfflineSweep.create_from_meta`` does, so agents never see half a sweep.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: sweepops_sweep_dirs
short_description: Create offline sweep directories on a cluster
description:
  - Creates C(LAB_ROOT/sweeps/ID) for each sweep, with C(sweep.json) and its sub-directories.
  - A sweep directory that already exists with the same id is left alone (idempotent).
options:
  lab_root:
    description: The cluster's lab root (shared by login and compute nodes).
    type: path
    required: true
  sweeps:
    description: Sweep entries from C(sweepops_sweeps), each with C(id) and C(meta).
    type: list
    elements: dict
    required: true
author: sweepops
"""

RETURN = r"""
created:
  description: Ids of the sweeps created by this call.
  returned: always
  type: list
  elements: str
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.sweepops_sweep_layout import materialise


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "lab_root": {"type": "path", "required": True},
            "sweeps": {"type": "list", "elements": "dict", "required": True},
        },
        supports_check_mode=True,
    )
    lab_root = module.params["lab_root"]
    if not os.path.isdir(lab_root):
        module.fail_json(msg=f"lab root {lab_root} does not exist on this host")
    parent = os.path.join(lab_root, "sweeps")
    todo = [
        s["meta"]
        for s in module.params["sweeps"]
        if not os.path.isfile(os.path.join(parent, s["id"], "sweep.json"))
    ]
    if module.check_mode or not todo:
        module.exit_json(changed=bool(todo), created=[m["id"] for m in todo])
    try:
        os.makedirs(parent, exist_ok=True)
        created = [m["id"] for m in todo if materialise(parent, m)]
    except OSError as exc:
        module.fail_json(msg=f"cannot create sweep directories under {parent}: {exc}")
    module.exit_json(changed=bool(created), created=created)


if __name__ == "__main__":
    main()
