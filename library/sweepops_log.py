#!/usr/bin/python
"""Ansible module: list a deploy's logs on a cluster, or read one from an offset.

A shim: its spec and its code are sweepops/remote/log_lookup.py (standard library only), shipped
to the login host as module_utils (module_utils/sweepops_remote links to sweepops/remote/).
"""

from __future__ import annotations

# BEGIN DOCUMENTATION, generated from its spec sweepops.remote.log_lookup.SPEC:
# edit the spec, then run `python -m sweepops.ansible.docgen --write`.

DOCUMENTATION = r"""
module: sweepops_log
short_description: Find and read the log of a run or job of a sweepops
  deploy on a cluster
description:
  - Without I(target), lists the deploy's logs on the cluster (its
    runs' and its jobs').
  - With I(target) (a run id or a Slurm job or array task id), reads
    that log from I(offset) and says whether it is still growing (the
    run is running, or the job live).
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
    required: true
    elements: str
  target:
    description: A run id or job id; empty to list the logs.
    type: str
    default: ''
  offset:
    description: Where to read from (bytes); negative for the last
      I(max_bytes).
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
  description: Without I(target), each log (C(kind) run or job, C(id),
    C(path), run C(state)).
  returned: always
  type: list
  elements: dict
found:
  description: With I(target), the log found (C(kind), C(id), C(path)),
    or null.
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
  description: Whether the log may still grow (run running, job not
    ended).
  returned: always
  type: bool
"""
# END DOCUMENTATION

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.sweepops_remote.log_lookup import SPEC, log
from ansible.module_utils.sweepops_remote.module_spec import run_module


def main() -> None:
    run_module(SPEC, log, AnsibleModule)


if __name__ == "__main__":
    main()
