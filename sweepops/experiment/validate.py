"""Validation of experiment files: wandb's sweep schema plus sweepops' extensions.

Every problem is one string ``FILE:LINE: key 'KEY': WHAT IS WRONG; allowed: ...`` where
KEY is the dotted path of the key *in the file* (e.g. ``parameters.subtests.small.lr``).

Two kinds of checks run:

* on the raw document (:func:`check_raw`): top level is a mapping, extension settings
  (``_num_trials`` ...), parameter shorthand, composite ``subtests`` structure;
* on each expanded sweep config (:func:`check_sweep`): wandb's JSON schema from the
  ``sweeps`` package (``sweeps.config.schema.validator``), plus clearer checks of our own
  for method, metric, ``value``+``values`` and grid-vs-continuous distributions.

Expanded configs carry an *origin map* (expanded key path → key path in the file) so a
schema error in a composite's expanded sweep points at the line the user wrote.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError, best_match

from sweepops.backends.select import BACKENDS
from sweepops.experiment.yamlsource import DOCUMENT_KEY, KeyPath, YamlDoc, format_problem

METHODS = ("grid", "random", "bayes")
GOALS = ("minimize", "maximize")
SPEC_KEYS = frozenset(
    {
        "value",
        "values",
        "distribution",
        "min",
        "max",
        "mu",
        "sigma",
        "q",
        "a",
        "b",
        "probabilities",
        "parameters",
    }
)
GRID_KINDS = frozenset(
    {"param_single_value", "param_categorical", "param_int_uniform", "param_quniform"}
)
SHORTHAND_HINT = "write `value: {...}` for a dict value, or `parameters:` for nested parameters"
EXTENSION_ALLOWED = "_num_trials, _num_nodes, _time_per_run, _gpus_per_run"
DURATION_ALLOWED = "seconds as a number, or '90s', '10m', '1.5h', '2h30m', '1:30:00'"

_UNIT_RE = re.compile(
    r"^(?:(?P<h>\d+(?:\.\d+)?)h)?(?:(?P<m>\d+(?:\.\d+)?)m)?(?:(?P<s>\d+(?:\.\d+)?)s)?$"
)
_CLOCK_RE = re.compile(r"^(?:(?P<h>\d+):)?(?P<m>\d{1,2}):(?P<s>\d{1,2}(?:\.\d+)?)$")


# --------------------------------------------------------------------------- extensions


def parse_duration(value: Any) -> float:
    """Parse a duration to seconds: a number, ``"90s"``, ``"10m"``, ``"1.5h"``,
    ``"2h30m"`` or ``"1:30:00"``. Raises ``ValueError`` unless it is a positive duration."""
    if isinstance(value, bool):
        raise ValueError(f"got {value!r}, not a duration")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _parse_duration_text(value.strip().lower())
    else:
        raise ValueError(f"got {type(value).__name__} {value!r}, not a duration")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"got {value!r}, a duration must be positive")
    return seconds


def _parse_duration_text(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    for regex in (_CLOCK_RE, _UNIT_RE):
        match = regex.match(text)
        if match and text:
            parts = {k: float(v) if v else 0.0 for k, v in match.groupdict().items()}
            return parts["h"] * 3600 + parts["m"] * 60 + parts["s"]
    raise ValueError(f"cannot read {text!r} as a duration")


def _parse_int(value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"got {value!r}, expected an integer >= {minimum}")
    if value < minimum:
        raise ValueError(f"got {value}, expected an integer >= {minimum}")
    return value


EXTENSIONS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "_num_trials": (lambda v: _parse_int(v, 1), "an integer >= 1"),
    "_num_nodes": (lambda v: _parse_int(v, 1), "an integer >= 1"),
    "_time_per_run": (parse_duration, DURATION_ALLOWED),
    "_gpus_per_run": (lambda v: _parse_int(v, 0), "an integer >= 0"),
}


#: Top-level sweepops settings without a leading ``_`` (kept out of the wandb config).
TOP_LEVEL_SETTINGS: dict[str, tuple[str, ...]] = {"sweep_backend": (*BACKENDS, "auto")}


def parse_extensions(block: Mapping[Any, Any]) -> dict[str, Any]:
    """The valid extension settings (``_`` keys) of ``block``, parsed. Invalid or unknown
    ones are skipped here; :func:`check_raw` reports them."""
    parsed: dict[str, Any] = {}
    for key, value in block.items():
        if key in EXTENSIONS:
            try:
                parsed[key] = EXTENSIONS[key][0](value)
            except ValueError:
                continue
    return parsed


def is_extension_key(key: Any) -> bool:
    """True for keys that are sweepops settings rather than wandb config (``_...``)."""
    return isinstance(key, str) and key.startswith("_")


def split_tags(key: Any) -> tuple[str, ...]:
    """Tags of a subtest key: ``"small, fast"`` → ``("small", "fast")``."""
    return tuple(tag.strip() for tag in str(key).split(",") if tag.strip())


# --------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class SweepSource:
    """One expanded sweep to validate: its config and where its keys came from.

    ``origins`` maps expanded key paths to file key paths; a path not covered by any
    prefix in ``origins`` is assumed to be where it is in the file.
    """

    name: str
    config: dict[str, Any]
    origins: Mapping[KeyPath, KeyPath] = field(default_factory=dict)

    def to_file_path(self, path: KeyPath) -> KeyPath:
        """Map an expanded key path back to the key path in the file."""
        for end in range(len(path), 0, -1):
            origin = self.origins.get(tuple(path[:end]))
            if origin is not None:
                return tuple(origin) + tuple(path[end:])
        return tuple(path)


class ProblemList:
    """Collects problems once each, remembering which file paths are already covered."""

    def __init__(self, doc: YamlDoc):
        self.doc = doc
        self.lines: list[tuple[int, str]] = [(_line_in(text), text) for text in doc.problems]
        self.covered: list[KeyPath] = []

    @property
    def items(self) -> list[str]:
        """The problems, ordered by line (stable)."""
        return [text for _, text in sorted(self.lines, key=lambda item: item[0])]

    def add(self, path: KeyPath, what: str, allowed: str) -> None:
        text = self.doc.problem(path, what, allowed)
        if all(text != seen for _, seen in self.lines):
            self.lines.append((self.doc.line_of(path), text))
        self.covered.append(tuple(path))

    def is_covered(self, path: KeyPath) -> bool:
        """A schema error at ``path`` adds nothing if a clearer problem covers it."""
        for done in self.covered:
            if done and path[: len(done)] == done:
                return True
            in_parameter = len(path) >= 2 and path[0] == "parameters"
            if in_parameter and done[: len(path)] == path:
                return True
        return False


# --------------------------------------------------------------------------- entry point


def validate_experiment(
    doc: YamlDoc, sweeps: Sequence[SweepSource], code_root: Path | None = None
) -> list[str]:
    """All problems of an experiment: the raw document, every expanded sweep, and the
    program (found from the experiment's folder or ``code_root`` as the command runs it;
    skipped when ``code_root`` is None). Returns [] when valid."""
    problems = ProblemList(doc)
    if not isinstance(doc.data, dict):
        _check_top_level(doc.data, problems)
        return problems.items
    check_raw(doc.data, problems)
    if code_root is not None:
        check_program(doc.data, code_root, problems, Path(doc.file))
    _check_unique_names(sweeps, problems)
    for sweep in sweeps:
        check_sweep(sweep, problems)
    return problems.items


def _check_top_level(data: Any, problems: ProblemList) -> None:
    got = "an empty file" if data is None else f"a {type(data).__name__}"
    problems.add(
        (),
        f"the top level must be a mapping, got {got}",
        "a mapping of sweep settings (program, method, metric, parameters, ...)",
    )


def _check_unique_names(sweeps: Sequence[SweepSource], problems: ProblemList) -> None:
    seen: set[str] = set()
    for sweep in sweeps:
        if sweep.name in seen:
            problems.add(
                ("parameters", "subtests"),
                f"two subtests give the same sweep name {sweep.name!r}",
                "tag lists that stay distinct after replacing characters outside "
                "[A-Za-z0-9_.-] with '_'",
            )
        seen.add(sweep.name)


# --------------------------------------------------------------------------- raw checks


def check_raw(data: dict[Any, Any], problems: ProblemList) -> None:
    """Checks of the file as written: extensions, shorthand, composite structure."""
    _check_extensions(data, (), problems)
    for key, allowed in TOP_LEVEL_SETTINGS.items():
        if key in data and data[key] not in allowed:
            problems.add((key,), f"got {data[key]!r}", ", ".join(allowed))
    if "subtests" in data:
        problems.add(
            ("subtests",),
            "`subtests` must be inside `parameters`",
            "parameters: {subtests: {'tag1,tag2': {...}}}",
        )
    if "parameters" not in data:
        problems.add(
            ("parameters",),
            "missing: every sweep needs parameters",
            "a mapping of parameter name -> spec (and optionally `subtests`)",
        )
        return
    params = data["parameters"]
    if not isinstance(params, dict):
        problems.add(
            ("parameters",),
            f"must be a mapping, got {_describe(params)}",
            "a mapping of parameter name -> spec (and optionally `subtests`)",
        )
        return
    _check_extensions(params, ("parameters",), problems)
    _check_parameter_block(params, ("parameters",), problems, top=True)
    if "subtests" in params:
        _check_subtests(params["subtests"], problems)


def _check_extensions(block: Mapping[Any, Any], path: KeyPath, problems: ProblemList) -> None:
    for key, value in block.items():
        if not is_extension_key(key):
            continue
        if key not in EXTENSIONS:
            problems.add(path + (key,), "unknown extension setting", EXTENSION_ALLOWED)
            continue
        parser, allowed = EXTENSIONS[key]
        try:
            parser(value)
        except ValueError as exc:
            problems.add(path + (key,), str(exc), allowed)


def _check_subtests(subtests: Any, problems: ProblemList) -> None:
    path: KeyPath = ("parameters", "subtests")
    allowed = "a mapping of 'tag1,tag2' -> block of parameters"
    if not isinstance(subtests, dict) or not subtests:
        problems.add(path, f"must be a non-empty mapping, got {_describe(subtests)}", allowed)
        return
    for key, block in subtests.items():
        sub_path = path + (key,)
        if not split_tags(key):
            problems.add(sub_path, "a subtest needs at least one tag", "'tag1,tag2'")
        if not isinstance(block, dict):
            problems.add(
                sub_path,
                f"subtest block must be a mapping, got {_describe(block)}",
                "a mapping of parameter name -> spec (overriding the shared parameters); "
                "`{}` for the shared parameters unchanged",
            )
            continue
        if "subtests" in block:
            problems.add(
                sub_path + ("subtests",),
                "subtests cannot be nested inside a subtest (they would be dropped)",
                "one level: give each combination its own 'tag1,tag2' key in parameters.subtests",
            )
        _check_extensions(block, sub_path, problems)
        _check_parameter_block(block, sub_path, problems, top=True)


def _check_parameter_block(
    block: Mapping[Any, Any], path: KeyPath, problems: ProblemList, top: bool
) -> None:
    for name, spec in block.items():
        if top and (is_extension_key(name) or name == "subtests"):
            continue
        if not isinstance(spec, dict):
            continue  # shorthand for value / values
        param_path = path + (name,)
        if not SPEC_KEYS.intersection(spec):
            problems.add(
                param_path,
                "a mapping needs a parameter spec key (value, values, distribution, min, "
                f"max, ...); {SHORTHAND_HINT}",
                ", ".join(sorted(SPEC_KEYS)),
            )
            continue
        if "value" in spec and "values" in spec:
            problems.add(
                param_path,
                "has both `value` and `values`",
                "`value: x` for a constant, or `values: [...]` to sweep over a list",
            )
        nested = spec.get("parameters")
        if isinstance(nested, dict):
            _check_parameter_block(nested, param_path + ("parameters",), problems, top=False)


def check_program(
    data: dict[Any, Any], code_root: Path, problems: ProblemList, experiment_path: Path
) -> None:
    """The program the command runs must be found (see :mod:`sweepops.experiment.program`)."""
    from sweepops.experiment.program import ProgramProblem, resolve_program

    try:
        resolve_program(data, experiment_path, code_root)
    except ProgramProblem as exc:
        problems.add(("program",), exc.what, exc.allowed)


# --------------------------------------------------------------------------- sweep checks


def check_sweep(sweep: SweepSource, problems: ProblemList) -> None:
    """Checks of one expanded sweep config: ours first, then wandb's schema."""
    config = sweep.config
    _check_method(config, problems)
    _check_metric(config, problems)
    params = config.get("parameters")
    if isinstance(params, dict):
        _check_grid(sweep, params, ("parameters",), problems)
    _check_schema(sweep, problems)


