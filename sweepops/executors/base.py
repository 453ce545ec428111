"""The executor interface: where a deploy's agents run, and what the CLI asks of them there.

An executor covers the agents of one deploy of one kind: :class:`~sweepops.executors.local.
LocalExecutor` the sweeps on this machine (agents started by the deploy), :class:`~sweepops.
executors.slurm.SlurmExecutor` its submissions on Slurm clusters (jobs, reached through the
playbooks). ``status``, ``cancel``, ``deploy --wait``, ``logs`` and ``results`` ask every
executor of the deploy (:func:`sweepops.executors.choose.executors_for`, the one place the
kind is chosen) the same questions, in the same order, and never test which kind it is.

Adding a scheduler is one module here implementing :class:`Executor` and one line in
:data:`sweepops.executors.choose.EXECUTORS`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from sweepops.records import ledger

#: ``on_disk(sweep_id, where)``: whether the runs of a sweep are kept as run records where its
#: agents run (``where``: ``local`` or a cluster host), i.e. not on a sweep server only
#: (sweepops.backends.select.runs_on_disk).
OnDisk = Callable[[str, str], bool]


@dataclass(frozen=True)
class Notice:
    """One line an executor says (``failed``: on stderr, and the command fails)."""

    text: str
    failed: bool = False


@dataclass(frozen=True)
class RetryChoice:
    """Which runs ``sweepops retry`` runs again: ``failed`` runs, ``lost`` runs (and running
    ones whose agent is gone), the runs ``run_ids``; ``settings``: the ``-e`` settings of the
    jobs submitted for them (a cluster's; the local executor takes none)."""

    failed: bool = False
    lost: bool = False
    run_ids: tuple[str, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class WaitOutcome:
    """How waiting ended: ``why`` the lines saying which sweeps' jobs all failed and why;
    ``early`` when it stopped although others still run (every job of a sweep failed)."""

    why: list[str] = field(default_factory=list)
    early: bool = False


@dataclass(frozen=True)
class LogMiss:
    """A log an executor does not have: where it looked, and whom it could not ask."""

    where: str
    broken: tuple[str, ...] = ()


def retry_notices(where: str, done: Any) -> list[Notice]:
    """What marking runs for retry did in one sweep (``done``: sweep_retry.Marked, or its
    dict from a cluster), as lines."""
    found: dict[str, Any] = done if isinstance(done, dict) else done.as_dict()
    marked = list(found.get("marked") or [])
    waiting = list(found.get("waiting") or [])
    refused: dict[str, str] = dict(found.get("refused") or {})
    said = []
    if marked:
        said.append(Notice(f"{where}: {len(marked)} run(s) to run again: {' '.join(marked)}"))
    if waiting:
        said.append(Notice(f"{where}: {len(waiting)} run(s) already waiting: {' '.join(waiting)}"))
    if not marked and not waiting:
        said.append(Notice(f"{where}: no run to retry"))
    for run_id, why in sorted(refused.items()):
        said.append(Notice(f"{where}: run {run_id} not retried: {why}", failed=True))
    if found.get("uncancelled"):
        said.append(Notice(f"{where}: the sweep was cancelled; retry resumed it"))
    return said


class Executor(abc.ABC):
    """The agents of one deploy, of one kind, and the CLI's operations on them.

    ``root``: the repository; ``deploy``: the deploy's ledger line; ``inventory``: extra
    inventories given on the command line (an executor may ignore them).
    """

    #: The executor's kind: ``local`` or a scheduler (``slurm``).
    kind: ClassVar[str]

    def __init__(self, root: Path, deploy: dict[str, Any], inventory: list[str] | None = None):
        self.root = root
        self.deploy = deploy
        self.inventory = list(inventory or [])

    # ------------------------------------------------------------------ submit side
    @abc.abstractmethod
    def by_hand(self, sweep_id: str, where: str) -> str:
        """The shell command that runs one more agent of the sweep by hand, where it ran."""

    # ------------------------------------------------------------------ status
    @abc.abstractmethod
    def status(self, on_disk: OnDisk) -> dict[str, Any]:
        """This executor's part of ``sweepops status``: ``{"local": [sweep, ...]}`` or
        ``{"clusters": {host: {...}}}`` (sweepops.ops.status.deploy_status merges them)."""

    # ------------------------------------------------------------------ cancel
    @abc.abstractmethod
    def cancel(self) -> list[Notice]:
        """Stop the deploy's agents (their running runs are requeued); what it did."""

    # ------------------------------------------------------------------ retry
    def retry(self, choice: RetryChoice) -> list[Notice]:
        """Mark the chosen runs of the deploy's sweeps here to be run again as new attempts
        (sweepops.remote.sweep_retry) and start or submit agents where none is live; what it
        did. An executor that cannot says so."""
        return [Notice(f"{self.kind}: `sweepops retry` is not supported here", failed=True)]

    # ------------------------------------------------------------------ wait
    @abc.abstractmethod
    def wait(self, start: float, timeout: float | None) -> WaitOutcome:
        """Block until none of the deploy's agents is live here (``start``: when waiting
        began, time.monotonic; raises SweepopsError after ``timeout`` seconds)."""

    @abc.abstractmethod
    def run_why(self, row: dict[str, Any]) -> str | None:
        """One line of why a run (a results row) did not finish; None when the run is not
        this executor's (its ``cluster`` is elsewhere)."""

    # ------------------------------------------------------------------ logs
    @abc.abstractmethod
    def list_logs(self) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
        """(where, log entry) of every log of the deploy here, and one warning per place
        that could not be asked."""

    @abc.abstractmethod
    def show_log(self, log_id: str, follow: bool) -> LogMiss | None:
        """Print the log of run or job ``log_id`` (follow it until it ended with
        ``follow``); None when shown, else where it was looked for."""

    # ------------------------------------------------------------------ results
    @abc.abstractmethod
    def fetch(self, progress: Any = None) -> dict[str, Any]:
        """Bring the deploy's run records here (a no-op where they already are); per place
        asked, what it answered (sweepops.results.fetch.HostFetch)."""

    @abc.abstractmethod
    def result_dirs(self) -> list[tuple[str, Path, bool]]:
        """(where, sweep directory here, accounted) of every sweep with run records here;
        ``accounted``: its rows get their job's accounting (sweepops.results.fetch)."""


class ClusterExecutor(Executor):
    """An executor of the jobs a deploy submitted to cluster hosts through a scheduler:
    ``hosts`` are those it covers (default: every host the deploy was submitted to);
    ``submitted`` their ledger submissions."""

    def __init__(
        self,
        root: Path,
        deploy: dict[str, Any],
        inventory: list[str] | None = None,
        hosts: list[str] | None = None,
    ):
        super().__init__(root, deploy, inventory)
        submitted = ledger.submissions(root, deploy["deploy_id"])
        self.submitted = {h: i for h, i in submitted.items() if hosts is None or h in hosts}
        self.hosts = sorted(self.submitted)
