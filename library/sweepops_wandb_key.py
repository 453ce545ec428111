#!/usr/bin/python
"""Ansible module: the workstation's wandb API key for a server (for ~/.netrc on a cluster)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: sweepops_wandb_key
short_description: Read the wandb API key configured on this machine
description:
  - Returns the key from C(WANDB_API_KEY) or the C(~/.netrc) entry for the server's host[:port],
    and the netrc machine name wandb looks up for I(base_url).
  - Use with C(no_log) only; the key must never reach a log. Changes nothing.
options:
  base_url:
    description: The wandb server (default C(WANDB_BASE_URL), else https://api.wandb.ai).
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

from ansible.module_utils.basic import AnsibleModule


def main() -> None:
    module = AnsibleModule(argument_spec={"base_url": {"type": "str"}}, supports_check_mode=True)
    try:
        from sweepops.wandb_backend import base_url, find_api_key, netrc_machine
    except ImportError as exc:
        module.fail_json(msg=f"the sweepops package is not importable: {exc}")
    url = base_url(module.params["base_url"])
    machine = netrc_machine(url)
    key = find_api_key(url)
    if not key:
        module.fail_json(
            msg=f"no wandb API key for {url} (WANDB_API_KEY or ~/.netrc machine {machine})",
            machine=machine,
        )
    module.exit_json(changed=False, key=key, machine=machine)


if __name__ == "__main__":
    main()
