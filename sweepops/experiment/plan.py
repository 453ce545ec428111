"""The plan: which sweeps an experiment would create, how many runs, how many GPU-hours."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from sweepops.core.errors import SweepopsError
from sweepops.experiment.expand import Experiment, SweepSpec
from sweepops.runtime import grid

DIST = "dist"
UNBOUNDED = "unbounded"


def plan_experiment(
    exp: Experiment, default_agents: int = 1, confirm_runs_above: int | None = None
) -> dict[str, Any]:
    """What running ``exp`` would do, as plain data::

        {"experiment": name,
         "sweeps": [{"name", "tags": [...], "method", "runs": int | None, "agents": int,
                     "parameters": {name: number of values | "dist"}}, ...],
         "total_runs": int | None, "gpu_hours": float | None}

    ``runs`` is None for a random/bayes sweep without ``run_cap`` (unbounded); then
    ``total_runs`` is None too. ``gpu_hours`` is known only when every sweep has
    ``_time_per_run`` and a finite number of runs. Nested parameters are named
    ``outer.inner``. ``confirm_runs_above`` (default :data:`CONFIRM_RUNS_ABOVE`): more runs
    than this need a confirmation to deploy (``needs_confirmation``).
    """
    from sweepops.core.settings import CONFIRM_RUNS_ABOVE

    threshold = CONFIRM_RUNS_ABOVE if confirm_runs_above is None else confirm_runs_above
    sweeps = [_plan_sweep(spec, default_agents) for spec in exp.sweeps]
    runs = [s["runs"] for s in sweeps]
    total = None if any(r is None for r in runs) else sum(runs)
    return {
        "experiment": exp.name,
        "sweeps": sweeps,
        "total_runs": total,
        "gpu_hours": _gpu_hours(exp.sweeps, runs),
        "confirm_runs_above": threshold,
        "needs_confirmation": total is not None and total > threshold,
    }


def confirmation_warning(plan: Mapping[str, Any]) -> str | None:
    """The plan's warning when it makes more runs than ``confirm_runs_above``."""
    if not plan.get("needs_confirmation"):
        return None
    total = plan["total_runs"]
    return (
        f"warning: {total} runs is more than confirm_runs_above ({plan['confirm_runs_above']}); "
        f"a deploy asks for -e confirm_runs={total} (or --yes)"
    )


def require_confirmation(plan: Mapping[str, Any], confirm: int | str | None) -> None:
    """Refuse a deploy of more runs than ``confirm_runs_above`` unless ``confirm`` is that
    number of runs (``-e confirm_runs=N``) or ``"yes"`` (``--yes``)."""
    total = plan["total_runs"]
    if not plan.get("needs_confirmation") or confirm == "yes" or confirm == total:
        return
    exp = plan["experiment"]
    if confirm is not None:
        raise SweepopsError(
            f"-e confirm_runs={confirm}, but {exp} makes {total} runs; nothing was created",
            hint=f"-e confirm_runs={total} if you mean it (see `sweepops plan {exp}`)",
        )
    raise SweepopsError(
        f"{exp} makes {total} runs in {len(plan['sweeps'])} sweep(s), more than "
        f"confirm_runs_above ({plan['confirm_runs_above']}); nothing was created",
        hint=f"check `sweepops plan {exp}`; deploy with -e confirm_runs={total} (or --yes) if you "
        "mean it, or set confirm_runs_above (inventory or -e)",
    )


def _plan_sweep(spec: SweepSpec, default_agents: int) -> dict[str, Any]:
    method = spec.config.get("method")
    params = parameter_counts(spec.config.get("parameters") or {})
    return {
        "name": spec.name,
        "tags": list(spec.tags),
        "method": method,
        "runs": count_runs(method, params, spec.config.get("run_cap")),
        "agents": spec.agents if spec.agents is not None else default_agents,
        "parameters": params,
    }


def parameter_counts(params: Mapping[str, Any], prefix: str = "") -> dict[str, int | str]:
    """Number of distinct values per parameter (``"dist"`` for continuous ones);
    nested parameters are flattened to ``outer.inner``."""
    counts: dict[str, int | str] = {}
    for name, spec in params.items():
        if isinstance(spec, Mapping) and isinstance(spec.get("parameters"), Mapping):
            counts.update(parameter_counts(spec["parameters"], f"{prefix}{name}."))
        else:
            counts[f"{prefix}{name}"] = value_count(spec)
    return counts


def value_count(spec: Any) -> int | str:
    """Distinct values of one expanded parameter spec, as wandb's grid search sees them
    (:func:`sweepops.runtime.grid.value_count`, the count status uses too); ``"dist"`` for a
    continuous one."""
    count = grid.value_count(spec)
    return DIST if count is None else count


def count_runs(method: Any, counts: Mapping[str, int | str], run_cap: Any) -> int | None:
    """Runs a sweep makes: grid → product of value counts (capped by run_cap);
    random/bayes → run_cap, or None (unbounded) without one."""
    cap = run_cap if isinstance(run_cap, int) and not isinstance(run_cap, bool) else None
    if method != "grid" or any(not isinstance(c, int) for c in counts.values()):
        return cap
    product = math.prod(int(c) for c in counts.values())
    return product if cap is None else min(product, cap)


def _gpu_hours(specs: tuple[SweepSpec, ...], runs: list[int | None]) -> float | None:
    total = 0.0
    for spec, n in zip(specs, runs, strict=True):
        if n is None or spec.time_per_run is None:
            return None
        total += n * spec.time_per_run * spec.gpus_per_run
    return total / 3600 if specs else None


def _format_row(row: tuple[str, ...], widths: list[int]) -> str:
    return "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()


def format_plan(plan: Mapping[str, Any]) -> str:
    """Render a plan as an aligned table (sweep, tags, method, runs, agents), then the
    total runs and, when known, the GPU-hours."""
    header = ("SWEEP", "TAGS", "METHOD", "RUNS", "AGENTS")
    rows = [header] + [
        (
            str(s["name"]),
            ",".join(s["tags"]) or "-",
            str(s["method"]),
            UNBOUNDED if s["runs"] is None else str(s["runs"]),
            str(s["agents"]),
        )
        for s in plan["sweeps"]
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [_format_row(row, widths) for row in rows]
    total = plan["total_runs"]
    if total is None:
        lines.append(f"total runs: {UNBOUNDED} (a random/bayes sweep has no run_cap)")
    else:
        lines.append(f"total runs: {total} in {len(plan['sweeps'])} sweep(s)")
    if plan.get("gpu_hours") is not None:
        lines.append(f"GPU-hours: {plan['gpu_hours']:.2f}")
    warning = confirmation_warning(plan)
    if warning:
        lines.append(warning)
    return "\n".join(lines)
