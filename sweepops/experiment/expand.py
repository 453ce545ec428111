"""Experiments: wandb sweep YAML files, expanded into the sweeps sweepops will run.

An experiment file is a standard wandb sweep config plus:

* shorthand in ``parameters``: ``lr: 0.1`` means ``{value: 0.1}``, ``bs: [16, 32]`` means
  ``{values: [16, 32]}`` (also inside nested ``parameters:`` and subtest blocks);
* composites: ``parameters.subtests`` maps ``"tag1,tag2"`` to a block of parameters; each
  subtest is its own sweep inheriting the shared parameters (a subtest naming the same
  parameter replaces it whole);
* extension settings ``_num_trials``, ``_num_nodes``, ``_time_per_run``, ``_gpus_per_run``
  at the top level, in ``parameters`` or in a subtest block (innermost wins). They never
  reach the wandb config.
"""

from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweepops.core.errors import ExperimentError, SweepopsError
from sweepops.experiment.program import NONE, ProgramRun, resolve_program
from sweepops.experiment.validate import (
    SPEC_KEYS,
    TOP_LEVEL_SETTINGS,
    SweepSource,
    is_extension_key,
    parse_extensions,
    split_tags,
    validate_experiment,
)
from sweepops.experiment.yamlsource import KeyPath, YamlDoc, YamlSyntaxError, parse_yaml

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class SweepSpec:
    """One wandb sweep to create, with sweepops' settings for running it."""

    name: str
    tags: tuple[str, ...]
    config: dict[str, Any]  # pure wandb sweep config; `name` set to the spec name
    agents: int | None  # _num_nodes
    time_per_run: float | None  # seconds
    gpus_per_run: int


@dataclass(frozen=True)
class Experiment:
    """A loaded, expanded and validated experiment file."""

    path: Path
    name: str
    sha256: str
    raw: dict[str, Any]
    sweeps: tuple[SweepSpec, ...]
    #: what the runs start and where (sweepops.experiment.program); recorded in every sweep.json
    program: ProgramRun = ProgramRun(NONE, None, "", None)


@dataclass(frozen=True)
class _Expanded:
    """A sweep before validation: the spec plus where its keys came from in the file."""

    spec: SweepSpec
    origins: dict[KeyPath, KeyPath]


# --------------------------------------------------------------------------- loading


def load_experiment(path: Path, code_root: Path) -> Experiment:
    """Parse, expand and validate an experiment file.

    ``code_root`` is the repository; the program the command runs must be found from the
    experiment's folder or from ``code_root`` (:mod:`sweepops.experiment.program`). Raises
    :class:`ExperimentError` listing every problem found (each
    ``FILE:LINE: key 'KEY': ...; allowed: ...``).
    """
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise SweepopsError(
            f"cannot read experiment file: {exc.strerror}", where=str(path)
        ) from exc
    try:
        doc = parse_yaml(content, str(path))
    except YamlSyntaxError as exc:
        raise ExperimentError([exc.problem], hint="fix the YAML syntax first") from exc
    expanded = expand(doc.data, path.stem) if isinstance(doc.data, dict) else []
    sources = [SweepSource(e.spec.name, e.spec.config, e.origins) for e in expanded]
    problems = validate_experiment(doc, sources, code_root)
    if problems:
        raise ExperimentError(problems, hint=_hint(doc))
    return Experiment(
        path=path.absolute(),
        name=path.stem,
        sha256=hashlib.sha256(content).hexdigest(),
        raw=doc.data,
        sweeps=tuple(e.spec for e in expanded),
        program=resolve_program(doc.data, path, code_root),
    )


def _hint(doc: YamlDoc) -> str:
    return f"fix {doc.file} at the lines shown; see wandb's sweep configuration reference"


# --------------------------------------------------------------------------- expansion


