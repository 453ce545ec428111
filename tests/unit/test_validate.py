"""Validation messages (the corpus of bad files), durations and line-keeping YAML."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from sweepops.core.errors import ExperimentError
from sweepops.experiment.expand import load_experiment
from sweepops.experiment.validate import SweepSource, parse_duration, validate_experiment
from sweepops.experiment.yamlsource import YamlSyntaxError, parse_yaml

BAD = Path(__file__).parent / "bad_experiments"
EXPECTED: dict[str, dict[str, Any]] = yaml.safe_load((BAD / "expected.yml").read_text())
PROBLEM = re.compile(r"^(?P<file>.+?):(?P<line>\d+): key '(?P<key>[^']*)': .+; allowed: .+$")


def test_corpus_and_expectations_match() -> None:
    files = {p.name for p in BAD.glob("*.yml")} - {"expected.yml"}
    assert files == set(EXPECTED)


@pytest.fixture()
def code_root(tmp_path: Path) -> Path:
    (tmp_path / "train.py").write_text("")
    return tmp_path


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_experiment(name: str, code_root: Path) -> None:
    with pytest.raises(ExperimentError) as info:
        load_experiment(BAD / name, code_root)
    problems = info.value.problems
    text = str(info.value)
    for expected in EXPECTED[name]["expect"]:
        assert expected in text, f"{expected!r} not in:\n{text}"
    if "count" in EXPECTED[name]:
        assert len(problems) == EXPECTED[name]["count"], text
    for problem in problems:
        match = PROBLEM.match(problem)
        assert match, f"badly formed problem: {problem!r}"
        assert match["file"] == str(BAD / name)


def test_problems_sorted_by_line(code_root: Path) -> None:
    path = code_root / "many.yml"
    path.write_text(
        "program: train.py\n"
        "method: grid\n"
        "_x: 1\n"
        "metric: {name: a, goal: up}\n"
        "parameters:\n"
        "  n: {distribution: normal}\n"
        "  _num_nodes: 0\n"
    )
    with pytest.raises(ExperimentError) as info:
        load_experiment(path, code_root)
    lines = [int(PROBLEM.match(p)["line"]) for p in info.value.problems]  # type: ignore[index]
    assert lines == [3, 4, 6, 7]


def test_subtest_error_points_into_subtest(code_root: Path) -> None:
    path = code_root / "c.yml"
    path.write_text(
        "program: train.py\nmethod: grid\nparameters:\n"
        "  lr: {min: 1, max: 0.5}\n"
        "  subtests:\n    a: {bs: 1}\n    b:\n      x: {distribution: normal}\n"
    )
    with pytest.raises(ExperimentError) as info:
        load_experiment(path, code_root)
    problems = info.value.problems
    # the shared parameter's problem is reported once, not once per subtest
    assert sum("key 'parameters.lr'" in p for p in problems) == 1
    assert any(
        p.startswith(f"{path}:8: key 'parameters.subtests.b.x.distribution'") for p in problems
    )


def test_validate_experiment_on_valid_config() -> None:
    doc = parse_yaml("method: grid\nparameters:\n  lr: {values: [1, 2]}\n", "f.yml")
    assert validate_experiment(doc, [SweepSource("f", {"name": "f", **doc.data})]) == []


def test_schema_errors_are_mapped_to_file_lines() -> None:
    doc = parse_yaml("method: grid\nparameters:\n  lr: {values: []}\nrun_cap: x\n", "f.yml")
    problems = validate_experiment(doc, [SweepSource("f", dict(doc.data))])
    assert "f.yml:3: key 'parameters.lr.values': got an empty list" in problems[0]
    assert problems[1].startswith("f.yml:4: key 'run_cap': got str 'x'")


def test_source_maps_expanded_paths_to_file_paths() -> None:
    source = SweepSource("s", {}, {("parameters", "lr"): ("parameters", "subtests", "a", "lr")})
    assert source.to_file_path(("parameters", "lr", "values", 0)) == (
        "parameters",
        "subtests",
        "a",
        "lr",
        "values",
        0,
    )
    assert source.to_file_path(("method",)) == ("method",)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(90, 90.0), (1.5, 1.5), ("90s", 90.0), ("10m", 600.0), ("1.5h", 5400.0),
     ("2h30m", 9000.0), ("1:30:00", 5400.0), ("45", 45.0)],
)  # fmt: skip
def test_parse_duration(text: Any, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["forever", "", "0", -5, True, None, "2h30", "1d", [1]])
def test_parse_duration_rejects(text: Any) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_yaml_lines_for_every_key() -> None:
    doc = parse_yaml("a: 1\nb:\n  c:\n    - x\n    - {d: 2}\n", "f.yml")
    assert doc.data == {"a": 1, "b": {"c": ["x", {"d": 2}]}}
    assert doc.lines[("a",)] == 1
    assert doc.lines[("b", "c")] == 3
    assert doc.lines[("b", "c", 1, "d")] == 5
    assert doc.line_of(("b", "c", 0, "missing")) == 4
    assert doc.line_of(("nowhere",)) == 1


def test_yaml_duplicate_keys_are_problems() -> None:
    doc = parse_yaml("a: 1\nb:\n  c: 1\n  c: 2\na: 3\n", "f.yml")
    assert doc.problems == (
        "f.yml:4: key 'b.c': duplicate key (first defined on line 3); "
        "allowed: each key once per mapping",
        "f.yml:5: key 'a': duplicate key (first defined on line 1); "
        "allowed: each key once per mapping",
    )


def test_yaml_merge_keys_are_not_duplicates() -> None:
    doc = parse_yaml("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  x: 3\n", "f.yml")
    assert doc.problems == ()
    assert doc.data["other"] == {"x": 3, "y": 2}
    assert doc.lines[("other", "x")] == 4


def test_yaml_syntax_error_has_parser_line() -> None:
    with pytest.raises(YamlSyntaxError) as info:
        parse_yaml("a: 1\nb: [1\nc: 2\n", "f.yml")
    assert info.value.line == 3
    assert info.value.problem.startswith("f.yml:3: key '<document>': invalid YAML")


def test_deprecated_distributions_are_those_sweeps_deprecates() -> None:
    from sweeps.config.schema import dereferenced_sweep_config_jsonschema as schema
    from sweeps.params import PARAM_DEPRECATION_MAP

    from sweepops.experiment.validate import DEPRECATED_DISTRIBUTIONS

    defs = schema.get("definitions") or schema["$defs"]
    names = {
        name
        for t in PARAM_DEPRECATION_MAP
        for name in defs[t]["properties"]["distribution"]["enum"]
    }
    assert names == DEPRECATED_DISTRIBUTIONS


def test_a_deprecated_distribution_is_still_reported() -> None:
    text = "method: random\nparameters:\n  lr: {distribution: log_uniform, min: 0, max: 2}\n"
    doc = parse_yaml(text, "f.yml")
    problems = validate_experiment(doc, [SweepSource("f", {"name": "f", **doc.data})])
    assert any("log_uniform_values" in p for p in problems), problems


def test_validating_the_example_does_not_import_scipy() -> None:
    """sweeps' deprecation check imports scipy.stats (~1.5 s): only done when it can fire."""
    from tests.conftest import REPO

    code = (
        "import sys; from pathlib import Path; from sweepops.experiment.expand import load_experiment; "
        f"load_experiment(Path({str(REPO / 'experiments' / 'base.yml')!r}), Path({str(REPO)!r})); "
        "print('scipy.stats' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        # issue 16.9: say what is wrong with that key, not "'distribution' is required"
        ("{min: low, max: 1}", "key 'parameters.lr.min': got str 'low'; allowed: a number"),
        ("{values: []}", "key 'parameters.lr.values': got an empty list; allowed: a list of at"),
        (
            "{distribution: log_uniform_values, min: 0, max: 1}",
            "key 'parameters.lr.min': got int 0; allowed: a number > 0.0 for distribution "
            "'log_uniform_values' (it samples the logarithm)",
        ),
        (
            "{distribution: int_uniform, min: 0.5, max: 3}",
            "key 'parameters.lr.min': got float 0.5; allowed: an integer for distribution",
        ),
    ],
)
def test_distribution_key_messages_name_the_key(spec: str, expected: str) -> None:
    doc = parse_yaml(f"method: random\nparameters:\n  lr: {spec}\n", "d.yml")
    problems = validate_experiment(doc, [SweepSource("d", dict(doc.data))])
    assert len(problems) == 1 and f"d.yml:3: {expected}" in problems[0], problems
    assert "'distribution' is a required property" not in problems[0]
