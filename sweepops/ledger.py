"""The experiment ledger: one JSON line per deploy, append-only, in ``ROOT/.sweepops``.

It answers "which sweeps belong to this experiment, from which deploy, at which commit" for
results, status, cancel and (later) reproduce.
"""

from __future__ import annotations

import fcntl
import json
from pathlib import Path
from typing import Any


def ledger_path(root: Path) -> Path:
    return root / ".sweepops" / "ledger.jsonl"


def append(root: Path, record: dict[str, Any]) -> None:
    path = ledger_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, sort_keys=True, default=str) + "\n"
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.write(line)
        fh.flush()


def records(root: Path) -> list[dict[str, Any]]:
    path = ledger_path(root)
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line:
            out.append(json.loads(line))
    return out


def find_deploy(root: Path, deploy_id: str) -> dict[str, Any] | None:
    for rec in records(root):
        if rec.get("deploy_id") == deploy_id:
            return rec
    return None


def deploys_of(root: Path, experiment: Path) -> list[dict[str, Any]]:
    """Deploys of ``experiment`` (an absolute path), oldest first."""
    key = str(experiment.resolve())
    return [r for r in records(root) if r.get("experiment_path") == key]
