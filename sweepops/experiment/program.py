"""What a sweep runs, and where: the one place that resolves an experiment's ``program``.

``wandb agent`` substitutes ``program`` into ``command`` and starts the run in the directory
it was started in. So the program is what the command makes of it:

* a **file** where the command runs one: the default command (``${env} ${interpreter}
  ${program} ${args}``), or ``${program}`` anywhere but after ``-m``;
* a **module** after ``-m`` (``[${interpreter}, -m, ${program}, ${args}]``), found as
  ``python -m`` finds it from the run's working directory: ``a/b.py`` or ``a/b/__main__.py``;
* nothing to check where ``${program}`` appears nowhere in the command.

Relative paths mean what they mean to ``wandb agent`` started in the experiment file's
folder (wandb's examples keep ``sweep.yaml`` next to ``train.py``); a path relative to the
repository root works too. The experiment's folder is looked in first; the run's working
directory is the first of the two where the program is found (inside the code snapshot on a
cluster). Without a program to find, relative paths among the command's own words choose the
same way, and the experiment's folder is the default.

The result, :class:`ProgramRun`, travels in every sweep's ``sweep.json`` (``workdir``,
``program_file``): the agents, the job script and ``reproduce`` start runs there, and the
snapshot refuses a deploy whose program file git would leave out.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from sweepops.runtime.command import DEFAULT_COMMAND

FILE = "file"
MODULE = "module"
NONE = "none"

_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class ProgramProblem(ValueError):
    """The program cannot be found: ``what`` is wrong with key ``program``, ``allowed`` says
    what would do (validation turns it into a FILE:LINE problem)."""

    def __init__(self, what: str, allowed: str):
        super().__init__(f"{what}; allowed: {allowed}")
        self.what = what
        self.allowed = allowed


@dataclass(frozen=True)
class ProgramRun:
    """How a sweep's runs start.

    ``workdir``: the run's working directory, POSIX, relative to the repository root
    (``""`` = the root). ``program_file``: the repository-relative file that runs (the
    script, or the module's ``.py``/``__main__.py``), None when the command runs none we
    can name.
    """

    kind: str
    program: str | None
    workdir: str
    program_file: str | None

    def meta(self) -> dict[str, Any]:
        """What ``sweep.json`` records of it."""
        return {"workdir": self.workdir, "program_file": self.program_file}


def program_kind(command: Any) -> str:
    """``file``, ``module`` or ``none``: what ``${program}`` is in this command."""
    words = [str(w) for w in command] if isinstance(command, list) else list(DEFAULT_COMMAND)
    if not any("${program}" in w for w in words):
        return NONE
    for i, word in enumerate(words):
        if word == "${program}" and i > 0 and words[i - 1] == "-m":
            return MODULE
    return FILE


def module_files(module: str) -> tuple[str, str]:
    """The files ``python -m MODULE`` runs, relative to its sys.path entry."""
    parts = module.split(".")
    return "/".join(parts) + ".py", "/".join(parts) + "/__main__.py"


def experiment_folder(experiment_path: Path, root: Path) -> str | None:
    """The experiment file's folder relative to ``root`` (POSIX, ``""`` for the root), or
    None when the file is outside the repository (its folder is not in the snapshot)."""
    try:
        rel = experiment_path.resolve().parent.relative_to(root.resolve())
    except ValueError:
        return None
    return rel.as_posix() if rel.parts else ""


def resolve_program(data: Mapping[Any, Any], experiment_path: Path, root: Path) -> ProgramRun:
    """Resolve the experiment's program (``data`` is the file's top-level mapping).

    Raises :class:`ProgramProblem` when the command runs a program that is missing or is
    found in neither the experiment's folder nor the repository root (both named).
    """
    command = data.get("command")
    kind = program_kind(command)
    program = data.get("program")
    folder = experiment_folder(experiment_path, root)
    bases = [b for b in dict.fromkeys([folder, ""]) if b is not None]
    if kind == NONE:
        return ProgramRun(
            NONE, _str_or_none(program), _workdir_for_words(command, bases, root), None
        )
    if program is None or (isinstance(program, str) and not program.strip()):
        what = "a module" if kind == MODULE else "a file"
        raise ProgramProblem(
            f"missing, and the command (default or given) runs ${{program}} as {what}",
            _allowed(kind, bases, root),
        )
    if not isinstance(program, str):
        raise ProgramProblem(
            f"got {type(program).__name__} {program!r}", _allowed(kind, bases, root)
        )
    if kind == MODULE:
        return _resolve_module(program, bases, root)
    return _resolve_file(program, bases, root)


def _resolve_file(program: str, bases: Sequence[str], root: Path) -> ProgramRun:
    if os.path.isabs(program):
        if not Path(program).is_file():
            raise ProgramProblem(f"file {program!r} not found", _allowed(FILE, bases, root))
        inside = _inside(Path(program), root)
        return ProgramRun(FILE, program, bases[0], inside)
    for base in bases:
        candidate = _join(base, program)
        if candidate is not None and (root / candidate).is_file():
            return ProgramRun(FILE, program, base, candidate)
    raise ProgramProblem(
        f"file {program!r} not found {_places(bases, root)}", _allowed(FILE, bases, root)
    )


def _resolve_module(program: str, bases: Sequence[str], root: Path) -> ProgramRun:
    if not _MODULE_NAME.match(program):
        hint = program.removesuffix(".py").replace("/", ".").strip(".")
        raise ProgramProblem(
            f"{program!r} follows -m in the command, so it must be a module name"
            + (f" (like {hint!r})" if _MODULE_NAME.match(hint) else ""),
            _allowed(MODULE, bases, root),
        )
    for base in bases:
        for rel in module_files(program):
            candidate = _join(base, rel)
            if candidate is not None and (root / candidate).is_file():
                return ProgramRun(MODULE, program, base, candidate)
    looked = " or ".join(module_files(program))
    raise ProgramProblem(
        f"module {program!r} not found: no {looked} {_places(bases, root)}",
        _allowed(MODULE, bases, root),
    )


def _workdir_for_words(command: Any, bases: Sequence[str], root: Path) -> str:
    """Without a program: the first base in which every relative path among the command's
    words that names a file somewhere is found (the experiment's folder by default)."""
    words = [str(w) for w in command] if isinstance(command, list) else []
    paths = [
        w
        for w in words
        if not w.startswith(("$", "-", "/")) and ("/" in w or "." in w) and " " not in w
    ]
    found = {
        base: {w for w in paths if (c := _join(base, w)) and (root / c).is_file()} for base in bases
    }
    named = set().union(*found.values()) if found else set()
    for base in bases:
        if found[base] == named:
            return base
    return bases[0]


def _join(base: str, rel: str) -> str | None:
    """``base/rel`` normalised, POSIX, relative to the root; None if it leaves the root."""
    joined = os.path.normpath(os.path.join(base or ".", rel))
    if joined == ".." or joined.startswith("../") or os.path.isabs(joined):
        return None
    return PurePosixPath(joined).as_posix()


def _inside(path: Path, root: Path) -> str | None:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return None


def _places(bases: Sequence[str], root: Path) -> str:
    named = [
        f"the experiment's folder {root / b}" if b else f"the repository root {root}" for b in bases
    ]
    return f"in neither {named[0]} nor {named[1]}" if len(named) > 1 else f"in {named[0]}"


def _allowed(kind: str, bases: Sequence[str], root: Path) -> str:
    where = " or ".join(f"{root / b}" if b else f"{root}" for b in bases)
    if kind == MODULE:
        return f"a module name (a.b for a/b.py or a/b/__main__.py) importable from {where}"
    return f"a file path relative to {where} (the experiment's folder is looked in first)"


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def program_of_experiment(exp_ref: str, root: Path) -> ProgramRun | None:
    """The program of experiment ``exp_ref`` (a name or path), read cheaply (YAML only, no
    schema), for the snapshot's check before anything is made. None when the file cannot be
    read as a mapping (the sweeps step reports that, with every other problem).
    Raises :class:`~sweepops.core.errors.SweepopsError` (FILE:LINE) when the program is not
    found."""
    from sweepops.core.errors import ExperimentError
    from sweepops.experiment.paths import resolve_experiment
    from sweepops.experiment.yamlsource import YamlSyntaxError, parse_yaml

    path = resolve_experiment(exp_ref, root)
    try:
        doc = parse_yaml(path.read_bytes(), str(path))
    except (OSError, YamlSyntaxError):
        return None
    if not isinstance(doc.data, dict):
        return None
    try:
        return resolve_program(doc.data, path, root)
    except ProgramProblem as exc:
        raise ExperimentError(
            [doc.problem(("program",), exc.what, exc.allowed)],
            hint=f"fix {path} at the line shown; nothing was created",
        ) from None
