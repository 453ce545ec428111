"""The double's in-memory state: sweeps, runs, agents (plain records, read by tests)."""

from __future__ import annotations

import datetime as _dt
import secrets
import string
from dataclasses import dataclass, field
from typing import Any

_ALPHABET = string.ascii_lowercase + string.digits


def new_id(n: int = 8) -> str:
    """A wandb-style id: lowercase letters and digits."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


@dataclass
class Sweep:
    id: str
    entity: str
    project: str
    config: dict[str, Any]
    config_yaml: str
    state: str = "RUNNING"  # RUNNING | PAUSED | CANCELED | FINISHED
    display_name: str | None = None
    description: str | None = None
    created_at: str = field(default_factory=now)
    updated_at: str = field(default_factory=now)
    # run id → the parameters the double handed out for it ({"lr": 0.1})
    handed_out: dict[str, dict[str, Any]] = field(default_factory=dict)
    agents: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class Run:
    name: str  # the run id (wandb calls it the run's name)
    entity: str
    project: str
    storage_id: str = field(default_factory=lambda: new_id(16))
    display_name: str | None = None
    # plain config {key: value} (the SDK's {"key": {"value": v}} unwrapped), without _wandb
    config: dict[str, Any] = field(default_factory=dict)
    config_raw: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    output: list[str] = field(default_factory=list)
    state: str = "pending"  # pending | running | finished | failed | crashed
    exitcode: int | None = None
    tags: list[str] = field(default_factory=list)
    group: str | None = None
    job_type: str | None = None
    notes: str | None = None
    description: str | None = None
    commit: str | None = None
    repo: str | None = None
    host: str | None = None
    program: str | None = None
    sweep: str | None = None
    agent: str | None = None
    created_at: str = field(default_factory=now)
    heartbeat_at: str = field(default_factory=now)
    files: dict[str, bytes] = field(default_factory=dict)
    upserts: int = 0  # UpsertBucket calls seen for this run
    completions: int = 0  # file_stream requests that carried complete=true

    @property
    def path(self) -> str:
        return f"{self.entity}/{self.project}/{self.name}"


@dataclass
class Agent:
    id: str
    sweep: str
    host: str
    entity: str
    project: str
    state: str = "RUNNING"
    created_at: str = field(default_factory=now)
    heartbeat_at: str = field(default_factory=now)
    heartbeats: int = 0
    runs: list[str] = field(default_factory=list)
    running: list[str] = field(default_factory=list)


@dataclass
class Call:
    """One request the double answered."""

    operation: str  # GraphQL operation name, or "PUT /storage", "POST file_stream", ...
    variables: dict[str, Any]
    status: int
    error: str | None = None
