"""The results table: one row per run of an experiment's sweeps, best first.

Each row also says which *subtest* it belongs to (its sweep's tags, without the ``trialN``
tags of repeated sweeps) and whether it is the ``best`` run of that subtest by the metric's
goal. ``write_csv`` writes the rows for pandas and spreadsheets.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from sweepops.remote import sweep_layout
from sweepops.runtime.offline_sweep import OfflineSweep

_TRIAL_TAG = re.compile(r"trial\d+")


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


def lookup(values: dict[str, Any], name: str) -> Any:
    """``values[name]``, or the nested value at the dotted path ``name`` (wandb nests
    ``a.b`` keys); None when absent."""
    if name in values:
        return values[name]
    node: Any = values
    for part in name.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def subtest_of(tags: Iterable[str]) -> str:
    """The subtest a sweep's tags name: its tags without ``trialN``, comma-joined ('' if none)."""
    return ",".join(t for t in tags if not _TRIAL_TAG.fullmatch(t))


def history_points(history: Any, keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """History rows reduced to ``_step`` and ``keys`` (dotted names looked up nested)."""
    out = []
    for point in history or []:
        if isinstance(point, dict):
            kept = {k: v for k in keys if (v := lookup(point, k)) is not None}
            if "_step" in point:
                kept["_step"] = point["_step"]
            out.append(kept)
    return out


def row_of(
    meta: dict[str, Any], rec: dict[str, Any], *, history: tuple[str, ...] | None = None
) -> dict[str, Any]:
    """The result row of one run record of the sweep described by ``meta``; with
    ``history`` (metric names), the run's history reduced to those and ``_step``."""
    agent = rec.get("agent") or {}
    tags = list(meta.get("tags", []))
    row = {
        "sweep": meta["name"],
        "sweep_id": meta["id"],
        "tags": tags,
        "subtest": subtest_of(tags),
        "run_id": rec["id"],
        "state": rec["state"],
        "params": _flat_params(rec["params"]),
        "summary": rec.get("summary") or {},
        "exit_code": rec.get("exit_code"),
        "duration": rec.get("duration"),
        "attempts": rec.get("attempt", 1),
        "host": rec.get("host") or agent.get("host"),
        "slurm": agent.get("slurm"),
        "log": rec.get("log"),
        "best": False,
    }
    if history is not None:
        row["history"] = history_points(rec.get("history"), history)
    return row


def read_sweep_rows(
    sweep_dir: Path, *, history: tuple[str, ...] | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(sweep.json, one row per run record) of a sweep directory, unsorted.

    Each record is parsed and reduced to its row at once, so a run's history (the bulk of
    the bytes) is never held for all runs together. A record that cannot be read is not
    dropped: its row has state ``unreadable`` and the ``record`` path."""
    meta = OfflineSweep(sweep_dir).meta
    rows = []
    with os.scandir(Path(sweep_dir) / "runs") as entries:
        for entry in entries:
            name = entry.name
            if not name.endswith(".json") or name.startswith("."):
                continue
            try:
                rec = sweep_layout.read_record(entry.path)
            except FileNotFoundError:
                continue
            except (OSError, ValueError) as exc:
                stand_in = {"id": name[: -len(".json")], "state": sweep_layout.UNREADABLE}
                row = row_of(meta, {**stand_in, "params": {}}, history=history)
                row.update(record=entry.path, error=str(exc))
                rows.append(row)
                continue
            rows.append(row_of(meta, rec, history=history))
    return meta, rows


def collect_rows(
    sweep_dirs: list[Path], *, history: bool = False
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Rows for every run of the sweeps, and the metric ({name, goal}) if they declare one.

    Rows are sorted best first and the best run of each subtest has ``best: True``. With
    ``history`` each row also carries the run's (thinned) history for plots, reduced to
    ``_step`` and the metric.
    """
    rows: list[dict[str, Any]] = []
    metric: dict[str, Any] | None = None
    for sweep_dir in sweep_dirs:
        sweep_metric = OfflineSweep(sweep_dir).meta["config"].get("metric")
        metric = metric or sweep_metric
        keys = (str(sweep_metric["name"]),) if history and sweep_metric else ()
        _meta, sweep_rows = read_sweep_rows(sweep_dir, history=keys if history else None)
        rows.extend(sweep_rows)
    finish_rows(rows, metric)
    return rows, metric


def finish_rows(rows: list[dict[str, Any]], metric: dict[str, Any] | None) -> None:
    """Fill each row's ``metric``, sort best first and mark the best run of each subtest."""
    if metric:
        name = str(metric["name"])
        for row in rows:
            row["metric"] = lookup(row["summary"], name)
    sort_rows(rows, metric)
    mark_best(rows, metric)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


#: The only run state that can be best: an interrupted (preempted, failed, stopped) run's
#: metric is that of an unfinished run.
RANKED_STATE = "finished"


def rankable(row: dict[str, Any]) -> bool:
    """Whether a run can be best: it finished, with a finite metric value."""
    return row.get("state") == RANKED_STATE and _is_number(row.get("metric"))


def sort_rows(rows: list[dict[str, Any]], metric: dict[str, Any] | None) -> None:
    """Best first by the metric's goal: finished runs first, then the other runs with a
    metric value (interrupted, failed), then runs without one. The one ranking of results,
    report and journal."""
    if not metric:
        rows.sort(key=lambda r: (r["sweep"], r["run_id"]))
        return
    sign = -1.0 if metric.get("goal", "minimize") == "maximize" else 1.0
    rows.sort(
        key=lambda r: (
            (0 if rankable(r) else 1, sign * r["metric"], r["run_id"])
            if _is_number(r.get("metric"))
            else (2, 0.0, r["run_id"])
        )
    )


def mark_best(rows: list[dict[str, Any]], metric: dict[str, Any] | None) -> None:
    """Set ``best`` on the best run of each subtest (rows must be sorted best first).

    Only finished runs with a finite metric value can be best; without a metric nothing is."""
    seen: set[str] = set()
    for row in rows:
        sub = row.get("subtest")
        if sub is None:
            sub = row["subtest"] = subtest_of(row.get("tags", []))
        best = bool(metric) and rankable(row) and sub not in seen
        row["best"] = best
        if best:
            seen.add(sub)


def metric_note(rows: list[dict[str, Any]], metric: dict[str, Any] | None) -> str | None:
    """When finished runs exist but none logged the metric (a misspelt ``metric.name``), a
    line naming the summary keys the finished runs did log; else None."""
    if not metric or any(_is_number(r.get("metric")) for r in rows):
        return None
    finished = [r for r in rows if r.get("state") == RANKED_STATE]
    if not finished:
        return None
    keys: dict[str, None] = {}
    for row in finished:
        keys.update(dict.fromkeys(k for k in row.get("summary") or {} if not k.startswith("_")))
    logged = ", ".join(sorted(keys)[:20]) or "no summary value at all"
    return (
        f"no finished run logged the metric {metric['name']!r} ({len(finished)} finished); "
        f"they logged: {logged}. Fix metric.name in the experiment file (or what the program "
        "logs)"
    )


def results_exit_code(rows: list[dict[str, Any]]) -> int:
    """What ``results`` exits with, for scripts (as ``status``): 0 when no run failed, 1 when
    some did, 3 when runs failed and none finished or is still running (every run failed)."""
    states = [str(r.get("state")) for r in rows]
    failed = sum(s in ("failed", "crashed", "killed") for s in states)
    if not failed:
        return 0
    # a preempted or lost run (its agent gone) waits to be run again: not every run failed
    going = sum(
        s in ("finished", "stopped", "running", "pending", "preempted", "lost") for s in states
    )
    return 3 if not going else 1


def best_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows marked best, in table order (best first)."""
    return [r for r in rows if r.get("best")]


def curve(row: dict[str, Any], name: str) -> tuple[list[float], list[float]]:
    """The learning curve of ``name`` in a row's history: (x, y), x = ``_step`` (else the
    point's index). The static report's plots and the dashboard's draw these same points."""
    xs: list[float] = []
    ys: list[float] = []
    for i, point in enumerate(row.get("history") or []):
        if not isinstance(point, dict):
            continue
        y = lookup(point, name)
        if not _is_number(y):
            continue
        step: Any = point.get("_step")
        xs.append(float(step) if _is_number(step) else float(i))
        ys.append(float(y))
    return xs, ys


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


def _fmt_hours(value: Any) -> str:
    """GPU-hours to 0.001 h (3.6 s): more digits would be noise, not precision."""
    return f"{value:.3f}" if _is_number(value) else "-"


def table_cells(
    rows: list[dict[str, Any]], metric: dict[str, Any] | None
) -> tuple[list[str], list[list[str]]]:
    """The table as text cells: (header, one line per row). The last column marks the best
    run of each subtest with ``*``."""
    params = varied_params(rows)
    multi_sweep = len({r["sweep"] for r in rows}) > 1
    clusters = any(r.get("cluster") not in (None, "local") for r in rows)
    acct = any(r.get("job_elapsed") is not None for r in rows)
    header = (["sweep"] if multi_sweep else []) + ["run"] + (["tags"] if multi_sweep else [])
    header += (["cluster"] if clusters else []) + params
    if metric:
        goal = "↓" if metric.get("goal", "minimize") == "minimize" else "↑"
        header.append(f"{metric['name']} {goal}")
    header += ["state", "time"]
    header += ["job", "job time", "max RSS", "GPU-h", "requeues"] if acct else []
    header.append("best")
    lines = []
    for row in rows:
        line = ([row["sweep"]] if multi_sweep else []) + [row["run_id"]]
        line += [",".join(row.get("tags", [])) or "-"] if multi_sweep else []
        line += [_fmt(row.get("cluster"))] if clusters else []
        line += [_fmt(row["params"].get(p)) for p in params]
        if metric:
            line.append(_fmt(row.get("metric")))
        dur = row.get("duration")
        line += [row["state"], f"{dur:.1f}s" if isinstance(dur, (int, float)) else "-"]
        if acct:
            elapsed = row.get("job_elapsed")
            line += [
                _fmt(row.get("job")),
                f"{elapsed}s" if elapsed is not None else "-",
                format_bytes(row.get("job_max_rss")),
                _fmt_hours(row.get("gpu_hours")),
                _fmt(row.get("requeues")),
            ]
        line.append("*" if row.get("best") else "")
        lines.append(line)
    return header, lines


def format_bytes(value: Any) -> str:
    """Bytes as the table shows them (``512K``, ``212M``, ``1.5G``); ``-`` when unknown."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "-"
    for unit, size in (("G", 1024**3), ("M", 1024**2), ("K", 1024)):
        if value >= size:
            n = value / size
            return f"{n:.1f}{unit}" if n < 10 else f"{n:.0f}{unit}"
    return f"{int(value)}B"


def format_table(rows: list[dict[str, Any]], metric: dict[str, Any] | None) -> str:
    if not rows:
        return "no runs yet"
    header, body = table_cells(rows, metric)
    table = [header, *body]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in table
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# ---------------------------------------------------------------------- CSV
_FIXED_COLUMNS = ("sweep", "sweep_id", "subtest", "tags", "run_id", "state", "best")
_TAIL_COLUMNS = (
    "exit_code",
    "duration",
    "attempts",
    "host",
    "cluster",
    "commit",
    "slurm_job_id",
    # Slurm accounting of the run's job task (sweepops.results.fetch.join_acct), where it exists.
    "job_state",
    "job_elapsed",
    "job_max_rss",
    "job_exit_code",
    "requeues",
    "gpus",
    "gpu_hours",
    "job_gpu_hours",
    "log",
)


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, default=str)
    return value


def csv_columns(rows: list[dict[str, Any]], metric: dict[str, Any] | None) -> list[str]:
    """Column names: run identity, ``metric``, every parameter (``param.NAME``), every
    public summary value (``summary.NAME``), then state details."""
    params: dict[str, None] = {}
    summary: dict[str, None] = {}
    for row in rows:
        params.update(dict.fromkeys(row["params"]))
        summary.update(dict.fromkeys(k for k in row["summary"] if not k.startswith("_")))
    metric_cols = ["metric"] if metric else []
    return [
        *_FIXED_COLUMNS,
        *metric_cols,
        *(f"param.{k}" for k in params),
        *(f"summary.{k}" for k in summary),
        *_TAIL_COLUMNS,
    ]


def csv_record(row: dict[str, Any]) -> dict[str, Any]:
    """One row as a flat mapping of CSV columns (see :func:`csv_columns`)."""
    slurm = row.get("slurm") or {}
    job = slurm.get("array_job_id") or slurm.get("job_id")
    if job and slurm.get("array_task_id") is not None and slurm.get("array_job_id"):
        job = f"{job}_{slurm['array_task_id']}"
    out: dict[str, Any] = {k: row.get(k) for k in _FIXED_COLUMNS}
    out["tags"] = ",".join(row.get("tags", []))
    out["metric"] = row.get("metric")
    out.update({f"param.{k}": v for k, v in row["params"].items()})
    out.update({f"summary.{k}": v for k, v in row["summary"].items() if not k.startswith("_")})
    out.update({k: row.get(k) for k in _TAIL_COLUMNS})
    out["slurm_job_id"] = job
    return {k: _csv_value(v) for k, v in out.items()}


def write_csv(
    rows: list[dict[str, Any]],
    dest: str | os.PathLike[str] | IO[str],
    metric: dict[str, Any] | None = None,
) -> None:
    """Write the rows as CSV (header line, comma-separated, RFC 4180 quoting) to a path,
    ``"-"`` (stdout) or an open text stream. Missing values are empty cells; booleans are
    ``true``/``false``; lists and dicts are JSON. ``pandas.read_csv`` reads it as is."""
    if metric is None and any("metric" in r for r in rows):
        metric = {"name": "metric"}
    columns = csv_columns(rows, metric)
    if isinstance(dest, (str, os.PathLike)) and str(dest) == "-":
        _write_csv_stream(rows, columns, sys.stdout)
    elif isinstance(dest, (str, os.PathLike)):
        buf = io.StringIO()
        _write_csv_stream(rows, columns, buf)
        Path(dest).write_text(buf.getvalue(), encoding="utf-8")
    else:
        _write_csv_stream(rows, columns, dest)


def _write_csv_stream(rows: list[dict[str, Any]], columns: list[str], out: IO[str]) -> None:
    writer = csv.DictWriter(
        out, fieldnames=columns, restval="", extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    for row in rows:
        writer.writerow(csv_record(row))
