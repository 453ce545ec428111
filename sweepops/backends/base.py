"""The sweep-backend interface: where a sweep's runs are decided, and what that changes.

A backend creates an experiment's sweeps (:meth:`SweepBackend.create`: on a server, or
nothing beyond the sweep directories), says what each sweep's agents run and with which
metadata (:meth:`SweepBackend.sweep_fields`), where to watch a sweep
(:meth:`SweepBackend.watch_url`), and which clusters need their runs handed off to it later
(:attr:`SweepBackend.handoff`, uploaded by ``sweepops sync``). ``create_sweeps``
(sweepops.ops.create_sweeps) picks the backend once (:func:`sweepops.backends.select.
select_backend`) and asks it the rest; status and results ask :func:`sweepops.backends.
select.runs_on_disk` whether a sweep's runs are run records on a disk or on the server.

Adding a backend is one module here implementing :class:`SweepBackend` and one line in
:data:`sweepops.backends.select.BACKENDS`.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from sweepops.runtime.offline_sweep import OfflineSweep


@dataclass(frozen=True)
class CreateRequest:
    """What a backend is told when the experiment's sweeps are created: the repository,
    the entity/project asked for, the clusters' ``compute_internet`` and their probes'
    ``wandb_problems`` ({host: why its jobs cannot run the server's agent}), and
    ``dry_run`` (make nothing)."""

    root: Path
    entity: str | None = None
    project: str | None = None
    compute_internet: Mapping[str, Any] = field(default_factory=dict)
    wandb_problems: Mapping[str, str] = field(default_factory=dict)
    dry_run: bool = False


@dataclass(frozen=True)
class RemoteSweep:
    """A sweep created on a server: its name there, id, and where to see it."""

    name: str
    id: str
    entity: str
    project: str
    url: str

    @property
    def path(self) -> str:
        return f"{self.entity}/{self.project}/{self.id}"


class SweepBackend(abc.ABC):
    """One backend chosen for one deploy (``why``: the reason, as the ledger records it)."""

    #: The backend's name (``sweep_backend`` value, the ledger's ``backend``).
    name: ClassVar[str]

    def __init__(self, why: str, url: str):
        self.why = why
        self.url = url
        #: {cluster host: why} of the clusters whose jobs log offline for ``sweepops sync``.
        self.handoff: dict[str, str] = {}

    @abc.abstractmethod
    def create(
        self, exp: Any, configs: list[dict[str, Any]], request: CreateRequest
    ) -> list[RemoteSweep | None]:
        """Check what must hold before anything is made, then create the sweeps (one per
        config, in order) where their runs are decided; None for a sweep with no remote
        side. Nothing is created with ``request.dry_run``."""

    @abc.abstractmethod
    def record_fields(self, exp: Any) -> dict[str, Any]:
        """What the deploy's ledger line says of the backend (besides ``backend``)."""

    @abc.abstractmethod
    def sweep_fields(
        self, env: dict[str, str], remote: RemoteSweep | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """(``sweep.json`` fields, ledger entry fields) of one sweep: what its agents run
        and with which metadata. May add to the runs' environment ``env``."""

    @abc.abstractmethod
    def watch_url(self, entry: Mapping[str, Any]) -> str | None:
        """Where to watch a sweep of a deploy (its ledger entry) beyond ``sweepops status``."""

    @abc.abstractmethod
    def agent_argv(
        self,
        sweep: OfflineSweep,
        k: int,
        *,
        python: str,
        code_dir: Path,
        agent_args: list[str],
        target: str | None,
    ) -> tuple[list[str], Path]:
        """(argv, working directory) of agent ``k`` of ``sweep`` on this machine
        (``target``: the sweep as the server names it, ENTITY/PROJECT/ID)."""

    @abc.abstractmethod
    def agent_env(self, sweep: OfflineSweep, env: dict[str, str]) -> None:
        """Add what this backend's agents need to their environment ``env`` (in place)."""

    def runs_on_disk(self, where: str) -> bool:
        """Whether the runs of this backend's sweeps are run records where their agents run
        (``where``: ``local`` or a cluster host), not only on a server."""
        return True

    @staticmethod
    def materialise(parent: Path, meta: dict[str, Any]) -> OfflineSweep:
        """The sweep directory ``parent/ID`` agents here work in (every backend has one:
        the offline agent's runs, or the server's agents' exits)."""
        return OfflineSweep.create_from_meta(parent, meta)
