"""The one grid count (sweepops.runtime.grid) against wandb's own schema and grid engine,
and plan and status agreeing on it."""

from __future__ import annotations

from typing import Any

import pytest

from sweepops.experiment.plan import count_runs, parameter_counts
from sweepops.experiment.validate import parameter_kind
from sweepops.runtime import grid
from sweepops.runtime.offline_sweep import expected_runs, grid_points

SPECS: list[Any] = [
    {"value": 1},
    {"values": [1, 2, 3]},
    {"min": 1, "max": 5},
    {"min": 1.0, "max": 5},
    {"distribution": "int_uniform", "min": 2, "max": 4},
    {"distribution": "q_uniform", "min": 0, "max": 1},
    {"distribution": "q_uniform", "min": 0.0, "max": 1.0, "q": 0.25},
    {"distribution": "uniform", "min": 0, "max": 1},
    {"distribution": "constant", "value": "x"},
    {"distribution": "categorical", "values": ["a", "b"]},
    {"values": [1, 2], "probabilities": [0.5, 0.5]},
]

#: wandb's schema kinds -> the distribution names this module uses
WANDB_KIND = {
    "param_single_value": "constant",
    "param_categorical": "categorical",
    "param_categorical_w_probabilities": "categorical_w_probabilities",
    "param_int_uniform": "int_uniform",
    "param_quniform": "q_uniform",
    "param_uniform": "uniform",
}


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_the_kind_is_the_one_wandbs_schema_gives(spec: dict[str, Any]):
    assert grid.kind_of(spec) == WANDB_KIND[str(parameter_kind(spec))]


GRIDS = [
    {"a": {"values": [1, 2, 3]}, "b": {"value": 0}},
    {"a": {"min": 1, "max": 4}, "b": {"values": ["x", "y"]}},
    {"q": {"distribution": "q_uniform", "min": 0.0, "max": 1.0, "q": 0.25}},
    {
        "outer": {"parameters": {"x": {"values": [1, 2]}, "y": {"min": 0, "max": 2}}},
        "z": {"value": 1},
    },
]


@pytest.mark.parametrize("parameters", GRIDS, ids=str)
def test_the_count_is_the_number_of_points_wandbs_engine_makes(parameters: dict[str, Any]):
    config = {"method": "grid", "parameters": parameters}
    points = grid_points(config)
    assert grid.grid_size(parameters) == len(points) == expected_runs(config)
    # plan counts the same
    assert count_runs("grid", parameter_counts(parameters), None) == len(points)


def test_a_continuous_parameter_has_no_count_and_plan_and_status_agree():
    parameters = {"a": {"values": [1, 2]}, "lr": {"min": 0.1, "max": 1.0}}
    assert grid.grid_size(parameters) is None
    config = {"method": "grid", "parameters": parameters, "run_cap": 7}
    assert expected_runs(config) == 7 == count_runs("grid", parameter_counts(parameters), 7)


def test_int_min_max_without_distribution_counts_its_integers():
    # the rule the offline count used to miss (it counted 1): wandb infers int_uniform
    config = {"method": "grid", "parameters": {"n": {"min": 1, "max": 5}}}
    assert expected_runs(config) == 5 == len(grid_points(config))
