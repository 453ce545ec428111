"""The run command line, built exactly as ``wandb agent`` builds it.

Default command ``${env} ${interpreter} ${program} ${args}``. A macro is replaced only when it
is a whole list element; ``${envvar:NAME}`` is replaced anywhere inside an element (left as
``NAME`` when unset, as wandb does).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

DEFAULT_COMMAND = ["${env}", "${interpreter}", "${program}", "${args}"]
_ENVVAR = re.compile(r"\$\{envvar:([A-Z0-9_]*)\}")


def macro_values(params: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
    """Every argument macro for a run's parameters (``{"lr": {"value": 0.1}}``)."""
    flags: list[str] = []
    no_hyphens: list[str] = []
    no_booleans: list[str] = []
    no_equals: list[str] = []
    append_hydra: list[str] = []
    override_hydra: list[str] = []
    as_dict: dict[str, Any] = {}
    for name, spec in params.items():
        value = spec["value"]
        flag = f"{name}={value}"
        flags.append("--" + flag)
        no_hyphens.append(flag)
        no_equals += [f"--{name}", str(value)]
        append_hydra.append("+" + flag)
        override_hydra.append("++" + flag)
        if isinstance(value, bool):
            if value:
                no_booleans.append("--" + name)
        else:
            no_booleans.append("--" + flag)
        as_dict[name] = value
    return {
        "args": flags,
        "args_no_equals": no_equals,
        "args_no_hyphens": no_hyphens,
        "args_no_boolean_flags": no_booleans,
        "args_json": [json.dumps(as_dict)],
        "args_append_hydra": append_hydra,
        "args_override_hydra": override_hydra,
    }


def build_command(
    command: list[Any] | None,
    *,
    program: str | None,
    params: Mapping[str, Mapping[str, Any]],
    args_json_file: str,
    interpreter: str = "python",
    environ: Mapping[str, str] | None = None,
) -> list[str]:
    """The argv for one run. ``args_json_file`` is the path ``${args_json_file}`` becomes."""
    environ = os.environ if environ is None else environ
    values = macro_values(params)
    values.update(
        env=["/usr/bin/env"],
        interpreter=[interpreter],
        program=[program] if program else [],
        args_json_file=[args_json_file],
    )
    argv: list[str] = []
    for element in command or DEFAULT_COMMAND:
        text = _ENVVAR.sub(lambda m: environ.get(m.group(1), m.group(1)), str(element))
        if text.startswith("${") and text.endswith("}"):
            argv += values.get(text[2:-1]) or []
        else:
            argv.append(text)
    return argv


def needs_args_json_file(command: list[Any] | None) -> bool:
    return any(str(c) == "${args_json_file}" for c in command or ())
