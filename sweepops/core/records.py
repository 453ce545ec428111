"""The ledger's records, typed: what each JSON line of ``.sweepops/ledger.jsonl`` is.

One rule decides a line's kind (:func:`kind_of`): a line with an ``event`` is that event
(``submitted``, ``env``, ...); a line without one that has ``sweeps`` is a deploy; anything
else is ``unknown`` (kept, never guessed at). The dataclasses read today's lines exactly, and
the lines written before the package's reorganisation (tests/data/premove_deploy): each keeps
its line as ``raw``, so nothing a reader does not know is lost.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

DEPLOY, SUBMITTED, ENV, UNKNOWN = "deploy", "submitted", "env", "unknown"


def kind_of(line: dict[str, Any]) -> str:
    """The kind of a ledger line: its ``event``, else ``deploy`` when it has ``sweeps``."""
    if "event" in line:
        return str(line["event"])
    return DEPLOY if "sweeps" in line else UNKNOWN


def new_deploy_id() -> str:
    """A new deploy id: the time, then random hex (sortable, unique enough per lab). The one
    place deploy ids are minted (the CLI, create_sweeps and the playbook steps call it)."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


@dataclass(frozen=True)
class SweepEntry:
    """One sweep of a deploy: id, name, tags, agents, runs, its ``sweep.json`` (``meta``)
    and, on this machine, its directory."""

    id: str
    name: str
    tags: tuple[str, ...]
    agents: int
    runs: int | None
    meta: dict[str, Any]
    backend: str
    dir: str | None
    raw: dict[str, Any]

    @classmethod
    def of(cls, raw: dict[str, Any]) -> SweepEntry:
        return cls(
            id=str(raw["id"]),
            name=str(raw.get("name") or raw["id"]),
            tags=tuple(raw.get("tags") or ()),
            agents=int(raw.get("agents") or 0),
            runs=None if raw.get("runs") is None else int(raw["runs"]),
            meta=dict(raw.get("meta") or {}),
            backend=str(raw.get("backend") or "offline"),
            dir=raw.get("dir") or None,
            raw=raw,
        )

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.meta.get("config") or {})


@dataclass(frozen=True)
class Deploy:
    """A deploy line: the experiment, its commit, the backend and the sweeps made."""

    deploy_id: str
    experiment: str
    experiment_path: str
    experiment_sha256: str
    commit: str | None
    dirty_files: tuple[str, ...]
    backend: str
    clusters: tuple[str, ...]
    lab_root: str | None
    time: float
    sweeps: tuple[SweepEntry, ...]
    handoff: dict[str, str]
    reproduces: dict[str, Any] | None
    raw: dict[str, Any]

    @classmethod
    def of(cls, raw: dict[str, Any]) -> Deploy:
        if kind_of(raw) != DEPLOY:
            raise ValueError(f"not a deploy record: {kind_of(raw)}")
        return cls(
            deploy_id=str(raw["deploy_id"]),
            experiment=str(raw.get("experiment") or ""),
            experiment_path=str(raw.get("experiment_path") or ""),
            experiment_sha256=str(raw.get("experiment_sha256") or ""),
            commit=raw.get("commit") or None,
            dirty_files=tuple(raw.get("dirty_files") or ()),
            backend=str(raw.get("backend") or "offline"),
            clusters=tuple(raw.get("clusters") or ()),
            lab_root=raw.get("lab_root") or None,
            time=float(raw.get("time") or 0),
            sweeps=tuple(SweepEntry.of(s) for s in raw.get("sweeps") or ()),
            handoff=dict(raw.get("handoff") or {}),
            reproduces=raw.get("reproduces") or None,
            raw=raw,
        )

    @property
    def local_sweep_dirs(self) -> list[str]:
        """The directories of the sweeps that run on this machine (the local executor)."""
        return [s.dir for s in self.sweeps if s.dir]


