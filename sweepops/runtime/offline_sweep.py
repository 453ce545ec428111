"""The offline sweep engine: a sweep that lives in a directory, with no server.

A sweep directory sits on a filesystem every agent of the sweep can see (a cluster's shared
disk, or a local one)::

    SWEEP_DIR/
      sweep.json            what the sweep is: id, name, tags, the wandb sweep config
      lock                  POSIX lock file serialising claims (fcntl locks work over NFS)
      runs/RUN.json         one record per run (state, params, attempts, summary, ...)
      runs/RUN.hb           the owning agent's heartbeat (mtime is the lease)
      params/RUN.yaml       the run's parameters, as WANDB_SWEEP_PARAM_PATH
      logs/RUN.log          the run's stdout+stderr, one file per run, appended per attempt
      wandb/                WANDB_DIR of the runs (offline-run-* directories)
      agents/AGENT.json     agents started for the sweep (local executor, job ids)
      index.jsonl           the run index: claims and ends, appended under the lock
      grid.json             a grid sweep's points in the engine's order (remote/run_index)
      checkpoints/RUN/      the run's own directory, the same for every attempt
                            (SWEEPOPS_RUN_DIR): a program that checkpoints there resumes

The next run is chosen by wandb's own engine (the PyPI package ``sweeps``) under the lock, so
concurrent agents never run the same grid point twice. A run whose agent stopped beating
(kill -9, node loss) or was interrupted (SIGTERM, preemption) goes back into the queue and is
run again with the same parameters; nothing is dropped.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import secrets
import socket
import string
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sweepops.core.errors import SweepopsError
from sweepops.remote import bad_nodes, run_index, sweep_layout, sweep_retry
from sweepops.runtime.grid import grid_size

#: Run states. ``running`` is owned by an agent; ``preempted`` and ``lost`` wait to be re-run.
RUNNING = "running"
FINISHED = "finished"
FAILED = "failed"
STOPPED = "stopped"  # ended early by early_terminate: counts as finished
PREEMPTED = "preempted"  # interrupted by a signal: re-run
LOST = "lost"  # its agent stopped heartbeating: re-run
RETRY = "retry"  # marked by `sweepops retry` (sweepops.remote.sweep_retry): re-run
REQUEUE_STATES = sweep_layout.REQUEUE_STATES  # the one list: (PREEMPTED, LOST, RETRY)
DONE_STATES = (FINISHED, FAILED, STOPPED)

DEFAULT_LEASE_SECONDS = sweep_layout.DEFAULT_LEASE_SECONDS  # the one default (remote/sweep_layout)

_ID_ALPHABET = string.ascii_lowercase + string.digits
SWEEP_SUBDIRS = sweep_layout.SWEEP_SUBDIRS


def new_id(length: int = 8) -> str:
    """A wandb-style id: lowercase letters and digits."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


class DiskFull(SweepopsError):
    """A sweep file could not be written: its disk (or quota) is full. Nothing half-written
    is left behind: the file keeps its previous content."""

    HINT = (
        "free space there (or raise the quota), then start an agent again: "
        "runs already recorded are kept"
    )

    @classmethod
    def of(cls, exc: OSError, message: str) -> DiskFull | None:
        """``message`` as a DiskFull when ``exc`` says the disk or quota is full, else None."""
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return cls(message, hint=cls.HINT)
        return None


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True, default=str))
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        full = DiskFull.of(
            exc,
            f"disk full: cannot write {path} "
            f"({exc.strerror}, {_free_space(path.parent)} free there)",
        )
        if full is not None:
            raise full from None
        raise


def _free_space(path: Path) -> str:
    try:
        st = os.statvfs(path)
    except OSError:
        return "?"
    return f"{st.f_bavail * st.f_frsize // 1024} KiB"


