"""What a user sets outside the experiment file: the inventory's cluster settings and the
deploy's ``-e`` values, checked before Ansible starts (issue 16.5, 16.12).

* :func:`check_inventory`: every inventory file parses (a broken ``hosts.yml`` is one line
  naming file and line, not Ansible's pages of parser warnings), and every setting in
  ``group_vars/``, ``host_vars/`` and the hosts files' ``vars`` is one sweepops knows (a typo
  like ``partiton`` is refused with a did-you-mean, as unknown experiment keys are).
  Ansible's own variables (``ansible_*``) pass; your own variables (e.g. for templating
  another setting) pass when they start with ``_``.
* :func:`parse_deploy_var`: ``-e`` values of a deploy (``clusters``, ``agents_per_sweep``,
  ``allow_dirty``, ``confirm_runs``, ...) with a message naming the ``-e`` and what to give.

The known settings are the roles' knobs (their ``defaults/main.yml``, and the settings
those defaults read, e.g. ``partition`` for ``sbatch_partition``) plus the ones the playbooks
read (:data:`PLAYBOOK_SETTINGS`), so a new knob is known where it is defined.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from sweepops.core.errors import SweepopsError
from sweepops.experiment.yamlsource import (
    KeyPath,
    YamlDoc,
    YamlSyntaxError,
    format_problem,
    parse_yaml,
)

#: Settings the playbooks read directly (not through a role's defaults), with what they do
#: (the README's table of settings is made from these and the roles' defaults).
PLAYBOOK_SETTINGS: dict[str, str] = {
    "scheduler": "How the cluster runs jobs: `slurm`, or `local` (agents on this machine).",
    "lab_root": "Directory on the disk the login and compute nodes share; deploys, sweeps, "
    "code snapshots and agent runtimes live under it.",
    "env_prefix": "The conda env or venv the jobs use, at the same absolute path as on the "
    "workstation (its `bin` first on PATH).",
    "env_drift_check": "Check before each deploy that the cluster's copy of the env is the "
    "workstation's (`true`).",
    "compute_internet": "Whether the compute nodes reach the wandb server: `true`, `false` or "
    "`auto` (what `sweepops provision` found; true when it never ran).",
    "snapshot_keep": "Code snapshots `sweepops gc` keeps besides the live ones (5).",
    "sweep_backend": "`wandb`, `offline` or `auto` when the experiment file does not say.",
    "wandb_entity": "wandb entity of the sweeps when the experiment file gives none.",
    "wandb_project": "wandb project of the sweeps when the experiment file gives none.",
    "wandb_base_url": "wandb server (e.g. a self-hosted one) when the experiment gives none.",
    "wandb_job_env": "Environment variables for the jobs' `wandb agent`, `{NAME: value}`.",
    "wandb_max_failed_runs": "`wandb agent --max-consecutive-failed-runs` (3).",
    "agents_per_sweep": "Agents per sweep when the experiment gives no `_num_nodes`.",
    "agent_lease_seconds": "Seconds a run may go without a heartbeat before another agent "
    "re-runs it.",
    "agent_max_consecutive_failures": "Consecutive failed runs after which an agent gives up.",
    "agent_python": "The command, after the activation, that runs the agent (`python`).",
    "confirm_runs_above": "A deploy of more runs than this asks for `--yes` / "
    "`-e confirm_runs=N` (1000).",
}
_REFERENCED = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\|\s*default")
_YAML_SUFFIXES = (".yml", ".yaml", ".json", "")
CONFIRM_RUNS_ABOVE = 1000


def known_settings(root: Path) -> frozenset[str]:
    """Every setting sweepops reads from the inventory (see the module docstring)."""
    import yaml

    names = set(PLAYBOOK_SETTINGS)
    for defaults in sorted((root / "roles").glob("*/defaults/main.yml")):
        text = defaults.read_text()
        data = yaml.safe_load(text) or {}
        names.update(str(k) for k in data)
        names.update(_REFERENCED.findall(text))
    return frozenset(names)


def is_free_name(name: str) -> bool:
    """Ansible's own variables and the user's own (``_`` first) are not checked."""
    return name.startswith(("ansible_", "_"))


# --------------------------------------------------------------------------- inventory


def inventory_files(sources: Iterable[str | Path]) -> Iterator[tuple[Path, str]]:
    """(file, kind) of each YAML file of the inventory sources: ``hosts`` files and
    ``vars`` files (group_vars/host_vars, whose top-level keys are settings)."""
    for source in sources:
        path = Path(source)
        if path.is_dir():
            for entry in sorted(path.iterdir()):
                if entry.is_file() and entry.suffix in (".yml", ".yaml"):
                    yield entry, "hosts"
            base = path
        elif path.is_file():
            if path.suffix in (".yml", ".yaml"):
                yield path, "hosts"
            base = path.parent
        else:
            continue
        for sub in ("group_vars", "host_vars"):
            folder = base / sub
            if not folder.is_dir():
                continue
            for entry in sorted(folder.rglob("*")):
                if (
                    entry.is_file()
                    and entry.suffix in _YAML_SUFFIXES
                    and not entry.name.startswith(".")
                ):
                    yield entry, "vars"


def check_inventory(sources: Sequence[str | Path], root: Path) -> list[str]:
    """Problems of the inventory, one line each (``FILE:LINE: key 'K': ...; allowed: ...``)."""
    known = known_settings(root)
    problems: list[str] = []
    for path, kind in inventory_files(sources):
        try:
            doc = parse_yaml(path.read_bytes(), str(path))
        except YamlSyntaxError as exc:
            problems.append(exc.problem)
            continue
        except OSError as exc:
            problems.append(f"{path}: cannot read: {exc.strerror}")
            continue
        if not isinstance(doc.data, dict):
            if doc.data is not None:
                problems.append(
                    doc.problem(
                        (), f"must be a mapping, got {type(doc.data).__name__}", "a mapping"
                    )
                )
            continue
        blocks = [((), doc.data)] if kind == "vars" else list(_var_blocks(doc.data, ()))
        for path_, block in blocks:
            problems += _unknown_keys(doc, path_, block, known)
    return problems


def _var_blocks(group: dict[Any, Any], path: KeyPath) -> Iterator[tuple[KeyPath, dict[Any, Any]]]:
    """The variable mappings of a YAML inventory: each group's ``vars`` and each host's."""
    for name, body in group.items():
        if not isinstance(body, dict):
            continue
        here = path + (name,)
        if isinstance(body.get("vars"), dict):
            yield here + ("vars",), body["vars"]
        hosts = body.get("hosts")
        if isinstance(hosts, dict):
            for host, host_vars in hosts.items():
                if isinstance(host_vars, dict):
                    yield here + ("hosts", host), host_vars
        if isinstance(body.get("children"), dict):
            yield from _var_blocks(body["children"], here + ("children",))


def _unknown_keys(
    doc: YamlDoc, path: KeyPath, block: dict[Any, Any], known: frozenset[str]
) -> list[str]:
    out = []
    for key in block:
        name = str(key)
        if name in known or is_free_name(name):
            continue
        close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.75)
        what = "unknown setting" + (
            f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
        )
        out.append(
            doc.problem(
                path + (key,),
                what,
                "the settings in the README (Running on a Slurm cluster), the roles' knobs, "
                "ansible_* variables, or a name starting with _ for your own",
            )
        )
    return out


def require_valid_inventory(sources: Sequence[str | Path], root: Path) -> None:
    """Raise one SweepopsError listing every inventory problem (nothing has run yet)."""
    problems = check_inventory(sources, root)
    if problems:
        raise SweepopsError(
            "the inventory has problems; nothing was created or run:\n" + "\n".join(problems),
            hint="fix the lines shown (a setting's name is checked like an experiment key)",
        )


# --------------------------------------------------------------------------- -e values


def _whole(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        if isinstance(value, str) and value.strip().isdigit() and int(value) >= minimum:
            return int(value)
        raise SweepopsError(
            f"-e {name}={_shown(value)}: expected a whole number >= {minimum}",
            hint=f"e.g. -e {name}={max(minimum, 2)}",
        )
    return value


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise SweepopsError(
        f"-e {name}={_shown(value)}: expected true or false", hint=f"-e {name}=true"
    )


def _clusters(name: str, value: Any) -> list[str]:
    names = [p.strip() for p in str(value if value is not None else "").split(",") if p.strip()]
    if not names:
        raise SweepopsError(
            f"-e {name}={_shown(value)} names no cluster",
            hint="give one or more inventory groups: -e clusters=atlas or -e clusters=atlas,babel "
            "(leave it out to run here)",
        )
    return names


def _confirm(name: str, value: Any) -> int | str:
    if str(value).strip().lower() in ("yes", "true", "any"):
        return "yes"
    return _whole(name, value, 1)


DEPLOY_VARS = {
    "clusters": _clusters,
    "agents_per_sweep": lambda n, v: _whole(n, v, 1),
    "agent_lease_seconds": lambda n, v: _whole(n, v, 1),
    "agent_max_consecutive_failures": lambda n, v: _whole(n, v, 1),
    "allow_dirty": _bool,
    "allow_duplicate": _bool,
    "max_requeues": lambda n, v: _whole(n, v, 0),
    "max_resumes": lambda n, v: _whole(n, v, 0),
    "bad_node_failures": lambda n, v: _whole(n, v, 0),
    "preempt_signal_seconds": lambda n, v: _whole(n, v, 0),
    "confirm_runs": _confirm,
    "confirm_runs_above": lambda n, v: _whole(n, v, 1),
}


def parse_deploy_var(name: str, value: Any) -> Any:
    """A deploy's ``-e NAME=VALUE``, parsed; SweepopsError naming it when it is wrong."""
    parser = DEPLOY_VARS.get(name)
    return parser(name, value) if parser else value


def check_deploy_vars(extra: dict[str, Any]) -> None:
    """Every known ``-e`` value of a deploy is well-formed (raises on the first that is not)."""
    for name, value in extra.items():
        parse_deploy_var(name, value)


def _shown(value: Any) -> str:
    return "" if value is None else str(value)


__all__ = [
    "CONFIRM_RUNS_ABOVE",
    "check_deploy_vars",
    "check_inventory",
    "format_problem",
    "known_settings",
    "parse_deploy_var",
    "require_valid_inventory",
]
