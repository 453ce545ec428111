"""``sweepops retry``'s part that touches a sweep directory: mark chosen runs to be handed out
again, as new attempts of the same runs (standard library only: it also runs on a cluster's
login host, shipped as module_utils).

A run marked ``retry`` waits like a ``preempted`` or ``lost`` one
(:data:`sweepops.remote.sweep_layout.REQUEUE_STATES`): the next claim of any agent of the sweep
hands it out again, with the same run id and parameters and the next attempt number
(:meth:`sweepops.runtime.offline_sweep.OfflineSweep.claim`, the one mechanism for "a run is
handed out again"). The attempt that ended stays in the record's ``history_of_attempts``
(state, exit code, reason, when), ``retries`` counts the retries asked for. No new grid point
is taken, so no point is ever finished twice: a finished run is never marked.

Marking happens under the sweep's lock, in the run index's order: the record is written
first, then its new state journalled (``index.jsonl``); an agent that claims between the two
reads the record (it says ``retry``) when the journal catches up, and a marking cut short
before the journal line leaves a record the index still sees ended, whose state a second
``retry`` journals again (idempotent: a run already waiting is not marked twice).

The ended attempt keeps, besides the record's own keys, the one-line ``reason`` status gave
(sweepops.remote.failures.run_reason), when it was ``retried`` and the sbatch options of the
job submitted for it (``retry_sbatch_args``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .failures import read_tail, run_reason
from .run_index import RunIndex
from .slurm import locked, write_json_atomic
from .sweep_layout import REQUEUE_STATES, lease_left, read_records

RETRY = "retry"
#: States ``--failed`` picks.
FAILED_STATES = ("failed",)
#: States a run can be retried from by id (a finished or stopped run never: its point would
#: be finished twice).
RETRYABLE = ("failed", "lost", "preempted", "running")
#: What an ended attempt keeps in ``history_of_attempts``.
ENDED_KEYS = (
    "attempt",
    "agent",
    "started",
    "slurm",
    "host",
    "state",
    "exit_code",
    "ended",
    "reason",
)


@dataclass
class Marked:
    """What marking did in one sweep directory."""

    marked: list[str] = field(default_factory=list)  # run ids now waiting as retries
    waiting: list[str] = field(default_factory=list)  # already waiting (lost, preempted)
    refused: dict[str, str] = field(default_factory=dict)  # run id → why not
    uncancelled: bool = False  # the sweep was cancelled: retry lifts it

    def as_dict(self) -> dict[str, Any]:
        return {
            "marked": self.marked,
            "waiting": self.waiting,
            "refused": self.refused,
            "uncancelled": self.uncancelled,
        }


def choose(
    records: Iterable[dict[str, Any]],
    *,
    failed: bool,
    lost: bool,
    run_ids: Iterable[str],
    sweep_dir: str,
    now: float,
) -> tuple[list[dict[str, Any]], list[str], dict[str, str]]:
    """(records to mark, ids already waiting, {id: why refused}) of one sweep's ``records``:
    ``failed`` its failed runs, ``lost`` its lost runs and running runs whose lease lapsed
    (their agent is gone), ``run_ids`` those runs (ids of other sweeps are not refused here:
    the caller tells the ids no sweep has)."""
    wanted = set(run_ids)
    pick: list[dict[str, Any]] = []
    waiting: list[str] = []
    refused: dict[str, str] = {}
    for rec in records:
        state = rec.get("state")
        lapsed = state == "running" and lease_left(sweep_dir, rec, now) < 0
        by_id = rec["id"] in wanted
        chosen = (
            by_id
            or (failed and state in (*FAILED_STATES, RETRY))  # a failed run already marked
            or (lost and (state == "lost" or lapsed))
        )
        if not chosen:
            continue
        if state in REQUEUE_STATES:  # retry included
            waiting.append(rec["id"])
        elif state == "running" and not lapsed:
            refused[rec["id"]] = "it is running (its agent renews its lease): let it end first"
        elif state not in RETRYABLE:
            refused[rec["id"]] = (
                f"it is {state}: a finished run is never run again "
                "(its grid point would be finished twice)"
            )
        else:
            pick.append(rec)
    return pick, waiting, refused


def mark(
    sweep_dir: str | os.PathLike[str],
    *,
    failed: bool = False,
    lost: bool = False,
    run_ids: Iterable[str] = (),
    check_mode: bool = False,
    sbatch_args: Iterable[str] = (),
) -> Marked:
    """Mark the chosen runs of the sweep directory ``sweep_dir`` for retry (see the module);
    in ``check_mode`` only say what would be marked. ``sbatch_args``: the options of the job
    submitted for the retry, kept with the attempt that ended."""
    path = os.fspath(sweep_dir)
    out = Marked()
    with locked(os.path.join(path, "lock")):  # the sweep's lock, as its agents take it
        now = time.time()
        records, _ = read_records(path)
        pick, out.waiting, out.refused = choose(
            records, failed=failed, lost=lost, run_ids=run_ids, sweep_dir=path, now=now
        )
        out.marked = [r["id"] for r in pick]
        cancelled = os.path.join(path, "cancelled")
        out.uncancelled = os.path.exists(cancelled) and bool(pick or out.waiting)
        if check_mode:
            return out
        events = []
        for rec in records:  # marked before, its journal line lost: journal it (idempotent)
            if rec["id"] in out.waiting and rec.get("state") == RETRY:
                events.append({"e": "state", "id": rec["id"], "state": RETRY,
                               "attempt": rec.get("attempt", 1)})  # fmt: skip
        events += requeue(path, pick, now, sbatch_args=sbatch_args)
        journal(path, events)
        if out.uncancelled:
            os.unlink(cancelled)
    return out


def requeue(
    sweep_dir: str,
    records: Iterable[dict[str, Any]],
    now: float,
    *,
    sbatch_args: Iterable[str] = (),
    why: str | None = None,
) -> list[dict[str, Any]]:
    """Mark ``records`` (chosen, under the sweep's lock: the caller holds it) to be handed out
    again: each ended attempt goes to ``history_of_attempts`` with its reason (``why`` when
    given, e.g. the node it failed on was excluded), the record is written; the run index's
    events to append (:func:`journal`) are returned."""
    events: list[dict[str, Any]] = []
    for rec in records:
        ended: dict[str, Any] = {k: rec[k] for k in ENDED_KEYS if k in rec}
        if rec.get("state") == "running":  # its lease lapsed: it is lost
            ended.update(state="lost", ended=now)
        log = rec.get("log")
        ended["reason"] = run_reason({**rec, **ended}, read_tail(log) if log else "")
        if why:
            ended["requeued_because"] = why
        ended["retried"] = now
        if sbatch_args:
            ended["retry_sbatch_args"] = list(sbatch_args)
        rec["history_of_attempts"] = list(rec.get("history_of_attempts") or []) + [ended]
        if why is None:
            rec["retries"] = int(rec.get("retries") or 0) + 1
        rec["state"] = RETRY
        write_json_atomic(os.path.join(sweep_dir, "runs", f"{rec['id']}.json"), rec)
        events.append({"e": "state", "id": rec["id"], "state": RETRY,
                       "attempt": rec.get("attempt", 1)})  # fmt: skip
    return events


def journal(sweep_dir: str, events: list[dict[str, Any]]) -> None:
    """Append ``events`` to the sweep's run index with :meth:`RunIndex.append` (when it has
    one: a sweep without builds it from the records at its next claim)."""
    index = RunIndex(sweep_dir)
    if events and index.exists():
        index.refresh()
        index.append(*events)
