"""One spec per Ansible module of sweepops: its arguments, its documentation, how it runs.

A :class:`ModuleSpec` is the single source of a ``library/`` module's argument spec (what
``AnsibleModule`` validates) and of its ``DOCUMENTATION`` / ``EXAMPLES`` / ``RETURN`` (which
``python -m sweepops.ansible.docgen --write`` generates into the module file from the spec,
so the two cannot drift). The specs of the workstation steps are in sweepops.ansible.steps;
those of the modules that run on login hosts sit next to their logic in sweepops/remote/.

:func:`run_module` is the whole ``main()`` of a module: arguments, the function, the result.
A module's function takes the validated arguments and whether Ansible runs in check mode and
returns the module result (``changed`` plus return values), or raises :class:`ModuleFailed`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Params = dict[str, Any]
Result = dict[str, Any]

#: Keys of a documented option that AnsibleModule's argument spec takes too.
_ARGUMENT_KEYS = ("type", "required", "default", "choices", "elements", "no_log", "aliases")


class ModuleFailed(Exception):
    """The module fails with ``msg`` (and any result values to return with the failure)."""

    def __init__(self, msg: str, **result: Any) -> None:
        super().__init__(msg)
        self.msg = msg
        self.result = result


@dataclass(frozen=True)
class ModuleSpec:
    """A module's arguments and documentation.

    ``options`` are documented options (``description`` plus the argument spec's keys, with
    ``suboptions`` for a dict's own options); ``returns`` is RETURN's mapping; ``description``
    is one string per paragraph.
    """

    name: str
    short_description: str
    description: tuple[str, ...]
    options: Mapping[str, Mapping[str, Any]]
    returns: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    examples: str = ""
    check_mode: bool = True
    mutually_exclusive: tuple[tuple[str, ...], ...] = ()
    required_one_of: tuple[tuple[str, ...], ...] = ()
    required_if: tuple[tuple[Any, ...], ...] = ()
    required_by: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def argument_spec(self) -> dict[str, dict[str, Any]]:
        return {name: _argument(option) for name, option in self.options.items()}

    def constraints(self) -> dict[str, Any]:
        """The argument constraints that are set, as AnsibleModule's keyword arguments."""
        found: dict[str, Any] = {
            "mutually_exclusive": [list(group) for group in self.mutually_exclusive],
            "required_one_of": [list(group) for group in self.required_one_of],
            "required_if": [list(rule) for rule in self.required_if],
            "required_by": {k: list(v) for k, v in self.required_by.items()},
        }
        return {k: v for k, v in found.items() if v}

    def module_kwargs(self) -> dict[str, Any]:
        """Everything ``AnsibleModule(...)`` is given."""
        return {
            "argument_spec": self.argument_spec(),
            "supports_check_mode": self.check_mode,
            **self.constraints(),
        }

    def documentation(self) -> dict[str, Any]:
        """DOCUMENTATION's mapping."""
        return {
            "module": self.name,
            "short_description": self.short_description,
            "description": list(self.description),
            "options": {name: _documented(option) for name, option in self.options.items()},
            "author": "sweepops",
        }


def _argument(option: Mapping[str, Any]) -> dict[str, Any]:
    spec = {k: option[k] for k in _ARGUMENT_KEYS if k in option}
    if "suboptions" in option:
        spec["options"] = {n: _argument(o) for n, o in option["suboptions"].items()}
    return spec


def _documented(option: Mapping[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {"description": option["description"]}
    doc.update((k, option[k]) for k in _ARGUMENT_KEYS if k in option and k != "no_log")
    if "suboptions" in option:
        doc["suboptions"] = {n: _documented(o) for n, o in option["suboptions"].items()}
    return doc


def run_module(
    spec: ModuleSpec, function: Callable[[Params, bool], Result], module_class: Any
) -> None:
    """The whole ``main()`` of a module: validate the arguments, run, exit with the result."""
    module = module_class(**spec.module_kwargs())
    try:
        result = function(module.params, module.check_mode)
    except ModuleFailed as exc:
        module.fail_json(msg=exc.msg, **exc.result)
    module.exit_json(**result)
