"""How many points a grid sweep has: the one count, used by ``plan`` on the workstation and
by the offline sweep's progress (``status``) wherever it runs.

The rules are wandb's grid search's (``sweeps.grid_search``): a parameter's kind is the one
wandb's schema gives it (an explicit ``distribution``, else ``value`` -> constant,
``values`` -> categorical, integer ``min``/``max`` -> int_uniform, other ``min``/``max`` ->
uniform); constants count 1, categorical their values, int_uniform ``max - min + 1``,
q_uniform ``len(numpy.arange(min, max, q))`` (q defaults to 1.0); a continuous parameter has
no count (wandb refuses it in a grid). Nested parameters multiply. Kept free of the ``sweeps``
package (1.3 s to import) so that status stays quick; ``tests/unit/test_grid.py`` checks these
rules against wandb's engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CONSTANT = "constant"
CATEGORICAL = "categorical"
INT_UNIFORM = "int_uniform"
Q_UNIFORM = "q_uniform"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def kind_of(spec: Any) -> str:
    """The distribution wandb's schema gives a parameter spec (``constant`` for a bare value)."""
    if not isinstance(spec, Mapping):
        return CONSTANT
    if "distribution" in spec:
        return str(spec["distribution"])
    if "value" in spec:
        return CONSTANT
    if "values" in spec:
        return "categorical_w_probabilities" if "probabilities" in spec else CATEGORICAL
    if _is_int(spec.get("min")) and _is_int(spec.get("max")):
        return INT_UNIFORM
    return "uniform"


def value_count(spec: Any) -> int | None:
    """Distinct values one parameter takes in a grid; None for a continuous one."""
    if isinstance(spec, Mapping) and isinstance(spec.get("parameters"), Mapping):
        return grid_size(spec["parameters"])
    kind = kind_of(spec)
    if kind == CONSTANT:
        return 1
    if kind == CATEGORICAL:
        return len(spec["values"])
    if kind == INT_UNIFORM:
        return max(0, int(spec["max"]) - int(spec["min"]) + 1)
    if kind == Q_UNIFORM:
        import numpy as np

        return len(np.arange(spec["min"], spec["max"], spec.get("q", 1.0)))
    return None


def grid_size(parameters: Mapping[str, Any]) -> int | None:
    """Points of the grid over ``parameters``; None when one of them is continuous."""
    size = 1
    for spec in parameters.values():
        count = value_count(spec)
        if count is None:
            return None
        size *= count
    return size
