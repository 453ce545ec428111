"""Runs the sweepops_code_sync_plan step in Ansible's own process (sweepops.ansible.action)."""

from sweepops.ansible.action import WorkstationStep


class ActionModule(WorkstationStep):
    STEP = "sweepops_code_sync_plan"
