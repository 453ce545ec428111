#!/usr/bin/python
"""Ansible module: the inventory's settings are known ones (a wrapper over
sweepops.core.settings)."""

from __future__ import annotations

# BEGIN DOCUMENTATION, generated from its spec sweepops.ansible.steps.SPECS:
# edit the spec, then run `python -m sweepops.ansible.docgen --write`.

DOCUMENTATION = r"""
module: sweepops_settings
short_description: Check that the inventory parses and names only
  settings sweepops knows
description:
  - Every YAML file of the inventory sources parses, and every key
    of C(group_vars/), C(host_vars/) and the hosts files' C(vars)
    is a setting sweepops reads (the README's, the roles' knobs),
    C(ansible_*), or a name starting with C(_). An unknown one fails
    with its file, line and a did-you-mean. Changes nothing.
options:
  sources:
    description: The inventory sources (C(ansible_inventory_sources)).
    type: list
    required: true
    elements: str
  root:
    description: The sweepops repository (its C(roles/) define the
      knobs).
    type: path
    required: true
author: sweepops
"""

RETURN = r"""
changed:
  description: Always false.
  returned: always
  type: bool
"""
# END DOCUMENTATION

from ansible.module_utils.sweepops_workstation import run_step


def main() -> None:
    # The step and its spec: sweepops.ansible.steps (also run in-process by
    # action_plugins/sweepops_settings.py).
    run_step("sweepops_settings")


if __name__ == "__main__":
    main()