def _check_method(config: Mapping[str, Any], problems: ProblemList) -> None:
    allowed = ", ".join(METHODS)
    if "method" not in config:
        problems.add(("method",), "missing", allowed)
    elif config["method"] not in METHODS:
        problems.add(("method",), f"unknown method {config['method']!r}", allowed)


def _check_metric(config: Mapping[str, Any], problems: ProblemList) -> None:
    metric = config.get("metric")
    allowed = "metric: {name: <a metric your program logs>, goal: minimize|maximize}"
    if metric is None:
        if config.get("method") == "bayes":
            problems.add(("method",), "bayes search needs a `metric` to optimize", allowed)
        if "early_terminate" in config:
            problems.add(("early_terminate",), "early termination needs a `metric`", allowed)
        return
    if isinstance(metric, dict) and "goal" in metric and metric["goal"] not in GOALS:
        problems.add(("metric", "goal"), f"unknown goal {metric['goal']!r}", ", ".join(GOALS))


def _check_grid(
    sweep: SweepSource, params: Mapping[Any, Any], path: KeyPath, problems: ProblemList
) -> None:
    if sweep.config.get("method") != "grid":
        return
    for name, spec in params.items():
        if not isinstance(spec, dict):
            continue
        kind = parameter_kind(spec)
        if kind == "param_dict" and isinstance(spec.get("parameters"), dict):
            _check_grid(sweep, spec["parameters"], path + (name, "parameters"), problems)
        elif kind is not None and kind not in GRID_KINDS:
            where = path + (name,)
            where = where + ("distribution",) if "distribution" in spec else where
            problems.add(
                sweep.to_file_path(where),
                f"grid search cannot enumerate a {kind.removeprefix('param_')} parameter",
                "value, values (without probabilities), int_uniform, q_uniform; "
                "or use method: random / bayes",
            )


