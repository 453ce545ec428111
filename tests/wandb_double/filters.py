"""The run filters and orders of wandb's public API (``api.runs(path, filters=..., order=...)``),
evaluated on the double's run records.

Filters are MongoDB-style: ``$and $or $nor`` and, per key, a value (equality; for ``tags``
membership) or operators ``$eq $ne $gt $gte $lt $lte $in $nin $exists $regex``. Keys:
``sweep``, ``name``/``id``, ``display_name``, ``state``, ``group``, ``jobType``, ``tags``,
``config.X`` (``config.X.value`` too), ``summary_metrics.X``, ``created_at``,
``heartbeat_at`` / ``heartbeatAt``.
"""

from __future__ import annotations

import re
from typing import Any

_MISSING = object()


def run_key(run: dict[str, Any], key: str) -> Any:
    """The value of a filter/order key on a run record, or ``_MISSING``."""
    aliases = {
        "sweep": "sweep",
        "name": "name",
        "id": "name",
        "display_name": "display_name",
        "displayName": "display_name",
        "state": "state",
        "group": "group",
        "jobType": "job_type",
        "job_type": "job_type",
        "tags": "tags",
        "created_at": "created_at",
        "createdAt": "created_at",
        "heartbeat_at": "heartbeat_at",
        "heartbeatAt": "heartbeat_at",
    }
    if key in aliases:
        return run.get(aliases[key], _MISSING)
    head, _, rest = key.partition(".")
    if head == "config":
        parts = rest.split(".")
        if parts and parts[-1] == "value":
            parts = parts[:-1]
        return _dig(run.get("config") or {}, parts)
    if head in ("summary_metrics", "summaryMetrics", "summary"):
        return _dig(run.get("summary") or {}, rest.split("."))
    return _MISSING


def _dig(data: Any, parts: list[str]) -> Any:
    for part in parts:
        if not isinstance(data, dict) or part not in data:
            return _MISSING
        data = data[part]
    return data


def matches(run: dict[str, Any], flt: dict[str, Any] | None) -> bool:
    """Whether a run record satisfies a filter document."""
    if not flt:
        return True
    for key, cond in flt.items():
        if key == "$and":
            if not all(matches(run, sub) for sub in cond):
                return False
        elif key == "$or":
            if not any(matches(run, sub) for sub in cond):
                return False
        elif key == "$nor":
            if any(matches(run, sub) for sub in cond):
                return False
        elif not _field_matches(run_key(run, key), cond, is_list=key == "tags"):
            return False
    return True


def _field_matches(value: Any, cond: Any, *, is_list: bool) -> bool:
    if not (isinstance(cond, dict) and cond and all(k.startswith("$") for k in cond)):
        return _eq(value, cond, is_list)
    for op, arg in cond.items():
        if not _op(op, value, arg, is_list):
            return False
    return True


def _eq(value: Any, arg: Any, is_list: bool) -> bool:
    if value is _MISSING:
        return arg is None
    if is_list and isinstance(value, list) and not isinstance(arg, list):
        return arg in value
    return bool(value == arg)


def _op(op: str, value: Any, arg: Any, is_list: bool) -> bool:
    if op == "$eq":
        return _eq(value, arg, is_list)
    if op == "$ne":
        return not _eq(value, arg, is_list)
    if op == "$in":
        return any(_eq(value, a, is_list) for a in arg)
    if op == "$nin":
        return not any(_eq(value, a, is_list) for a in arg)
    if op == "$exists":
        return (value is not _MISSING and value is not None) == bool(arg)
    if op == "$regex":
        return value is not _MISSING and re.search(str(arg), str(value)) is not None
    if op in ("$gt", "$gte", "$lt", "$lte"):
        if value is _MISSING or value is None:
            return False
        try:
            return {
                "$gt": value > arg,
                "$gte": value >= arg,
                "$lt": value < arg,
                "$lte": value <= arg,
            }[op]
        except TypeError:
            return False
    raise ValueError(f"unsupported filter operator {op}")


def sort_runs(runs: list[dict[str, Any]], order: str | None) -> list[dict[str, Any]]:
    """Runs in ``order`` (``+key`` ascending, ``-key`` descending; missing values last)."""
    order = order or "+created_at"
    descending = order.startswith("-")
    key = order.lstrip("+-")

    def sort_key(run: dict[str, Any]) -> tuple[int, Any]:
        value = run_key(run, key)
        if value is _MISSING or value is None or isinstance(value, (dict, list)):
            return (1, 0)
        return (0, value)

    present = [r for r in runs if sort_key(r)[0] == 0]
    absent = [r for r in runs if sort_key(r)[0] == 1]
    try:
        present.sort(key=lambda r: sort_key(r)[1], reverse=descending)
    except TypeError:
        present.sort(key=lambda r: str(sort_key(r)[1]), reverse=descending)
    return present + absent
