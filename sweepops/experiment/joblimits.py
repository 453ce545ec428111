"""A cluster's job time limit against its preemption warning and the experiment's runs.

The batch script asks Slurm for USR1 ``preempt_signal_seconds`` before the time limit
(``--signal=B:USR1@N``); the agent then stops its run, requeues it, and the array task is
requeued. When ``time`` leaves no room after the warning, or less than one run needs, every
attempt is interrupted and requeued again: a loop that finishes nothing. Such a deploy is
refused before anything is made.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from sweepops.core.errors import SweepopsError

#: The least a job must have left after the preemption warning to be worth starting.
MIN_WORK_SECONDS = 60

_SLURM_TIME = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")


def slurm_seconds(text: Any) -> int | None:
    """Slurm's ``--time`` (``M``, ``M:S``, ``H:M:S``, ``D-H``, ``D-H:M``, ``D-H:M:S``) in
    seconds; None for empty (the partition's default) or unlimited. ValueError if malformed."""
    value = str(text if text is not None else "").strip()
    if not value or value.lower() in ("unlimited", "infinite", "-1"):
        return None
    match = _SLURM_TIME.match(value)
    if not match:
        raise ValueError(
            f"time {value!r}: use Slurm's formats, e.g. 30 (minutes), 04:00:00, 1-12:00:00"
        )
    days, a, b, c = match.groups()
    nums = [int(x) for x in (a, b, c) if x is not None]
    if days is not None:  # D-H, D-H:M, D-H:M:S
        h, m, s = (nums + [0, 0])[:3]
        return int(days) * 86400 + h * 3600 + m * 60 + s
    if len(nums) == 1:  # minutes
        return nums[0] * 60
    if len(nums) == 2:  # M:S
        return nums[0] * 60 + nums[1]
    return nums[0] * 3600 + nums[1] * 60 + nums[2]


def _clock(seconds: int) -> str:
    h, rest = divmod(max(0, seconds), 3600)
    return f"{h:02d}:{rest // 60:02d}:{rest % 60:02d}"


def problem(
    host: str, time_limit: Any, signal_seconds: Any, runs_seconds: Iterable[float | None] = ()
) -> str | None:
    """What is wrong with this cluster's ``time`` / ``preempt_signal_seconds`` for runs of
    ``runs_seconds`` (the experiment's ``_time_per_run``s), or None."""
    try:
        limit = slurm_seconds(time_limit)
    except ValueError as exc:
        return f"{host}: {exc}"
    try:
        warn = int(signal_seconds or 0)
    except (TypeError, ValueError):
        return f"{host}: preempt_signal_seconds {signal_seconds!r} is not a number of seconds"
    if limit is None or warn <= 0:
        return None
    room = limit - warn
    longest = max((float(r) for r in runs_seconds if r), default=0.0)
    need = max(MIN_WORK_SECONDS, int(longest + 0.999))
    if room >= need:
        return None
    what = (
        f"the longest run (_time_per_run {int(longest)} s)"
        if longest > MIN_WORK_SECONDS
        else f"at least {MIN_WORK_SECONDS} s of work"
    )
    return (
        f"{host}: time {time_limit} ({limit} s) leaves {max(room, 0)} s before the preemption "
        f"warning (preempt_signal_seconds {warn}), less than {what}: every attempt would be "
        f"interrupted and requeued, in a loop that finishes nothing; set time to at least "
        f"{_clock(warn + need)}, or preempt_signal_seconds to at most {max(limit - need, 0)} "
        "(0: no warning)"
    )


def check(
    limits: Mapping[str, Mapping[str, Any]], runs_seconds: Iterable[float | None] = ()
) -> None:
    """Raise SweepopsError naming every cluster whose limits loop (see :func:`problem`)."""
    runs = list(runs_seconds)
    problems = [
        msg
        for host, lim in sorted(limits.items())
        if (msg := problem(host, lim.get("time"), lim.get("preempt_signal_seconds"), runs))
    ]
    if problems:
        raise SweepopsError(
            "; ".join(problems) + "; nothing was created",
            hint="set them in the cluster's group_vars (or -e time=... / "
            "-e preempt_signal_seconds=...)",
        )
