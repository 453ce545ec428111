"""Action plugin base: run a workstation step in Ansible's own process (see workstation_steps).

``action_plugins/NAME.py`` subclasses :class:`WorkstationStep` with ``STEP = "NAME"``; Ansible
then runs that task on the controller by calling the step directly instead of starting a new
Python for the module ``library/NAME.py`` (same spec, same function, same result).
"""

from __future__ import annotations

from typing import Any

from ansible.plugins.action import ActionBase

from sweepops.ansible import steps as workstation_steps


class WorkstationStep(ActionBase):  # type: ignore[misc]
    STEP = ""
    TRANSFERS_FILES = False
    _requires_connection = False  # the step never touches the task's host
    _supports_check_mode = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._supports_check_mode = cls.STEP not in workstation_steps.NO_CHECK_MODE

    def inputs(self, args: dict[str, Any], task_vars: dict[str, Any]) -> dict[str, Any]:
        """Arguments the step reads from Ansible's variables itself when the task gives none
        (e.g. other hosts' ``hostvars``); added to the task's own before validation."""
        return {}

    def run(self, tmp: Any = None, task_vars: Any = None) -> dict[str, Any]:
        result: dict[str, Any] = super().run(tmp, task_vars)
        extra = self.inputs(dict(self._task.args), task_vars or {})
        if extra:
            self._task.args = {**extra, **self._task.args}
        spec = workstation_steps.SPECS[self.STEP]
        _, args = self.validate_argument_spec(
            argument_spec=spec.argument_spec(), **spec.constraints()
        )
        try:
            result.update(workstation_steps.run(self.STEP, args, bool(self._task.check_mode)))
        except workstation_steps.StepFailed as exc:
            result.update(exc.result, failed=True, msg=exc.msg)
        return result