def parameter_kind(spec: Mapping[str, Any]) -> str | None:
    """The wandb schema definition a parameter spec matches (``param_int_uniform``,
    ``param_normal``, ``param_dict`` ...), or None if it matches none."""
    from sweeps.config.schema import ParamValidationError, fill_parameter

    try:
        result = fill_parameter("p", dict(spec))
    except ParamValidationError:
        return "param_dict"
    except (ValueError, TypeError, jsonschema.ValidationError):
        return None
    return str(result[0]) if result else None


# --------------------------------------------------------------------------- wandb schema


def _check_schema(sweep: SweepSource, problems: ProblemList) -> None:
    from sweeps.config.schema import validator

    errors = list(validator.iter_errors(sweep.config))
    for path, what, allowed in _describe_errors(errors, sweep.config):
        file_path = sweep.to_file_path(path)
        if not problems.is_covered(file_path):
            problems.add(file_path, what, allowed)
    known = {error.message for error in errors}
    for path, message in _extra_violations(sweep.config, known):
        file_path = sweep.to_file_path(path)
        if not problems.is_covered(file_path):
            hint = next((a for key, a in _EXTRA_ALLOWED if key in message), None)
            problems.add(file_path, message, hint or "see wandb's sweep configuration reference")


def _describe_errors(
    errors: Iterable[ValidationError], config: Any
) -> Iterator[tuple[KeyPath, str, str]]:
    for error in errors:
        path = tuple(error.absolute_path)
        if _is_parameter_path(path) and error.validator == "anyOf":
            yield from _describe_parameter_error(error, path, config)
        else:
            yield _describe_error(error, path)


