#!/usr/bin/python
"""Ansible module: start a sweep's agents on this machine (wrapper over
sweepops.executors.local)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: sweepops_local_agents
short_description: Start detached sweepops agents for an offline sweep on this machine
description:
  - Starts I(count) agents in their own session, logging to C(SWEEP_DIR/agents/).
  - Idempotent: a sweep whose agents were already started is left alone.
options:
  sweep_dir:
    description: The sweep directory.
    type: path
    required: true
  count:
    description: Number of agents.
    type: int
    required: true
  code_dir:
    description: Directory the runs start in.
    type: path
    required: true
  agent_args:
    description: Extra arguments for C(sweepops agent).
    type: list
    elements: str
    default: []
  wandb_path:
    description: ENTITY/PROJECT/ID of a wandb sweep; the agents are then C(wandb agent).
    type: str
author: sweepops
"""

RETURN = r"""
agents:
  description: One record per agent (pid, log).
  returned: always
  type: list
  elements: dict
"""

from pathlib import Path

from ansible.module_utils.basic import AnsibleModule


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "sweep_dir": {"type": "path", "required": True},
            "count": {"type": "int", "required": True},
            "code_dir": {"type": "path", "required": True},
            "agent_args": {"type": "list", "elements": "str", "default": []},
            "wandb_path": {"type": "str"},
        },
        supports_check_mode=True,
    )
    try:
        from sweepops.core.errors import SweepopsError
        from sweepops.executors.local import agent_records, start_agents
        from sweepops.runtime.offline_sweep import OfflineSweep
    except ImportError as exc:
        module.fail_json(msg=f"the sweepops package is not importable: {exc}")
    p = module.params
    try:
        if module.check_mode:
            sweep_dir = Path(p["sweep_dir"])
            started = agent_records(OfflineSweep(sweep_dir)) if sweep_dir.exists() else []
            module.exit_json(changed=not started, agents=started)
        sweep = OfflineSweep(p["sweep_dir"])
        agents, changed = start_agents(
            sweep,
            p["count"],
            code_dir=Path(p["code_dir"]),
            agent_args=p["agent_args"],
            wandb_path=p["wandb_path"],
        )
    except SweepopsError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=changed, agents=agents)


if __name__ == "__main__":
    main()
