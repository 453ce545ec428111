"""The run index of an offline sweep: what is claimed, running, finished and waiting, kept so
that a claim reads and writes a constant amount, however many runs the sweep already has.

Two files in the sweep directory, both touched only under the sweep's lock::

    index.jsonl   append-only journal, one JSON event a line:
                    {"e": "claim", "id", "point", "params", "attempt", "created", "started",
                     "lease_seconds", "agent"}       a run handed to an agent (first or again)
                    {"e": "state", "id", "state", "attempt"}
                                                     the run's record reached ``state``
                                                     (finished, failed, stopped, preempted, lost,
                                                     retry: marked by `sweepops retry`)
                    {"e": "forget", "id"}            its record was deleted by hand: its grid
                                                     point is free again
    grid.json     {"points": [...]}: a grid sweep's points, enumerated once by wandb's engine
                  in the engine's order (``offline_sweep.grid_points``)

A process keeps the index in memory (:class:`RunIndex`) with the journal offset it has read up
to; each claim reads only the tail since then (the events of the other agents' claims and
ends: a few lines), so the claim costs the same at run 10 and at run 10,000. A process that
starts reads the journal once (short lines, one sequential read). Leases are not journalled:
they stay the mtime of ``runs/RUN.hb``, renewed without the lock, and only the runs that are
running (at most one per agent) are looked at by a claim.

The run records (``runs/RUN.json``) stay what status, results and people read; the journal is
written next to them in an order that loses nothing if an agent dies between the two writes:
a claim is journalled before its record is written (a claim without a record lapses like any
other and is handed out again), a record's end is written before it is journalled (a lapsed
run whose record says it ended is taken as ended, not re-run).

A sweep directory without a journal (made by an older sweepops) gets one built from its run
records, once, by the first claim (under the lock). Every agent of one sweep must run this
code: an older agent writing records without journalling them would not be seen.

Bayes sweeps keep asking wandb's engine over every run's record at each claim: proposing the
next point is the model's own cost (it fits every finished run) and grows with the runs.
Random sweeps draw from the engine, which does not look at the runs.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .sweep_layout import REQUEUE_STATES

INDEX = "index.jsonl"
GRID = "grid.json"
RUNNING = "running"


class CannotIndex(Exception):
    """The index cannot be built from the records (a point that cannot be told)."""


def point_key(params: Any) -> str:
    """A grid point's identity: its parameters as canonical JSON."""
    return json.dumps(params, sort_keys=True, default=str)


@dataclass
class Entry:
    """What the index knows of one run."""

    id: str
    state: str
    point: int | None
    params: dict[str, Any]
    attempt: int
    created: float
    started: float
    lease_seconds: float
    agent: dict[str, Any] = field(default_factory=dict)

    def as_record(self) -> dict[str, Any]:
        """A run record for a run whose record is missing (its agent died right after the
        claim was journalled)."""
        return {
            "id": self.id,
            "params": self.params,
            "attempt": self.attempt,
            "created": self.created,
            "state": self.state,
            "agent": self.agent,
            "started": self.started,
            "lease_seconds": self.lease_seconds,
        }