def expand(raw: dict[str, Any], stem: str) -> list[_Expanded]:
    """Expand a raw experiment mapping into sweeps (best effort: invalid parts are left
    for validation to report, never raised here)."""
    params = raw.get("parameters")
    base = {
        k: v
        for k, v in raw.items()
        if not is_extension_key(k) and k != "name" and k not in TOP_LEVEL_SETTINGS
    }
    top_ext = parse_extensions(raw)
    if not isinstance(params, dict):
        return _with_trials(stem, (), base, {}, top_ext)
    shared_ext = {**top_ext, **parse_extensions(params)}
    origins: dict[KeyPath, KeyPath] = {}
    shared = _expand_block(params, ("parameters",), origins)
    subtests = params.get("subtests")
    if not isinstance(subtests, dict) or not subtests:
        return _with_trials(stem, (), {**base, "parameters": shared}, origins, shared_ext)
    sweeps: list[_Expanded] = []
    for key, block in subtests.items():
        if not isinstance(block, dict):
            continue
        sub_origins = dict(origins)
        overrides = _expand_block(block, ("parameters", "subtests", key), sub_origins)
        config = {**base, "parameters": {**shared, **overrides}}
        ext = {**shared_ext, **parse_extensions(block)}
        tags = split_tags(key)
        sweeps += _with_trials(_subtest_name(stem, tags), tags, config, sub_origins, ext)
    return sweeps


def _expand_block(
    block: dict[Any, Any], file_path: KeyPath, origins: dict[KeyPath, KeyPath]
) -> dict[Any, Any]:
    """Expand one block of parameters; record where each parameter came from."""
    expanded: dict[Any, Any] = {}
    for name, spec in block.items():
        if is_extension_key(name) or name == "subtests":
            continue
        expanded[name] = expand_parameter(spec)
        origins[("parameters", name)] = file_path + (name,)
    return expanded


def expand_parameter(spec: Any) -> Any:
    """Shorthand → wandb parameter spec: scalar → ``{value: x}``, list → ``{values: [...]}``;
    spec mappings are copied, expanding nested ``parameters``. A mapping without any spec
    key is returned unchanged (validation reports it)."""
    if isinstance(spec, list):
        return {"values": copy.deepcopy(spec)}
    if not isinstance(spec, dict):
        return {"value": spec}
    if not SPEC_KEYS.intersection(spec):
        return copy.deepcopy(spec)
    expanded = copy.deepcopy(spec)
    nested = spec.get("parameters")
    if isinstance(nested, dict):
        expanded["parameters"] = {k: expand_parameter(v) for k, v in nested.items()}
    return expanded


def sanitize_tag(tag: str) -> str:
    """A tag as it appears in sweep names: characters outside [A-Za-z0-9_.-] → ``_``."""
    return _UNSAFE.sub("_", tag)


def _subtest_name(stem: str, tags: tuple[str, ...]) -> str:
    return f"{stem}_{'-'.join(sanitize_tag(t) for t in tags)}"


def _with_trials(
    name: str,
    tags: tuple[str, ...],
    config: dict[str, Any],
    origins: dict[KeyPath, KeyPath],
    ext: dict[str, Any],
) -> list[_Expanded]:
    """One sweep, or ``_num_trials`` copies named ``<name>_t<i>`` tagged ``trial<i>``."""
    trials = ext.get("_num_trials")
    if trials is None:
        return [_make(name, tags, config, origins, ext)]
    return [
        _make(f"{name}_t{i}", tags + (f"trial{i}",), config, origins, ext)
        for i in range(1, trials + 1)
    ]


def _make(
    name: str,
    tags: tuple[str, ...],
    config: dict[str, Any],
    origins: dict[KeyPath, KeyPath],
    ext: dict[str, Any],
) -> _Expanded:
    spec = SweepSpec(
        name=name,
        tags=tags,
        config={"name": name, **copy.deepcopy(config)},
        agents=ext.get("_num_nodes"),
        time_per_run=ext.get("_time_per_run"),
        gpus_per_run=ext.get("_gpus_per_run", 1),
    )
    return _Expanded(spec=spec, origins=origins)