def _is_parameter_path(path: KeyPath) -> bool:
    """``parameters.x`` or ``parameters.x.parameters.y`` ..."""
    return len(path) >= 2 and len(path) % 2 == 0 and all(p == "parameters" for p in path[::2])


def _describe_parameter_error(
    error: ValidationError, path: KeyPath, config: Any
) -> Iterator[tuple[KeyPath, str, str]]:
    spec = _get(config, path)
    if isinstance(spec, dict) and isinstance(spec.get("parameters"), dict):
        inner = [e for e in error.context or [] if len(e.absolute_path) > len(path)]
        if inner:
            yield from _describe_errors(inner, config)
            return
    bad_key = _bad_key(spec) if isinstance(spec, dict) else None
    if bad_key is not None:
        yield path + (bad_key[0],), bad_key[1], bad_key[2]
        return
    yield path, *_parameter_message(spec, error)


def _bad_key(spec: Mapping[Any, Any]) -> tuple[str, str, str] | None:
    """The first key of a parameter spec whose value no matching distribution accepts, as
    (key, what, allowed): ``min: low``, ``values: []``, ``min: 0`` of a log distribution.
    None when every value fits (then the spec's shape is what is wrong)."""
    if any(k not in SPEC_KEYS for k in spec):
        return None
    dist = spec.get("distribution")
    keys = set(spec)
    variants = [
        (names, props)
        for names, props, required in _variants()
        if (
            dist in names if dist is not None else required - {"distribution"} <= keys <= set(props)
        )
    ]
    for key, value in spec.items():
        schemas = [props[key] for _, props in variants if key in props]
        if key == "distribution" or not schemas:
            continue
        if any(jsonschema.Draft7Validator(schema).is_valid(value) for schema in schemas):
            continue
        allowed = _value_allowed(schemas[0])
        if dist is not None:
            allowed += f" for distribution {dist!r}"
            if "exclusiveMinimum" in schemas[0] and "log" in str(dist):
                allowed += " (it samples the logarithm)"
        return str(key), f"got {_describe(value)}", allowed
    return None


