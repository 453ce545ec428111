"""The results table: one row per run of an experiment's sweeps, best first."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .offline_sweep import OfflineSweep


def _flat_params(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, spec in params.items():
        value = spec.get("value") if isinstance(spec, dict) else spec
        if isinstance(value, dict) and all(
            isinstance(v, dict) and "value" in v for v in value.values()
        ):
            out.update(_flat_params(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def collect_rows(sweep_dirs: list[Path]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Rows for every run of the sweeps, and the metric ({name, goal}) if they declare one."""
    rows: list[dict[str, Any]] = []
    metric: dict[str, Any] | None = None
    for sweep_dir in sweep_dirs:
        sweep = OfflineSweep(sweep_dir)
        meta = sweep.meta
        metric = metric or meta["config"].get("metric")
        for rec in sweep.runs():
            rows.append(
                {
                    "sweep": meta["name"],
                    "sweep_id": meta["id"],
                    "tags": list(meta.get("tags", [])),
                    "run_id": rec["id"],
                    "state": rec["state"],
                    "params": _flat_params(rec["params"]),
                    "summary": rec.get("summary") or {},
                    "exit_code": rec.get("exit_code"),
                    "duration": rec.get("duration"),
                    "attempts": rec.get("attempt", 1),
                    "host": rec.get("host") or (rec.get("agent") or {}).get("host"),
                    "slurm": (rec.get("agent") or {}).get("slurm"),
                    "log": rec.get("log"),
                }
            )
    if metric:
        for row in rows:
            row["metric"] = row["summary"].get(metric["name"])
    sort_rows(rows, metric)
    return rows, metric


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def sort_rows(rows: list[dict[str, Any]], metric: dict[str, Any] | None) -> None:
    """Best first by the metric's goal; runs without a metric value last."""
    if not metric:
        rows.sort(key=lambda r: (r["sweep"], r["run_id"]))
        return
    sign = -1.0 if metric.get("goal", "minimize") == "maximize" else 1.0
    rows.sort(
        key=lambda r: (
            (0, sign * r["metric"], r["run_id"])
            if _is_number(r.get("metric"))
            else (1, 0.0, r["run_id"])
        )
    )


def varied_params(rows: list[dict[str, Any]]) -> list[str]:
    """Parameters that take more than one value across the rows, in first-seen order."""
    seen: dict[str, set[str]] = {}
    for row in rows:
        for key, value in row["params"].items():
            seen.setdefault(key, set()).add(repr(value))
    varied = [k for k, vals in seen.items() if len(vals) > 1]
    return varied or list(seen)[:3]


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_table(rows: list[dict[str, Any]], metric: dict[str, Any] | None) -> str:
    if not rows:
        return "no runs yet"
    params = varied_params(rows)
    multi_sweep = len({r["sweep"] for r in rows}) > 1
    header = (["sweep"] if multi_sweep else []) + ["run"] + params
    if metric:
        goal = "↓" if metric.get("goal", "minimize") == "minimize" else "↑"
        header.append(f"{metric['name']} {goal}")
    header += ["state", "time"]
    table = [header]
    for row in rows:
        line = ([row["sweep"]] if multi_sweep else []) + [row["run_id"]]
        line += [_fmt(row["params"].get(p)) for p in params]
        if metric:
            line.append(_fmt(row.get("metric")))
        dur = row.get("duration")
        line += [row["state"], f"{dur:.1f}s" if isinstance(dur, (int, float)) else "-"]
        table.append(line)
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in table
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
