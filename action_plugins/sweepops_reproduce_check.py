"""Runs the sweepops_reproduce_check step in Ansible's own process (sweepops.ansible_action)."""

from sweepops.ansible_action import WorkstationStep


class ActionModule(WorkstationStep):
    STEP = "sweepops_reproduce_check"