def sweep_meta(
    *,
    config: dict[str, Any],
    name: str,
    tags: tuple[str, ...] | list[str] = (),
    sweep_id: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The content of a sweep's ``sweep.json``: made once, written wherever the sweep lives."""
    return {
        "id": sweep_id or new_id(),
        "name": name,
        "tags": list(tags),
        "config": config,
        "created": time.time(),
        "engine": "offline",
        **(extra or {}),
    }


@dataclass
class Claim:
    """A run handed to an agent: its id, parameters and attempt number."""

    run_id: str
    params: dict[str, dict[str, Any]]
    attempt: int
    record: dict[str, Any] = field(repr=False)


class OfflineSweep:
    """One sweep directory. Cheap to construct; every method re-reads the disk."""

    def __init__(
        self, path: Path | str, shard: Shard | None = None, *, bad_node_failures: int = 0
    ):
        """``shard`` (index, count): this copy of the sweep runs only its share of the runs —
        one deploy to several clusters with no shared disk splits a sweep between them.
        ``bad_node_failures``: runs failing in a row on a Slurm node, while others finish
        elsewhere, that exclude the node (:mod:`sweepops.remote.bad_nodes`; 0: never)."""
        self.bad_node_failures = bad_node_failures
        #: After a claim refused because the agent's node is excluded: the node and why.
        self.excluded_here: tuple[str, str] | None = None
        self.path = Path(path).absolute()
        self.runs_dir = self.path / "runs"
        self.shard = shard if shard and shard[1] > 1 else None
        self._meta: dict[str, Any] | None = None
        self._others: list[Any] | None = None
        #: After a claim that handed out nothing: seconds until a running run's lease can
        #: lapse (None: nothing is running), and what was held back and why.
        self.lease_wait: float | None = None
        self.notes: list[str] = []

    # ------------------------------------------------------------------ creation
    @classmethod
    def create(
        cls,
        parent: Path,
        *,
        config: dict[str, Any],
        name: str,
        tags: tuple[str, ...] | list[str] = (),
        sweep_id: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> OfflineSweep:
        """Create a new sweep directory ``parent/ID`` and return it."""
        meta = sweep_meta(config=config, name=name, tags=tags, sweep_id=sweep_id, extra=extra)
        return cls.create_from_meta(parent, meta)

    @classmethod
    def create_from_meta(cls, parent: Path, meta: dict[str, Any]) -> OfflineSweep:
        """Create ``parent/ID`` from a ``sweep_meta`` dict; it appears whole or not at all
        (an existing sweep of that id is left as it is)."""
        Path(parent).mkdir(parents=True, exist_ok=True)
        sweep_layout.materialise(parent, meta)
        return cls(Path(parent) / str(meta["id"]))

    @property
    def meta(self) -> dict[str, Any]:
        if self._meta is None:
            try:
                self._meta = json.loads((self.path / "sweep.json").read_text())
            except FileNotFoundError:
                raise SweepopsError(
                    f"no sweep at {self.path} (sweep.json missing)",
                    hint="pass the sweep directory printed by `sweepops deploy`, "
                    "or see `sweepops status`",
                ) from None
        return self._meta

    @property
    def id(self) -> str:
        return str(self.meta["id"])

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.meta["config"])

    @property
    def cancelled(self) -> bool:
        return (self.path / "cancelled").exists()

    def cancel(self) -> None:
        """Agents claim nothing more from this sweep (running runs finish)."""
        (self.path / "cancelled").touch()

    # ------------------------------------------------------------------ locking
    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the sweep's exclusive lock (POSIX record lock: works on NFS too)."""
        with open(self.path / "lock", "a+") as fh:
            fcntl.lockf(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.lockf(fh, fcntl.LOCK_UN)

    # ------------------------------------------------------------------ records
    def run_path(self, run_id: str) -> Path:
        return self.runs_dir / f"{run_id}.json"

    def heartbeat_path(self, run_id: str) -> Path:
        return self.runs_dir / f"{run_id}.hb"

    def read_run(self, run_id: str) -> dict[str, Any]:
        return dict(json.loads(self.run_path(run_id).read_text()))

    def runs(self) -> list[dict[str, Any]]:
        """All readable run records, oldest first (see :meth:`unreadable` for the others)."""
        return self._read_runs()[0]

    def unreadable(self) -> dict[str, str]:
        """{path: why} of the run records that cannot be read (truncated, not JSON)."""
        return self._read_runs()[1]

    def _read_runs(self) -> tuple[list[dict[str, Any]], dict[str, str]]:
        records, unreadable = sweep_layout.read_records(str(self.path))
        records.sort(key=lambda r: (r.get("created", 0), r["id"]))
        return records, unreadable

    def _stand_ins(self, unreadable: dict[str, str]) -> tuple[list[dict[str, Any]], list[str]]:
        """What is known of runs whose records cannot be read: (records with the parameters
        from ``params/RUN.yaml``, shown to the engine as taken so that their points are not
        handed out again in silence; the run ids whose parameters are unknown too)."""
        known: list[dict[str, Any]] = []
        unknown: list[str] = []
        for path in sorted(unreadable):
            run_id = Path(path).name[: -len(".json")]
            try:
                params = yaml.safe_load((self.path / "params" / f"{run_id}.yaml").read_text())
                params.pop("wandb_version", None)
            except (OSError, yaml.YAMLError, AttributeError):
                unknown.append(run_id)
                continue
            known.append({"id": run_id, "state": sweep_layout.UNREADABLE, "params": params})
        return known, unknown

    def write_run(self, record: dict[str, Any]) -> None:
        _write_json_atomic(self.run_path(record["id"]), record)

    def beat(self, run_id: str) -> None:
        """Renew the lease of a running run."""
        hb = self.heartbeat_path(run_id)
        try:
            os.utime(hb)
        except FileNotFoundError:
            hb.touch()

    def _lease_left(self, record: dict[str, Any], now: float) -> float:
        return sweep_layout.lease_left(str(self.path), record, now)

    def _lease_expired(self, record: dict[str, Any], now: float) -> bool:
        return self._lease_left(record, now) < 0

    # ------------------------------------------------------------------ claiming
    def claim(
        self, agent: dict[str, Any], *, lease_seconds: float = DEFAULT_LEASE_SECONDS
    ) -> Claim | None:
        """Take the next run for ``agent``, or None when nothing can be handed out now.

        Under the lock: runs whose lease expired become ``lost``; a ``preempted`` or ``lost``
        run is handed out again first (same id, same parameters, next attempt); otherwise
        the next point is proposed, honouring ``run_cap``: a grid's next point not taken
        (``grid.json``, in wandb's engine's order), a random draw of wandb's engine, or (bayes)
        wandb's engine over every run. What is taken, running and waiting comes from the
        sweep's run index (:mod:`sweepops.remote.run_index`): the claim of a grid or random
        sweep reads and writes a constant amount however many runs there are.

        After a None, :attr:`lease_wait` is the seconds until the lease of a run still
        running elsewhere can lapse (None when no run is running: the sweep is done), and
        :attr:`notes` says what was not handed out and why (unreadable records).
        """
        self.lease_wait = None
        self.notes = []
        if self.cancelled:
            return None
        node = bad_nodes.node_of(agent)
        if node is not None:
            why = bad_nodes.excluded(self.path).get(node)
            if why is not None:
                self.excluded_here = (node, why)
                return None
        if self._engine_needed():
            _warm_engine(self.config)  # heavy first imports happen outside the lock
        if self._scan is None:
            # Once per process, outside the lock: which records cannot be read (named in the
            # notes) and which were deleted by hand (their points are run again).
            names = _listdir(self.runs_dir)
            listed = {n[: -len(".json")] for n in names if n.endswith(".json")}
            self._scan = listed, self._read_runs()[1]
        with self.locked():
            index = self._locked_index()
            if index is None:
                return self._claim_by_scan(agent, lease_seconds)
            if not self._scanned:
                self._note_scan(index)
                self._scanned = True
            now = time.time()
            for run_id in sorted(index.running):
                entry = index.runs[run_id]
                if sweep_layout.lease_left(str(self.path), entry.as_record(), now) < 0:
                    self._declare_lost(index, entry, now)
            if index.waiting:
                entry = min((index.runs[r] for r in index.waiting), key=lambda e: (e.created, e.id))
                rec = self._record_of(entry)
                rec["attempt"] = int(rec.get("attempt", 1)) + 1
                point = entry.point
            else:
                proposal = self._propose_indexed(index)
                if proposal is None:
                    running = [
                        sweep_layout.lease_left(str(self.path), index.runs[r].as_record(), now)
                        for r in index.running
                    ]
                    self.lease_wait = max(0.0, min(running)) if running else None
                    return None
                point, params = proposal
                rec = {"id": self._fresh_run_id(), "params": params, "attempt": 1, "created": now}
            started = time.time()
            index.append(
                {"e": "claim", "id": rec["id"], "point": point, "params": rec["params"],
                 "attempt": rec["attempt"], "created": rec["created"], "started": started,
                 "lease_seconds": lease_seconds, "agent": agent}  # fmt: skip
            )
            return self._hand_out(rec, agent, lease_seconds, started)

    def _hand_out(
        self, rec: dict[str, Any], agent: dict[str, Any], lease_seconds: float, started: float
    ) -> Claim:
        rec.update(
            state=RUNNING,
            agent=agent,
            started=started,
            lease_seconds=lease_seconds,
            ended=None,
            exit_code=None,
        )
        self.beat(rec["id"])
        self.write_run(rec)
        return Claim(run_id=rec["id"], params=rec["params"], attempt=rec["attempt"], record=rec)

    def _engine_needed(self) -> bool:
        """Whether a claim asks wandb's engine, whose first import (scipy's) costs each agent
        seconds of CPU: random and bayes sweeps and early termination do, a grid sweep does
        not once its points are on disk (grid.json, written by the claim that builds the run
        index: that one agent imports the engine under the lock, once per sweep)."""
        return self.config.get("method") != "grid" or bool(self.config.get("early_terminate"))

    _scan: tuple[set[str], dict[str, str]] | None = None
    _scanned = False
    _index: run_index.RunIndex | None = None

    def _locked_index(self) -> run_index.RunIndex | None:
        """The sweep's run index brought up to date (built from the records when the sweep
        has none yet); None when it cannot be built (records whose points cannot be told)."""
        if self._index is None:
            index = run_index.RunIndex(self.path)
            if not index.exists():
                records, unreadable = self._read_runs()
                stand_ins, unknown = self._stand_ins(unreadable)
                if unknown:
                    return None
                points = grid_points(self.config) if self.config.get("method") == "grid" else None
                index.build(records + stand_ins, points)
            self._index = index
        self._index.refresh()
        return self._index

    def _note_scan(self, index: run_index.RunIndex) -> None:
        """Say which records cannot be read (their points are not run again) and forget the
        runs whose record was deleted by hand (their points are run again)."""
        assert self._scan is not None
        listed, unreadable = self._scan
        for path, why in sorted(unreadable.items()):
            self.notes.append(
                f"{path} cannot be read ({why}): its point is not run again; "
                "delete the file to have it re-run"
            )
        gone = [
            e.id
            for e in index.runs.values()
            if e.state in DONE_STATES and e.id not in listed and not self.run_path(e.id).exists()
        ]
        if gone:
            index.append(*({"e": "forget", "id": g} for g in gone))

    def _record_of(self, entry: run_index.Entry) -> dict[str, Any]:
        try:
            return self.read_run(entry.id)
        except (OSError, ValueError):  # the agent died before writing it, or it is damaged
            return entry.as_record()

    def _declare_lost(self, index: run_index.RunIndex, entry: run_index.Entry, now: float) -> None:
        rec = self._record_of(entry)
        if rec.get("state") != RUNNING or rec.get("attempt", 1) != entry.attempt:
            # its end was recorded, its agent died before journalling it: the record stands
            index.append({"e": "state", "id": entry.id, "state": rec.get("state"),
                          "attempt": rec.get("attempt")})  # fmt: skip
            return
        rec["state"] = LOST
        rec["history_of_attempts"] = rec.get("history_of_attempts", []) + [
            {**_attempt_summary(rec), "state": LOST, "ended": now}
        ]
        self.write_run(rec)
        index.append({"e": "state", "id": entry.id, "state": LOST, "attempt": entry.attempt})

    def _propose_indexed(
        self, index: run_index.RunIndex
    ) -> tuple[int | None, dict[str, dict[str, Any]]] | None:
        """(grid point, parameters) of the next new run, or None."""
        config = self.config
        cap = shard_cap(config.get("run_cap"), self.shard)
        if cap is not None and len(index.runs) >= cap:
            return None
        method = config.get("method")
        if method == "grid":
            point = index.next_point(self.shard)
            return None if point is None else (point, index.points()[point])
        if method == "random":  # the engine draws without looking at the runs
            suggestion = _sweeps_engine().next_run(config, [])
            return None if suggestion is None else (None, _plain(suggestion.config))
        # bayes: the engine's model is fitted to every run, so every record is read
        records, unreadable = self._read_runs()
        stand_ins, unknown = self._stand_ins(unreadable)
        if unknown:
            return None
        params = self._propose(records + stand_ins)
        return None if params is None else (None, params)

    def _claim_by_scan(self, agent: dict[str, Any], lease_seconds: float) -> Claim | None:
        """A claim that reads every record: for a sweep whose run index cannot be built."""
        now = time.time()
        records, unreadable = self._read_runs()
        for rec in records:
            if rec["state"] == RUNNING and self._lease_expired(rec, now):
                rec["state"] = LOST
                rec["history_of_attempts"] = rec.get("history_of_attempts", []) + [
                    {**_attempt_summary(rec), "state": LOST, "ended": now}
                ]
                self.write_run(rec)
        requeued = [r for r in records if r["state"] in REQUEUE_STATES]
        if requeued:
            rec = requeued[0]
            rec["attempt"] = int(rec.get("attempt", 1)) + 1
        else:
            stand_ins, unknown = self._stand_ins(unreadable)
            for r in stand_ins:
                path = str(self.run_path(r["id"]))
                self.notes.append(
                    f"{path} cannot be read ({unreadable[path]}): its point is not run "
                    "again; delete the file to have it re-run"
                )
            if unknown:
                self.notes.append(
                    "cannot tell which points "
                    + ", ".join(str(self.run_path(u)) for u in unknown)
                    + " ran (unreadable, no params file): no new point is handed out "
                    "until they are repaired or deleted"
                )
                params = None
            else:
                params = self._propose(records + stand_ins)
            if params is None:
                running = [self._lease_left(r, now) for r in records if r["state"] == RUNNING]
                self.lease_wait = max(0.0, min(running)) if running else None
                return None
            rec = {"id": self._fresh_run_id(), "params": params, "attempt": 1, "created": now}
        return self._hand_out(rec, agent, lease_seconds, time.time())

    def _fresh_run_id(self) -> str:
        while True:
            run_id = new_id()
            if not self.run_path(run_id).exists():
                return run_id

    def _propose(self, records: list[dict[str, Any]]) -> dict[str, dict[str, Any]] | None:
        config = self.config
        cap = shard_cap(config.get("run_cap"), self.shard)
        if cap is not None and len(records) >= cap:
            return None
        sweeps = _sweeps_engine()
        known = [to_sweep_run(r) for r in records] + self._other_shards_points()
        suggestion = sweeps.next_run(config, known)
        if suggestion is None:
            return None
        return _plain(suggestion.config)

    def _other_shards_points(self) -> list[Any]:
        """Grid points that belong to other shards, shown to the engine as already taken."""
        if self.shard is None or self.config.get("method") != "grid":
            return []
        if self._others is None:
            index, count = self.shard
            points = grid_points(self.config)
            sweeps = _sweeps_engine()
            self._others = [
                sweeps.SweepRun(name=f"shard-{j}", state="finished", config=p)
                for j, p in enumerate(points)
                if j % count != index
            ]
        return self._others

    # ------------------------------------------------------------------ finishing
    def finish(
        self,
        claim: Claim,
        *,
        state: str,
        exit_code: int | None,
        summary: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Record the end of a claimed run.

        If the run was meanwhile declared lost and handed to another agent (this agent's
        lease lapsed, e.g. a frozen node), the result is kept as an extra attempt instead of
        overwriting the newer owner's record.
        """
        with self.locked():
            rec = self.read_run(claim.run_id)
            now = time.time()
            result = {
                "state": state,
                "exit_code": exit_code,
                "ended": now,
                "duration": now - float(claim.record["started"]),
                "summary": summary or {},
                "error": None,  # this attempt's, if the agent gives one (not an earlier one's)
                **(extra or {}),
            }
            if rec.get("attempt") != claim.attempt or rec.get("agent") != claim.record["agent"]:
                rec["late_results"] = rec.get("late_results", []) + [
                    {**result, "attempt": claim.attempt, "agent": claim.record["agent"]}
                ]
                if rec["state"] in REQUEUE_STATES and state in DONE_STATES:
                    rec.update(result)  # nobody took it over yet: the late result stands
            else:
                if state in REQUEUE_STATES:
                    rec["history_of_attempts"] = rec.get("history_of_attempts", []) + [
                        {**_attempt_summary(rec), **result}
                    ]
                rec.update(result)
            self.write_run(rec)
            self._journal_state(rec)
            if rec.get("attempt") == claim.attempt and state in (FINISHED, STOPPED, FAILED):
                self._count_on_node(claim, ok=state != FAILED)
            with contextlib.suppress(FileNotFoundError):
                self.heartbeat_path(claim.run_id).unlink()
            return rec

    def _count_on_node(self, claim: Claim, *, ok: bool) -> None:
        """The bad-node rule (under the lock): count the run's end on its Slurm node; the
        failed runs of a streak that excluded a node are handed out again, once."""
        node = bad_nodes.node_of(claim.record.get("agent"))
        if node is None or self.bad_node_failures <= 0:
            return
        for ex in bad_nodes.note_end(
            self.path, node, claim.run_id, ok=ok, threshold=self.bad_node_failures
        ):
            again = []
            for run_id in ex.runs:
                with contextlib.suppress(OSError, ValueError):
                    rec = self.read_run(run_id)
                    tried = any(
                        a.get("requeued_because") for a in rec.get("history_of_attempts") or []
                    )
                    if rec.get("state") == FAILED and not tried:
                        again.append(rec)
            why = f"node {ex.node} excluded: {ex.reason}"
            sweep_retry.journal(
                str(self.path), sweep_retry.requeue(str(self.path), again, time.time(), why=why)
            )

    def exclude_nodes(self, nodes: list[str], reason: str) -> list[str]:
        """Exclude ``nodes`` from the sweep (e.g. Slurm's NODE_FAIL, from the batch script);
        the ones newly excluded."""
        with self.locked():
            return [n for n in nodes if bad_nodes.exclude(self.path, n, reason)]

    def _journal_state(self, rec: dict[str, Any]) -> None:
        """Tell the run index the state the record now has (after the record is written)."""
        index = self._index or run_index.RunIndex(self.path)
        if not index.exists():
            return  # a sweep claimed by scanning (its index could not be built)
        self._index = index
        index.refresh()
        entry = index.runs.get(rec["id"])
        if entry is None or (entry.state, entry.attempt) != (rec["state"], rec.get("attempt")):
            index.append({"e": "state", "id": rec["id"], "state": rec["state"],
                          "attempt": rec.get("attempt")})  # fmt: skip

    def update_running(self, claim: Claim, **fields: Any) -> bool:
        """Merge ``fields`` into a run this agent still owns. False if it lost ownership."""
        with self.locked():
            rec = self.read_run(claim.run_id)
            if rec.get("attempt") != claim.attempt or rec.get("state") != RUNNING:
                return False
            rec.update(fields)
            self.write_run(rec)
            return True

    def should_stop(self, run_id: str) -> bool:
        """Whether wandb's early_terminate (hyperband) says this running run should stop."""
        config = self.config
        if not config.get("early_terminate"):
            return False
        sweeps = _sweeps_engine()
        records = self.runs()
        to_stop = sweeps.stop_runs(config, [to_sweep_run(r) for r in records])
        return any(r.name == run_id for r in to_stop)

    # ------------------------------------------------------------------ progress
    def progress(self) -> dict[str, int | None]:
        """Counts by state plus ``left`` (None when the sweep is unbounded)."""
        return progress_of(self.config, self.report()["states"], self.shard)

    def report(self) -> dict[str, Any]:
        """States, lapsed leases, runs waiting, unreadable records, requeue loops
        (:func:`sweepops.remote.sweep_layout.report`)."""
        return sweep_layout.report(str(self.path))


Shard = tuple[int, int]


def parse_shard(text: str) -> Shard:
    """``"I/K"`` (1-based I, as people count) → (I-1, K)."""
    try:
        i, k = (int(x) for x in text.split("/"))
    except ValueError:
        raise SweepopsError(f"--shard {text!r}: expected I/K, e.g. 1/2") from None
    if not 1 <= i <= k:
        raise SweepopsError(f"--shard {text!r}: I must be between 1 and K")
    return (i - 1, k)


def shard_cap(cap: Any, shard: Shard | None) -> int | None:
    """This shard's part of a run cap (the caps of all shards add up to ``cap``)."""
    if cap is None:
        return None
    if shard is None:
        return int(cap)
    index, count = shard
    return int(cap) // count + (1 if index < int(cap) % count else 0)


def grid_points(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Every point of a grid sweep, in the engine's order."""
    total = expected_runs({**config, "run_cap": None})
    sweeps = _sweeps_engine()
    return [_plain(r.config) for r in sweeps.next_runs(config, [], n=total or 0) if r is not None]


def progress_of(
    config: dict[str, Any], states: dict[str, int], shard: Shard | None = None
) -> dict[str, int | None]:
    """Counts by run state plus ``total`` and ``left`` (None when the sweep is unbounded)."""
    counts: dict[str, int | None] = {s: 0 for s in (*DONE_STATES, RUNNING, *REQUEUE_STATES)}
    counts.update(states)
    total = expected_runs(config, shard)
    made = sum(states.values())
    requeued = sum(states.get(s, 0) for s in REQUEUE_STATES)
    counts["total"] = total
    counts["left"] = None if total is None else max(0, total - made) + requeued
    return counts


def expected_runs(config: dict[str, Any], shard: Shard | None = None) -> int | None:
    """How many runs the sweep (or its shard) will make in all, or None when unbounded."""
    cap = shard_cap(config.get("run_cap"), shard)
    if config.get("method") != "grid":
        return cap
    size = grid_size(config.get("parameters", {}))
    if size is None:  # a continuous parameter: wandb's engine refuses such a grid
        return cap
    if shard is not None:
        index, count = shard
        size = len(range(index, size, count))
    return size if cap is None else min(size, cap)


_STATE_FOR_ENGINE = {
    RUNNING: "running",
    FINISHED: "finished",
    STOPPED: "finished",
    FAILED: "failed",
    PREEMPTED: "preempted",
    LOST: "crashed",
    RETRY: "running",  # marked by `sweepops retry`: handed out again, its point is taken
    sweep_layout.UNREADABLE: "running",  # its point is taken: never proposed again in silence
}


def to_sweep_run(record: dict[str, Any]) -> Any:
    """A run record as wandb's engine sees it (``sweeps.SweepRun``)."""
    sweeps = _sweeps_engine()
    return sweeps.SweepRun(
        name=record["id"],
        state=_STATE_FOR_ENGINE.get(record["state"], "running"),
        config=record["params"],
        summaryMetrics=record.get("summary") or {},
        sampledHistory=record.get("history") or [],
        exitcode=record.get("exit_code"),
    )


def _sweeps_engine() -> Any:
    """wandb's ``sweeps`` package, imported on first use (it pulls in numpy, scipy, sklearn)
    with its pydantic-v1 deprecation warnings silenced: they are not the user's business."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import sweeps
    return sweeps


def _warm_engine(config: dict[str, Any]) -> None:
    """Import what ``sweeps.next_run`` imports lazily on its first call (grid, random and bayes
    search, the latter with scikit-learn: ~0.4 s), so that it happens outside the sweep's lock:
    otherwise every new agent holds the lock that long and a crowd of agents queues behind it."""
    import importlib

    _sweeps_engine()
    for module in ("sweeps.grid_search", "sweeps.random_search", "sweeps.bayes_search"):
        importlib.import_module(module)
    if config.get("early_terminate"):
        importlib.import_module("sweeps.hyperband_stopping")


def _listdir(path: Path) -> list[str]:
    try:
        return os.listdir(path)
    except FileNotFoundError:
        return []


def _plain(value: Any) -> Any:
    """numpy scalars → Python (sweeps returns np.float64 for random draws)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value


def _attempt_summary(rec: dict[str, Any]) -> dict[str, Any]:
    keys = ("attempt", "agent", "started", "slurm", "host")
    return {k: rec.get(k) for k in keys if k in rec}


def run_dir(sweep_path: Path | str, run_id: str) -> Path:
    """The run's own directory (``SWEEPOPS_RUN_DIR``): the same for every attempt of the run,
    kept on the sweep's disk (the lab root on a cluster), for the program's checkpoints."""
    return Path(sweep_path) / "checkpoints" / run_id


def write_params_file(path: Path, params: dict[str, dict[str, Any]]) -> None:
    """Write WANDB_SWEEP_PARAM_PATH exactly as ``wandb agent`` does."""
    text = "wandb_version: 1"
    if params:
        text += "\n\n" + yaml.safe_dump(params, default_flow_style=False, sort_keys=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def agent_identity() -> dict[str, Any]:
    """Who is running: host, pid, a random tag, and the Slurm ids when inside a job."""
    ident: dict[str, Any] = {"host": socket.gethostname(), "pid": os.getpid(), "tag": new_id(6)}
    slurm = {
        key.lower(): os.environ[env]
        for key, env in (
            ("job_id", "SLURM_JOB_ID"),
            ("array_job_id", "SLURM_ARRAY_JOB_ID"),
            ("array_task_id", "SLURM_ARRAY_TASK_ID"),
            ("node", "SLURMD_NODENAME"),
            ("restart_count", "SLURM_RESTART_COUNT"),
            ("cluster", "SLURM_CLUSTER_NAME"),
        )
        if env in os.environ
    }
    if slurm:
        ident["slurm"] = slurm
    return ident
