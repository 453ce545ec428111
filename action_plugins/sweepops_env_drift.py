"""Runs the sweepops_env_drift step in Ansible's own process (sweepops.ansible.action)."""

from sweepops.ansible.action import WorkstationStep


class ActionModule(WorkstationStep):
    STEP = "sweepops_env_drift"