def _value_allowed(schema: Mapping[str, Any]) -> str:
    kind = {"number": "a number", "integer": "an integer", "array": "a list"}.get(
        str(schema.get("type")), "a value"
    )
    if schema.get("minItems"):
        kind = f"a list of at least {schema['minItems']} value(s)"
    for bound, sign in _BOUNDS.items():
        if bound in schema:
            kind += f" {sign} {schema[bound]}"
    return kind


def _variants() -> list[tuple[set[str], dict[str, Any], set[str]]]:
    """Each parameter schema variant: (distribution names, properties, required keys)."""
    from sweeps.config.schema import dereferenced_sweep_config_jsonschema as schema

    found = []
    for name, definition in schema["definitions"].items():
        if not name.startswith("param_") or name == "param_dict":
            continue
        for variant in definition.get("anyOf", [definition]):
            props = variant.get("properties", {}) if isinstance(variant, dict) else {}
            names = set(props.get("distribution", {}).get("enum", []))
            found.append((names, props, set(variant.get("required", []))))
    return found


def _parameter_message(spec: Any, error: ValidationError) -> tuple[str, str]:
    distributions = _distributions()
    if not isinstance(spec, dict):
        return f"must be a mapping, got {_describe(spec)}", ", ".join(sorted(SPEC_KEYS))
    unknown = sorted(str(k) for k in spec if k not in SPEC_KEYS)
    if unknown:
        return f"unknown key(s) {', '.join(unknown)}", ", ".join(sorted(SPEC_KEYS))
    dist = spec.get("distribution")
    if dist is not None and dist not in distributions:
        return f"unknown distribution {dist!r}", ", ".join(sorted(distributions))
    if dist is not None:
        keys, required = distributions[dist]
        allowed = f"distribution {dist!r} takes {', '.join(sorted(keys))}"
        missing = sorted(required - set(spec))
        extra = sorted(str(k) for k in spec if k not in keys)
        if missing:
            return f"missing {', '.join(missing)} for distribution {dist!r}", allowed
        if extra:
            return f"{', '.join(extra)} not used by distribution {dist!r}", allowed
    else:
        allowed = "value | values [+ probabilities] | min+max | distribution with its keys"
    detail = best_match(error.context or [error]).message
    return f"not a valid parameter spec ({detail})", allowed


