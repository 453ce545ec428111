"""Loading, expansion, naming and resolving of experiment files."""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import pytest
import yaml

from sweepops.core.errors import ExperimentError, SweepopsError
from sweepops.experiment.expand import Experiment, load_experiment
from sweepops.experiment.paths import resolve_experiment

STANDARD = """\
program: train.py
name: ignored-name
description: a plain wandb sweep
project: proj
entity: team
method: bayes
metric:
  name: val_loss
  goal: minimize
early_terminate:
  type: hyperband
  min_iter: 3
run_cap: 50
parameters:
  lr:
    distribution: log_uniform_values
    min: 0.0001
    max: 0.1
  batch_size:
    values: [16, 32, 64]
  dropout:
    value: 0.1
  optimizer:
    parameters:
      name:
        values: [adam, sgd]
      momentum:
        distribution: uniform
        min: 0.8
        max: 0.99
"""


def write(tmp_path: Path, text: str, name: str = "exp.yml") -> Path:
    """Write an experiment (and the program it runs) into tmp_path."""
    (tmp_path / "train.py").write_text("print('hi')\n")
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def load(tmp_path: Path, text: str, name: str = "exp.yml") -> Experiment:
    return load_experiment(write(tmp_path, text, name), tmp_path)


def test_standard_wandb_yaml_is_accepted_unchanged(tmp_path: Path) -> None:
    exp = load(tmp_path, STANDARD, "standard.yml")
    assert exp.name == "standard"
    assert [s.name for s in exp.sweeps] == ["standard"]
    spec = exp.sweeps[0]
    expected = yaml.safe_load(STANDARD)
    expected["name"] = "standard"
    assert spec.config == expected
    assert spec.tags == ()
    assert (spec.agents, spec.time_per_run, spec.gpus_per_run) == (None, None, 1)
    assert exp.raw == yaml.safe_load(STANDARD)


def test_experiment_metadata(tmp_path: Path) -> None:
    path = write(tmp_path, STANDARD, "meta.yml")
    exp = load_experiment(path, tmp_path)
    assert exp.path == path.absolute()
    assert exp.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_shorthand_expands_scalars_and_lists(tmp_path: Path) -> None:
    exp = load(
        tmp_path,
        """\
        program: train.py
        method: grid
        parameters:
          lr: [0.1, 0.01]
          bs: 32
          tag: null
          cfg: {value: {a: 1}}
          opt:
            parameters:
              name: adam
              betas: [[0.9, 0.99], [0.8, 0.9]]
        """,
    )
    params = exp.sweeps[0].config["parameters"]
    assert params == {
        "lr": {"values": [0.1, 0.01]},
        "bs": {"value": 32},
        "tag": {"value": None},
        "cfg": {"value": {"a": 1}},
        "opt": {
            "parameters": {
                "name": {"value": "adam"},
                "betas": {"values": [[0.9, 0.99], [0.8, 0.9]]},
            }
        },
    }


COMPOSITE = """\
program: train.py
method: grid
parameters:
  lr: [0.1, 0.01]
  bs: 32
  subtests:
    "small, fast":
      bs: [8, 16]
    large:
      bs: 256
      layers: 12
    "a/b c":
      wd: 0.1
"""


def test_composite_inherits_and_overrides(tmp_path: Path) -> None:
    exp = load(tmp_path, COMPOSITE, "comp.yml")
    by_name = {s.name: s for s in exp.sweeps}
    assert list(by_name) == ["comp_small-fast", "comp_large", "comp_a_b_c"]
    small = by_name["comp_small-fast"]
    assert small.tags == ("small", "fast")
    assert small.config["parameters"] == {"lr": {"values": [0.1, 0.01]}, "bs": {"values": [8, 16]}}
    assert by_name["comp_large"].config["parameters"] == {
        "lr": {"values": [0.1, 0.01]},
        "bs": {"value": 256},
        "layers": {"value": 12},
    }
    abc = by_name["comp_a_b_c"]
    assert abc.tags == ("a/b c",)
    assert abc.config["parameters"]["bs"] == {"value": 32}
    for spec in exp.sweeps:
        assert "subtests" not in spec.config["parameters"]
        assert spec.config["name"] == spec.name


def test_trials_repeat_each_sweep(tmp_path: Path) -> None:
    exp = load(
        tmp_path,
        """\
        program: train.py
        method: grid
        _num_trials: 2
        parameters:
          lr: [0.1, 0.01]
          subtests:
            a: {bs: 8}
            b: {bs: 16, _num_trials: 3}
        """,
        "rep.yml",
    )
    assert [(s.name, s.tags) for s in exp.sweeps] == [
        ("rep_a_t1", ("a", "trial1")),
        ("rep_a_t2", ("a", "trial2")),
        ("rep_b_t1", ("b", "trial1")),
        ("rep_b_t2", ("b", "trial2")),
        ("rep_b_t3", ("b", "trial3")),
    ]
    assert exp.sweeps[0].config["parameters"] == exp.sweeps[1].config["parameters"]


