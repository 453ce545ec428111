#!/usr/bin/python
"""Ansible module: what a cluster offers (partitions, GPU GRES, container runtime).

A shim: its spec and its code are sweepops/remote/cluster_facts.py (standard library only), shipped
to the login host as module_utils (module_utils/sweepops_remote links to sweepops/remote/).
"""

from __future__ import annotations

# BEGIN DOCUMENTATION, generated from its spec sweepops.remote.cluster_facts.SPEC:
# edit the spec, then run `python -m sweepops.ansible.docgen --write`.

DOCUMENTATION = r"""
module: sweepops_facts
short_description: Partitions, GPU GRES and the container runtime
  of a Slurm cluster
description:
  - Runs C(sinfo -h -o '%P %G') and looks for C(apptainer), C(singularity)
    and charliecloud's C(ch-run) on C(PATH).
  - Reads only; never reports a change.
options:
  runtimes:
    description: Container runtimes to look for, first found wins.
    type: list
    default:
      - apptainer
      - singularity
      - charliecloud
    elements: str
author: sweepops
"""

RETURN = r"""
partitions:
  description: One entry per partition, with C(name), C(default) and
    C(gres) (list, e.g. gpu:2).
  returned: always
  type: list
  elements: dict
gpus:
  description: Whether any partition has GPU GRES.
  returned: always
  type: bool
container_runtime:
  description: C(name), C(path) and C(version) of the first runtime
    found, or null.
  returned: always
  type: dict
container_runtimes:
  description: Every runtime found (C(name), C(path), C(version)),
    in order.
  returned: always
  type: list
  elements: dict
"""
# END DOCUMENTATION

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.sweepops_remote.cluster_facts import SPEC, facts
from ansible.module_utils.sweepops_remote.module_spec import run_module


def main() -> None:
    run_module(SPEC, facts, AnsibleModule)


if __name__ == "__main__":
    main()
