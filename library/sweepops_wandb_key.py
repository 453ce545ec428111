#!/usr/bin/python
"""Ansible module: the workstation's wandb API key for a server (for ~/.netrc on a cluster)."""

from __future__ import annotations

# BEGIN DOCUMENTATION, generated from its spec sweepops.ansible.steps.SPECS:
# edit the spec, then run `python -m sweepops.ansible.docgen --write`.

DOCUMENTATION = r"""
module: sweepops_wandb_key
short_description: Read the wandb API key configured on this machine
description:
  - Returns the key from C(WANDB_API_KEY) or the C(~/.netrc) entry
    for the server's host[:port], and the netrc machine name wandb
    looks up for I(base_url).
  - Use with C(no_log) only; the key must never reach a log. Changes
    nothing.
options:
  base_url:
    description: The wandb server (default C(WANDB_BASE_URL), else
      https://api.wandb.ai).
    type: str
author: sweepops
"""

RETURN = r"""
key:
  description: The API key (secret).
  returned: success
  type: str
machine:
  description: The netrc machine for I(base_url) (host[:port]).
  returned: always
  type: str
"""
# END DOCUMENTATION

from ansible.module_utils.sweepops_workstation import run_step


def main() -> None:
    # The step and its spec: sweepops.ansible.steps (also run in-process by
    # action_plugins/sweepops_wandb_key.py).
    run_step("sweepops_wandb_key")


if __name__ == "__main__":
    main()
