#!/usr/bin/python
"""Ansible module: list a deploy's logs on a cluster, or read one from an offset (stdlib only;
the logic is ``sweepops/remote/log_lookup.py``, shipped as the ``sweepops_log_lookup``
module_utils)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: sweepops_log
short_description: Find and read the log of a run or job of a sweepops deploy on a cluster
description:
  - Without I(target), lists the deploy's logs on the cluster (its runs' and its jobs').
  - With I(target) (a run id or a Slurm job or array task id), reads that log from
    I(offset) and says whether it is still growing (the run is running, or the job live).
  - Reads only; changes nothing.
options:
  lab_root:
    description: The cluster's lab root.
    type: path
    required: true
  deploy_id:
    description: The deploy.
    type: str
    required: true
  sweep_ids:
    description: The deploy's sweeps.
    type: list
    elements: str
    required: true
  target:
    description: A run id or job id; empty to list the logs.
    type: str
    default: ""
  offset:
    description: Where to read from (bytes); negative for the last I(max_bytes).
    type: int
    default: -1
  max_bytes:
    description: At most this many bytes per answer.
    type: int
    default: 1048576
author: sweepops
"""

EXAMPLES = r"""
- name: Read a run's log
  sweepops_log:
    lab_root: /srv/lab
    deploy_id: 20260101-120000-abcdef
    sweep_ids: [abcd1234]
    target: r0123456
"""

RETURN = r"""
logs:
  description: Without I(target), each log (C(kind) run or job, C(id), C(path), run C(state)).
  returned: always
  type: list
  elements: dict
found:
  description: With I(target), the log found (C(kind), C(id), C(path)), or null.
  returned: always
  type: dict
text:
  description: The log from I(offset).
  returned: always
  type: str
offset:
  description: Where the next read starts.
  returned: always
  type: int
live:
  description: Whether the log may still grow (run running, job not ended).
  returned: always
  type: bool
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.sweepops_log_lookup import find_log, list_logs, read_from
from ansible.module_utils.sweepops_slurm import FINAL_STATES, SlurmError, job_states


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "lab_root": {"type": "path", "required": True},
            "deploy_id": {"type": "str", "required": True},
            "sweep_ids": {"type": "list", "elements": "str", "required": True},
            "target": {"type": "str", "default": ""},
            "offset": {"type": "int", "default": -1},
            "max_bytes": {"type": "int", "default": 1048576},
        },
        supports_check_mode=True,
    )
    p = module.params
    dirs = {sid: os.path.join(p["lab_root"], "sweeps", sid) for sid in p["sweep_ids"]}
    if not p["target"]:
        module.exit_json(
            changed=False,
            logs=list_logs(dirs, p["lab_root"], p["deploy_id"]),
            found=None,
            text="",
            offset=0,
            live=False,
        )
    found = find_log(p["target"], dirs, p["lab_root"], p["deploy_id"])
    if found is None:
        module.exit_json(changed=False, logs=[], found=None, text="", offset=0, live=False)
    # Whether it still grows is asked before reading, so the last read of a follow has it all.
    if found["kind"] == "run":
        live = found.get("state") in ("running", "pending")
    else:
        try:
            state = job_states([found["id"]]).get(found["id"], {}).get("state", "")
        except SlurmError:
            state = ""
        live = bool(state) and state not in FINAL_STATES
        found["state"] = state
    text, offset, _size = read_from(found["path"], p["offset"], p["max_bytes"])
    module.exit_json(changed=False, logs=[], found=found, text=text, offset=offset, live=live)


if __name__ == "__main__":
    main()