def test_trials_on_plain_file(tmp_path: Path) -> None:
    exp = load(
        tmp_path,
        "program: train.py\nmethod: grid\nparameters:\n  lr: 1\n  _num_trials: 2\n",
        "p.yml",
    )
    assert [s.name for s in exp.sweeps] == ["p_t1", "p_t2"]
    assert [s.tags for s in exp.sweeps] == [("trial1",), ("trial2",)]


def test_extension_precedence_and_stripping(tmp_path: Path) -> None:
    exp = load(
        tmp_path,
        """\
        program: train.py
        method: grid
        _num_nodes: 1
        _time_per_run: 1h
        _gpus_per_run: 2
        parameters:
          _num_nodes: 3
          _time_per_run: "10m"
          lr: [0.1]
          subtests:
            top: {lr: 0.5}
            params: {lr: 0.2, _time_per_run: "1:30:00", _gpus_per_run: 0}
            sub: {lr: 0.3, _num_nodes: 5, _time_per_run: 90}
        """,
        "ext.yml",
    )
    got = {s.name: (s.agents, s.time_per_run, s.gpus_per_run) for s in exp.sweeps}
    assert got == {
        "ext_top": (3, 600.0, 2),
        "ext_params": (3, 5400.0, 0),
        "ext_sub": (5, 90.0, 2),
    }
    for spec in exp.sweeps:
        dumped = yaml.safe_dump(spec.config)
        assert "_num_nodes" not in dumped and "_time_per_run" not in dumped
        assert "_gpus_per_run" not in dumped


def test_command_without_program_needs_no_program_file(tmp_path: Path) -> None:
    path = tmp_path / "cmd.yml"
    path.write_text(
        "command: [python, -m, mypkg.train, '${args}']\nmethod: grid\nparameters:\n  lr: 1\n"
    )
    exp = load_experiment(path, tmp_path)
    assert exp.sweeps[0].config["command"] == ["python", "-m", "mypkg.train", "${args}"]


def test_command_with_program_needs_the_program(tmp_path: Path) -> None:
    path = tmp_path / "cmd.yml"
    path.write_text(
        "program: nope.py\ncommand: ['${env}', python, '${program}']\n"
        "method: grid\nparameters:\n  lr: 1\n"
    )
    with pytest.raises(ExperimentError) as info:
        load_experiment(path, tmp_path)
    assert "cmd.yml:1: key 'program': file 'nope.py' not found" in str(info.value)


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        program: train.py
        method: nonsense
        _bogus: 1
        parameters:
          lr: {value: 1, values: [1]}
        """,
    )
    with pytest.raises(ExperimentError) as info:
        load_experiment(path, tmp_path)
    problems = info.value.problems
    assert [p.split(": key ")[0].rsplit(":", 1)[1] for p in problems] == ["2", "3", "5"]


# --------------------------------------------------------------------------- resolving


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    exps = tmp_path / "experiments"
    exps.mkdir()
    (exps / "base.yml").write_text("method: grid\n")
    (exps / "other.yaml").write_text("method: grid\n")
    (tmp_path / "elsewhere.yml").write_text("method: grid\n")
    return tmp_path


def test_resolve_by_name(root: Path) -> None:
    assert resolve_experiment("base.yml", root) == root / "experiments" / "base.yml"
    assert resolve_experiment("base", root) == root / "experiments" / "base.yml"
    assert resolve_experiment("other", root) == root / "experiments" / "other.yaml"


def test_resolve_by_path(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    absolute = root / "elsewhere.yml"
    assert resolve_experiment(str(absolute), root) == absolute
    assert resolve_experiment("elsewhere.yml", root) == absolute  # relative to root
    monkeypatch.chdir(root / "experiments")
    assert resolve_experiment("../elsewhere.yml", root).resolve() == absolute.resolve()


def test_resolve_unknown_lists_available(root: Path) -> None:
    with pytest.raises(SweepopsError) as info:
        resolve_experiment("missing", root)
    text = str(info.value)
    assert "'missing'" in text
    assert "base, other" in text


def test_resolve_unknown_without_experiments_dir(tmp_path: Path) -> None:
    with pytest.raises(SweepopsError, match="none in"):
        resolve_experiment("x", tmp_path)
