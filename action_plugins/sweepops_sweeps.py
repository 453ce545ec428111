"""Runs the sweepops_sweeps step in Ansible's own process (sweepops.ansible.action)."""

from sweepops.ansible.action import WorkstationStep


class ActionModule(WorkstationStep):
    STEP = "sweepops_sweeps"
