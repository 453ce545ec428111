"""Runs the sweepops_deploy_gate step in Ansible's own process (sweepops.ansible.action),
reading each host's sweepops_checked and cluster_check_probe from hostvars."""

from typing import Any

from sweepops.ansible.action import WorkstationStep


class ActionModule(WorkstationStep):
    STEP = "sweepops_deploy_gate"

    def inputs(self, args: dict[str, Any], task_vars: dict[str, Any]) -> dict[str, Any]:
        hostvars = task_vars["hostvars"]
        hosts = list(args.get("hosts") or [])
        known = {h: hostvars[h] for h in hosts if h in hostvars}
        extra: dict[str, Any] = {}
        if "checked" not in args:
            extra["checked"] = {h: bool(v.get("sweepops_checked")) for h, v in known.items()}
        if "wandb_problems" not in args:
            extra["wandb_problems"] = {
                h: (v.get("cluster_check_probe") or {}).get("wandb_problem") or ""
                for h, v in known.items()
            }
        return extra