@dataclass(frozen=True)
class ClusterSubmission:
    """What a deploy submitted on one cluster host: where (lab root, login), the jobs per
    sweep, and what the jobs run (snapshot, agent, env and its fingerprint, container)."""

    host: str
    lab_root: str
    jobs: dict[str, str]
    snapshot_dir: str | None
    agent_dir: str | None
    env_prefix: str | None
    env_digest: str | None
    container_image: str | None
    container_digest: str | None
    shard: str | None
    inventory_sources: tuple[str, ...]
    raw: dict[str, Any] = field(repr=False)
    #: The scheduler the jobs were submitted to (lines before it was recorded: ``slurm``,
    #: the only scheduler that records submissions); picks the executor
    #: (sweepops.executors.choose).
    scheduler: str = "slurm"

    @classmethod
    def of(cls, host: str, raw: dict[str, Any]) -> ClusterSubmission:
        return cls(
            host=host,
            lab_root=str(raw.get("lab_root") or ""),
            jobs={str(k): str(v) for k, v in (raw.get("jobs") or {}).items()},
            snapshot_dir=raw.get("snapshot_dir") or None,
            agent_dir=raw.get("agent_dir") or None,
            env_prefix=raw.get("env_prefix") or None,
            env_digest=raw.get("env_digest") or None,
            container_image=raw.get("container_image") or None,
            container_digest=raw.get("container_digest") or None,
            shard=raw.get("shard") or None,
            inventory_sources=tuple(raw.get("inventory_sources") or ()),
            raw=raw,
            scheduler=str(raw.get("scheduler") or "slurm"),
        )


#: Where a submission ran and what its jobs run (the playbook gives them), in ledger order.
SUBMISSION_WHERE = (
    "login",
    "user",
    "port",
    "lab_root",
    "snapshot_dir",
    "agent_dir",
    "env_prefix",
)
#: What the jobs were checked against (reproduce compares them again), with their defaults.
SUBMISSION_CHECKED: dict[str, Any] = {
    "env_path": "",
    "env_content_hash": False,
    "env_digest": "",
    "container_digest": "",
}


def submission_info(
    where: dict[str, Any], checked: dict[str, Any], jobs: dict[str, str]
) -> dict[str, Any]:
    """A cluster's entry of a ``submitted`` line (what :class:`ClusterSubmission` reads), the
    same for a deploy and a reproduction: ``where`` it ran (login, user, port, lab_root,
    snapshot_dir, agent_dir, env_prefix, container_image, shard, inventory_sources), what it
    was ``checked`` against (env_path, env_content_hash, env_digest, container_digest and, for
    a reproduction, ``rebuilt``), and its ``jobs`` (sweep id -> job id). A field of neither
    list is refused: a misspelt one would be recorded and never read."""
    known_where = {*SUBMISSION_WHERE, "container_image", "shard", "inventory_sources"}
    odd = sorted(set(where) - known_where) + sorted(set(checked) - {*SUBMISSION_CHECKED, "rebuilt"})
    if odd:
        raise ValueError(f"unknown submission field(s): {', '.join(odd)}")
    return {
        **{k: where.get(k, "") for k in SUBMISSION_WHERE},
        **{k: checked.get(k, d) for k, d in SUBMISSION_CHECKED.items() if k != "container_digest"},
        "container_image": where.get("container_image", ""),
        "container_digest": checked.get("container_digest", ""),
        **({"rebuilt": checked["rebuilt"]} if "rebuilt" in checked else {}),
        "jobs": dict(jobs),
        "shard": where.get("shard", ""),
        "inventory_sources": list(where.get("inventory_sources") or []),
    }


@dataclass(frozen=True)
class Submission:
    """A ``submitted`` line: per cluster host, what was submitted for the deploy."""

    deploy_id: str
    clusters: dict[str, ClusterSubmission]
    raw: dict[str, Any]

    @classmethod
    def of(cls, raw: dict[str, Any]) -> Submission:
        if kind_of(raw) != SUBMITTED:
            raise ValueError(f"not a submission record: {kind_of(raw)}")
        clusters = raw.get("clusters") or {}
        return cls(
            deploy_id=str(raw["deploy_id"]),
            clusters={h: ClusterSubmission.of(h, dict(i)) for h, i in clusters.items()},
            raw=raw,
        )


@dataclass(frozen=True)
class EnvEvent:
    """An ``env`` line (``sweepops provision``): the hash of an env's package list on a host."""

    host: str
    prefix: str
    lock_sha256: str | None
    raw: dict[str, Any]

    @classmethod
    def of(cls, raw: dict[str, Any]) -> EnvEvent:
        if kind_of(raw) != ENV:
            raise ValueError(f"not an env record: {kind_of(raw)}")
        env = raw.get("env") or {}
        return cls(
            host=str(raw.get("host") or ""),
            prefix=str(env.get("prefix") or ""),
            lock_sha256=env.get("lock_sha256") or None,
            raw=raw,
        )


Record = Deploy | Submission | EnvEvent


def parse(line: dict[str, Any]) -> Record | None:
    """The typed record of a ledger line; None for a kind sweepops does not read."""
    kind = kind_of(line)
    if kind == DEPLOY:
        return Deploy.of(line)
    if kind == SUBMITTED:
        return Submission.of(line)
    if kind == ENV:
        return EnvEvent.of(line)
    return None
