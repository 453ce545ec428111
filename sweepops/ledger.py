"""The experiment ledger: one JSON line per deploy, append-only, in ``ROOT/.sweepops``.

It answers "which sweeps belong to this experiment, from which deploy, at which commit" for
results, status, cancel and (later) reproduce.
"""

from __future__ import annotations

import fcntl
import json
import secrets
import time
from pathlib import Path
from typing import Any


def new_deploy_id() -> str:
    """A new deploy id: the time, then random hex (sortable, unique enough per lab)."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


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
        if rec.get("deploy_id") == deploy_id and "event" not in rec:
            return rec
    return None


def deploys_of(root: Path, experiment: Path) -> list[dict[str, Any]]:
    """Deploys of ``experiment`` (an absolute path), oldest first."""
    key = str(experiment.resolve())
    return [r for r in records(root) if r.get("experiment_path") == key]


def submissions(root: Path, deploy_id: str) -> dict[str, dict[str, Any]]:
    """What was submitted for a deploy, per cluster host (latest record wins)."""
    out: dict[str, dict[str, Any]] = {}
    for rec in records(root):
        if rec.get("event") == "submitted" and rec.get("deploy_id") == deploy_id:
            out.update(rec["clusters"])
    return out


def record_submission(root: Path, deploy_id: str, clusters: dict[str, dict[str, Any]]) -> bool:
    """Append what the deploy submitted on each cluster; False if already recorded as such."""
    known = submissions(root, deploy_id)
    if all(known.get(host) == info for host, info in clusters.items()):
        return False
    append(root, {"event": "submitted", "deploy_id": deploy_id, "clusters": clusters})
    return True


def agent_command(sweep_id: str, info: dict[str, Any]) -> str:
    """The shell command that runs one agent of a sweep by hand on the cluster."""
    python = f"{info['env_prefix']}/bin/python" if info.get("env_prefix") else "python3"
    return (
        f"cd {info['snapshot_dir']} && {python} -s {info['agent_dir']} agent "
        f"{info['lab_root']}/sweeps/{sweep_id} --code-dir {info['snapshot_dir']}"
    )


def summary(deploy: dict[str, Any], clusters: dict[str, dict[str, Any]]) -> list[str]:
    """Human-readable lines: per sweep its id, jobs per cluster, and how to run an agent."""
    lines = [
        f"deploy {deploy['deploy_id']} of {deploy['experiment']} "
        f"at commit {deploy.get('commit') or '-'}"
    ]
    for sweep in deploy["sweeps"]:
        lines.append(f"sweep {sweep['name']} ({sweep['id']}): {sweep.get('runs') or '?'} runs")
        for host, info in sorted(clusters.items()):
            job = (info.get("jobs") or {}).get(sweep["id"], "-")
            lines.append(f"  {host}: job {job}, {sweep['agents']} agents")
            lines.append(
                f"    by hand: ssh {info.get('login') or host} '{agent_command(sweep['id'], info)}'"
            )
    return lines