def _distributions() -> dict[str, tuple[set[str], set[str]]]:
    """distribution name → (keys its schema accepts, keys it always requires)."""
    from sweeps.config.schema import dereferenced_sweep_config_jsonschema as schema

    found: dict[str, tuple[set[str], set[str]]] = {}
    for definition in schema["definitions"].values():
        for variant in definition.get("anyOf", [definition]):
            props = variant.get("properties", {}) if isinstance(variant, dict) else {}
            required = set(variant.get("required", [])) if isinstance(variant, dict) else set()
            for name in props.get("distribution", {}).get("enum", []):
                keys, always = found.setdefault(name, (set(), set(required)))
                keys.update(props)
                always.intersection_update(required)
    return found


_BOUNDS = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}


def _describe_error(error: ValidationError, path: KeyPath) -> tuple[KeyPath, str, str]:
    schema = error.schema if isinstance(error.schema, dict) else {}
    kind, instance = error.validator, error.instance
    if kind == "enum":
        return path, f"got {instance!r}", ", ".join(map(str, error.validator_value))
    if kind == "type":
        return path, f"got {_describe(instance)}", f"a value of type {error.validator_value}"
    if kind == "required":
        missing = _quoted(error.message)
        return path + (missing,), "missing required key", f"add `{missing}`"
    if kind == "additionalProperties" and isinstance(instance, dict):
        props = schema.get("properties", {})
        extra = next((k for k in instance if k not in props), None)
        allowed = ", ".join(sorted(props)) or "no keys"
        return path + (extra,), "unknown key", allowed
    if kind in _BOUNDS:
        return path, f"got {instance!r}", f"a number {_BOUNDS[kind]} {error.validator_value}"
    if kind in ("minItems", "minProperties"):
        return path, f"got {_describe(instance)}", f"at least {error.validator_value} item(s)"
    if kind == "propertyNames":
        return path + (instance,), "invalid name", "names matching [A-Za-z_][A-Za-z0-9_.-]*"
    if kind in ("oneOf", "anyOf") and error.context:
        inner = best_match(error.context)
        return _describe_error(inner, tuple(inner.absolute_path))
    return path, error.message, str(schema.get("description", "see wandb's sweep schema"))


