"""Runs the sweepops_deploy_plan step in Ansible's own process (sweepops.ansible.action),
reading each target host's settings from hostvars."""

from typing import Any

from sweepops.ansible.action import WorkstationStep
from sweepops.ops.deploy_plan import HOST_SETTINGS, PlanError, hosts_of


class ActionModule(WorkstationStep):
    STEP = "sweepops_deploy_plan"

    def inputs(self, args: dict[str, Any], task_vars: dict[str, Any]) -> dict[str, Any]:
        if "settings" in args:
            return {}
        try:
            hosts = hosts_of(args.get("clusters"), args.get("groups") or {})
        except PlanError:
            return {}  # the step says why
        hostvars = task_vars["hostvars"]
        settings = {}
        for host in hosts:
            known = hostvars[host]
            settings[host] = {k: known[k] for k in HOST_SETTINGS if k in known}
        return {"settings": settings}
