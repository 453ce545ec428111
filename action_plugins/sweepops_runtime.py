"""Runs the sweepops_runtime step in Ansible's own process (sweepops.ansible_action)."""

from sweepops.ansible_action import WorkstationStep


class ActionModule(WorkstationStep):
    STEP = "sweepops_runtime"