_EXTRA_PATTERNS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], KeyPath]], ...] = (
    (re.compile(r"^`parameters` is required"), lambda m: ("parameters",)),
    (re.compile(r"^`metrics?`"), lambda m: ("metrics",)),
    (re.compile(r"scheduler"), lambda m: ("scheduler",)),
    (re.compile(r"^Parameter (\S+):"), lambda m: ("parameters", m.group(1))),
    (re.compile(r"hyperparameter configuration: (\S+)$"), lambda m: ("parameters", m.group(1))),
    (re.compile(r"^Parameter (\S+) is malformed"), lambda m: ("parameters", m.group(1))),
    (re.compile(r"^(\S+?):? "), lambda m: ("parameters", m.group(1))),
)
_EXTRA_ALLOWED = (
    ("not less than max", "min < max"),
    ("not the same length", "one probability per value"),
    ("do not sum to 1", "probabilities summing to 1"),
)


#: The distributions ``sweeps`` reports as deprecated (the ``distribution`` values of the
#: types in ``sweeps.params.PARAM_DEPRECATION_MAP``; a unit test keeps the two equal).
DEPRECATED_DISTRIBUTIONS = frozenset({"log_uniform", "inv_log_uniform", "q_log_uniform"})


def _names_deprecated_distribution(params: Any) -> bool:
    """Whether a (top-level, as sweeps checks) parameter names a deprecated distribution."""
    if not isinstance(params, dict):
        return False
    return any(
        isinstance(spec, dict) and spec.get("distribution") in DEPRECATED_DISTRIBUTIONS
        for spec in params.values()
    )


@contextlib.contextmanager
def _without_deprecation_check(cfg: Any, skip: bool) -> Iterator[None]:
    """sweeps checks each parameter for a deprecated distribution by building a
    ``sweeps.params.HyperParameter``, whose module imports scipy.stats (~1.5 s, on every
    validate, plan and deploy). The check can only fire for the distributions above, so
    when the config names none of them it is left out; every other check runs as is."""
    if not skip:
        yield
        return
    original = cfg.check_for_deprecated_distributions
    cfg.check_for_deprecated_distributions = lambda name, spec: None
    try:
        yield
    finally:
        cfg.check_for_deprecated_distributions = original


def _extra_violations(config: dict[str, Any], known: set[str]) -> Iterator[tuple[KeyPath, str]]:
    """Checks ``sweeps`` does outside the JSON schema (min < max, probabilities, ...)."""
    from sweeps.config import cfg

    skip = not _names_deprecated_distribution(config.get("parameters"))
    try:
        with _without_deprecation_check(cfg, skip):
            messages = cfg.schema_violations_from_proposed_config(config)
    except (ValueError, TypeError, KeyError, jsonschema.ValidationError):
        return
    for message in messages:
        if message in known:
            continue
        text = str(message)
        yield _locate_extra(text, config), text


def _locate_extra(message: str, config: dict[str, Any]) -> KeyPath:
    params = config.get("parameters")
    for pattern, to_path in _EXTRA_PATTERNS:
        match = pattern.search(message)
        if not match:
            continue
        path = to_path(match)
        if path[0] != "parameters" or len(path) == 1:
            return path
        if isinstance(params, dict) and path[1] in params:
            return path
    return ()


# --------------------------------------------------------------------------- helpers


def _line_in(problem: str) -> int:
    match = re.search(r":(\d+): key '", problem)
    return int(match.group(1)) if match else 1


def _get(data: Any, path: KeyPath) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _quoted(message: str) -> str:
    match = re.search(r"'([^']*)'", message)
    return match.group(1) if match else message


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, (dict, list)) and not value:
        return f"an empty {type(value).__name__}"
    return f"{type(value).__name__} {value!r}"


__all__ = [
    "DOCUMENT_KEY",
    "EXTENSIONS",
    "TOP_LEVEL_SETTINGS",
    "METHODS",
    "SPEC_KEYS",
    "SweepSource",
    "format_problem",
    "is_extension_key",
    "parameter_kind",
    "parse_duration",
    "parse_extensions",
    "split_tags",
    "validate_experiment",
]
