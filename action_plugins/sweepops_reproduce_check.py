"""Runs the sweepops_reproduce_check step in Ansible's own process (sweepops.ansible.action)."""

from sweepops.ansible.action import WorkstationStep


class ActionModule(WorkstationStep):
    STEP = "sweepops_reproduce_check"