class RunIndex:
    """The journal of one sweep directory, read up to ``offset``. Use under the sweep's lock."""

    def __init__(self, sweep_dir: str | os.PathLike[str]):
        self.dir = os.fspath(sweep_dir)
        self.path = os.path.join(self.dir, INDEX)
        self.offset = 0
        self.runs: dict[str, Entry] = {}
        self.running: set[str] = set()
        self.waiting: set[str] = set()
        self.taken: set[int] = set()
        self.free: set[int] = set()  # points freed by a forgotten run
        self._cursors: dict[tuple[int, int], int] = {}  # per shard: points below are taken
        self._points: list[Any] | None = None

    # ------------------------------------------------------------------ reading
    def exists(self) -> bool:
        return os.path.exists(self.path)

    def refresh(self) -> None:
        """Read the events appended since the last call (whole lines only: a line cut short
        by a writer that died is dropped by the next append)."""
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            data = fh.read()
        end = data.rfind(b"\n") + 1
        for line in data[:end].splitlines():
            if line.strip():
                self._apply(json.loads(line))
        self.offset += end

    def _apply(self, ev: dict[str, Any]) -> None:
        kind, run_id = ev["e"], ev["id"]
        if kind == "claim":
            entry = Entry(
                id=run_id,
                state=RUNNING,
                point=ev.get("point"),
                params=ev.get("params") or {},
                attempt=int(ev.get("attempt") or 1),
                created=float(ev.get("created") or 0.0),
                started=float(ev.get("started") or 0.0),
                lease_seconds=float(ev.get("lease_seconds") or 0.0),
                agent=ev.get("agent") or {},
            )
            self.runs[run_id] = entry
            self._take(entry.point)
            self._set_state(entry, RUNNING)
        elif kind == "state" and run_id in self.runs:
            entry = self.runs[run_id]
            if ev.get("attempt") is not None:
                entry.attempt = int(ev["attempt"])
            self._set_state(entry, ev["state"])
        elif kind == "forget" and run_id in self.runs:
            entry = self.runs.pop(run_id)
            self.running.discard(run_id)
            self.waiting.discard(run_id)
            if entry.point is not None:
                self.taken.discard(entry.point)
                self.free.add(entry.point)

    def _take(self, point: int | None) -> None:
        if point is None:
            return
        self.taken.add(point)
        self.free.discard(point)

    def _set_state(self, entry: Entry, state: str) -> None:
        entry.state = state
        self.running.discard(entry.id)
        self.waiting.discard(entry.id)
        if state == RUNNING:
            self.running.add(entry.id)
        elif state in REQUEUE_STATES:
            self.waiting.add(entry.id)

    # ------------------------------------------------------------------ writing
    def append(self, *events: dict[str, Any]) -> None:
        """Journal ``events`` (one write). Bring the index up to date (:meth:`refresh`) first."""
        size = os.path.getsize(self.path)
        if size > self.offset:  # a line cut short by a writer that died: drop it
            os.truncate(self.path, self.offset)
        data = b"".join(json.dumps(ev, default=str).encode() + b"\n" for ev in events)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        try:
            written = os.write(fd, data)
        finally:
            os.close(fd)
        if written != len(data):  # a short write: the next append truncates it away
            raise OSError(28, "short write to the run index", self.path)
        for ev in events:
            self._apply(ev)
        self.offset += written

    # ------------------------------------------------------------------ the grid
    def points(self) -> list[Any]:
        if self._points is None:
            with open(os.path.join(self.dir, GRID)) as fh:
                self._points = list(json.load(fh)["points"])
        return self._points

    def next_point(self, shard: tuple[int, int] | None = None) -> int | None:
        """The first grid point (in the engine's order) not taken, of this shard; None when
        every point is taken. Amortised constant: the cursor only moves forward."""
        total = len(self.points())
        index, count = shard or (0, 1)
        freed = [p for p in self.free if p % count == index]
        if freed:
            return min(freed)
        p = self._cursors.get((index, count), index)
        while p < total and p in self.taken:
            p += count
        self._cursors[(index, count)] = p
        return p if p < total else None

    # ------------------------------------------------------------------ building
    def build(
        self,
        records: Iterable[dict[str, Any]],
        points: list[Any] | None,
    ) -> None:
        """Write the journal (and ``grid.json`` for a grid) of a sweep directory that has none,
        from its run records; atomically: a build cut short leaves no index."""
        if points is not None:
            _write_atomic(os.path.join(self.dir, GRID), {"points": points})
            self._points = list(points)
        where = {point_key(p): i for i, p in enumerate(points or [])}
        events: list[dict[str, Any]] = []
        for rec in records:
            events.append(
                {
                    "e": "claim",
                    "id": rec["id"],
                    "point": where.get(point_key(rec.get("params"))),
                    "params": rec.get("params") or {},
                    "attempt": rec.get("attempt", 1),
                    "created": rec.get("created", 0.0),
                    "started": rec.get("started") or rec.get("created") or 0.0,
                    "lease_seconds": rec.get("lease_seconds") or 0.0,
                    "agent": rec.get("agent") or {},
                }
            )
            if rec["state"] != RUNNING:
                events.append({"e": "state", "id": rec["id"], "state": rec["state"]})
        tmp = f"{self.path}.{os.getpid()}.tmp"
        try:
            with open(tmp, "wb") as fh:
                fh.write(b"".join(json.dumps(ev, default=str).encode() + b"\n" for ev in events))
            os.replace(tmp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self.refresh()


def _write_atomic(path: str, data: dict[str, Any]) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w") as fh:
            json.dump(data, fh)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
