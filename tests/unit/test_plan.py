"""The plan: run counts, agents, GPU-hours and the table."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from sweepops.experiment.expand import Experiment, load_experiment
from sweepops.experiment.plan import format_plan, plan_experiment, value_count


def load(tmp_path: Path, text: str, name: str = "exp.yml") -> Experiment:
    (tmp_path / "train.py").write_text("")
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return load_experiment(path, tmp_path)


def test_grid_counts_product_including_int_uniform(tmp_path: Path) -> None:
    exp = load(
        tmp_path,
        """\
        program: train.py
        method: grid
        parameters:
          lr: [0.1, 0.01, 0.001]
          bs: 32
          layers: {distribution: int_uniform, min: 2, max: 5}
          seed: {min: 0, max: 1}
          opt:
            parameters:
              name: [adam, sgd]
        """,
        "g.yml",
    )
    plan = plan_experiment(exp)
    sweep = plan["sweeps"][0]
    assert sweep["parameters"] == {"lr": 3, "bs": 1, "layers": 4, "seed": 2, "opt.name": 2}
    assert sweep["runs"] == 3 * 1 * 4 * 2 * 2
    assert plan["total_runs"] == 48
    assert sweep["method"] == "grid"
    assert sweep["agents"] == 1
    assert plan["experiment"] == "g"
    assert plan["gpu_hours"] is None


def test_q_uniform_counts_like_numpy_arange() -> None:
    assert value_count({"distribution": "q_uniform", "min": 0, "max": 1, "q": 0.25}) == 4
    assert value_count({"distribution": "q_uniform", "min": 0, "max": 10, "q": 3}) == 4
    assert value_count({"distribution": "normal"}) == "dist"


def test_grid_capped_by_run_cap(tmp_path: Path) -> None:
    exp = load(
        tmp_path,
        "program: train.py\nmethod: grid\nrun_cap: 5\nparameters:\n  a: [1, 2, 3]\n  b: [1, 2]\n",
    )
    assert plan_experiment(exp)["sweeps"][0]["runs"] == 5


def test_random_without_run_cap_is_unbounded(tmp_path: Path) -> None:
    exp = load(
        tmp_path,
        """\
        program: train.py
        method: random
        parameters:
          lr: {distribution: uniform, min: 0.0, max: 1.0}
          subtests:
            capped: {_num_nodes: 4, bs: [1, 2]}
            free: {bs: 8}
        """,
        "r.yml",
    )
    plan = plan_experiment(exp, default_agents=2)
    assert [(s["name"], s["runs"], s["agents"]) for s in plan["sweeps"]] == [
        ("r_capped", None, 4),
        ("r_free", None, 2),
    ]
    assert plan["sweeps"][0]["parameters"] == {"lr": "dist", "bs": 2}
    assert plan["total_runs"] is None
    assert plan["gpu_hours"] is None
    assert "unbounded" in format_plan(plan)


def test_random_with_run_cap_and_gpu_hours(tmp_path: Path) -> None:
    exp = load(
        tmp_path,
        """\
        program: train.py
        method: bayes
        metric: {name: loss, goal: minimize}
        run_cap: 10
        _time_per_run: 30m
        parameters:
          lr: {distribution: uniform, min: 0.0, max: 1.0}
          subtests:
            one: {_gpus_per_run: 1}
            four: {_gpus_per_run: 4, _num_trials: 2}
        """,
        "b.yml",
    )
    plan = plan_experiment(exp)
    assert [s["runs"] for s in plan["sweeps"]] == [10, 10, 10]
    assert plan["total_runs"] == 30
    # 10 runs * 0.5 h * (1 + 4 + 4) GPUs
    assert plan["gpu_hours"] == pytest.approx(45.0)
    assert plan["sweeps"][1]["tags"] == ["four", "trial1"]


def test_gpu_hours_unknown_when_a_sweep_lacks_time(tmp_path: Path) -> None:
    exp = load(
        tmp_path,
        """\
        program: train.py
        method: grid
        parameters:
          lr: [1, 2]
          subtests:
            timed: {_time_per_run: 1h}
            untimed: {bs: 1}
        """,
    )
    assert plan_experiment(exp)["gpu_hours"] is None


def test_format_plan_table() -> None:
    plan = {
        "experiment": "e",
        "sweeps": [
            {"name": "e_small", "tags": ["small"], "method": "grid", "runs": 4, "agents": 1},
            {"name": "e_large-slow", "tags": ["large", "slow"], "method": "random",
             "runs": 120, "agents": 16},
        ],
        "total_runs": 124,
        "gpu_hours": 12.5,
    }  # fmt: skip
    lines = format_plan(plan).splitlines()
    assert lines[0].split() == ["SWEEP", "TAGS", "METHOD", "RUNS", "AGENTS"]
    assert lines[1].split() == ["e_small", "small", "grid", "4", "1"]
    assert lines[2].split() == ["e_large-slow", "large,slow", "random", "120", "16"]
    # columns are aligned
    assert lines[0].index("TAGS") == lines[1].index(" small") + 1 == lines[2].index("large,")
    assert lines[0].index("RUNS") == lines[1].index(" 4 ") + 1 == lines[2].index("120")
    assert lines[3] == "total runs: 124 in 2 sweep(s)"
    assert lines[4] == "GPU-hours: 12.50"


JOINT = """\
program: scripts.train_joint
command:
  - ${interpreter}
  - -m
  - ${program}
  - ${args}
method: grid
parameters:
  subtests:
    a,b: {lr: [0.1, 0.01]}
    baseline: {}
  seed: 0
"""


def test_the_issue_18_composite_plans_two_sweeps_and_three_runs(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "train_joint.py").write_text("")
    exp = load(tmp_path, JOINT, "joint.yml")
    plan = plan_experiment(exp)
    assert [(s["name"], s["runs"]) for s in plan["sweeps"]] == [
        ("joint_a-b", 2),
        ("joint_baseline", 1),
    ]
    assert plan["total_runs"] == 3 and exp.program.program_file == "scripts/train_joint.py"


HUGE = """\
program: train.py
method: grid
parameters:
  a: {distribution: int_uniform, min: 1, max: 1000}
  b: {distribution: int_uniform, min: 1, max: 1000}
  c: {distribution: int_uniform, min: 1, max: 1000}
"""


def test_a_huge_grid_warns_in_the_plan_and_needs_confirmation(tmp_path: Path) -> None:
    from sweepops.core.errors import SweepopsError
    from sweepops.experiment.plan import require_confirmation

    exp = load(tmp_path, HUGE, "huge.yml")
    plan = plan_experiment(exp)
    assert plan["total_runs"] == 10**9 and plan["needs_confirmation"]
    assert (
        "warning: 1000000000 runs is more than confirm_runs_above (1000); a deploy asks for "
        "-e confirm_runs=1000000000 (or --yes)" in format_plan(plan)
    )
    with pytest.raises(SweepopsError) as info:
        require_confirmation(plan, None)
    assert "huge makes 1000000000 runs in 1 sweep(s), more than confirm_runs_above (1000)" in str(
        info.value
    )
    assert "nothing was created" in str(info.value)
    with pytest.raises(SweepopsError, match="-e confirm_runs=5, but huge makes 1000000000 runs"):
        require_confirmation(plan, 5)
    require_confirmation(plan, 10**9)
    require_confirmation(plan, "yes")
    # the threshold is settable; below it nothing is asked
    assert not plan_experiment(exp, confirm_runs_above=10**9)["needs_confirmation"]
