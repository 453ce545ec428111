"""Renders each sweep's batch script on the workstation, then runs ``library/sweepops_sbatch.py``
on the login host once for all of them (one round trip, issue 17). Given ``lab_root``, the
sweeps and it are checked first (sweepops.ansible.sbatch_args).

With ``template`` and ``sweeps`` (the deploy's sweep records: id, dir, meta), each script is the
template rendered with that sweep as ``sbatch_sweep``; ``create_sweep_dirs`` says whether the
module makes each sweep's directory from its ``meta``. Without ``template`` the task's arguments
go to the module unchanged (a single sweep, or ``sweeps`` items already rendered).
"""

from __future__ import annotations

import posixpath
from typing import Any

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase
from ansible.plugins.loader import lookup_loader

from sweepops.ansible.sbatch_args import sweeps_problem


class ActionModule(ActionBase):  # type: ignore[misc]
    TRANSFERS_FILES = False
    _supports_check_mode = True

    def run(self, tmp: Any = None, task_vars: Any = None) -> dict[str, Any]:
        result: dict[str, Any] = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        args = dict(self._task.args)
        template = args.pop("template", None)
        create_dirs = bool(args.pop("create_sweep_dirs", True))
        lab_root = args.pop("lab_root", None)
        if template is not None:
            problem = sweeps_problem(args.get("sweeps"), lab_root)
            if lab_root is not None and problem:
                result.update(failed=True, msg=problem)
                return result
            lookup = lookup_loader.get(
                "ansible.builtin.template", loader=self._loader, templar=self._templar
            )
            items = []
            for sweep in args.get("sweeps") or []:
                try:
                    (content,) = lookup.run(
                        [template], variables=task_vars, template_vars={"sbatch_sweep": sweep}
                    )
                except AnsibleError as exc:
                    result.update(failed=True, msg=f"cannot render {template} for sweep "
                                  f"{sweep.get('id')}: {exc}")
                    return result
                meta = sweep.get("meta") if create_dirs else None
                items.append({
                    "sweep_id": sweep["id"],
                    "script_content": content,
                    "sweep_meta": meta or None,
                    "sweeps_dir": posixpath.dirname(str(sweep.get("dir", ""))),
                })
            args["sweeps"] = items
        result.update(
            self._execute_module(
                module_name="sweepops_sbatch", module_args=args, task_vars=task_vars
            )
        )
        return result
