"""The experiment ledger: one JSON line per deploy, append-only, in ``ROOT/.sweepops``.

It answers "which sweeps belong to this experiment, from which deploy, at which commit" for
results, status, cancel and (later) reproduce.

Appends are one ``write`` of a whole line to a file opened with ``O_APPEND``, under an
exclusive lock on the ledger, so that two shells never interleave their lines; a line torn by
a crash (the usual bad line: the last one, without its newline) is skipped with a warning
naming the file and the line, and the next append starts on a line of its own. A step that
must look something up and then append (is this deploy id known? record it) holds
:func:`transaction` around both.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sweepops.core import paths
from sweepops.core.records import (
    DEPLOY,
    ENV,
    SUBMITTED,
    Deploy,
    EnvEvent,
    Submission,
    kind_of,
)


def ledger_path(root: Path) -> Path:
    return paths.ledger_file(root)


@contextlib.contextmanager
def transaction(root: Path) -> Iterator[None]:
    """Hold the ledger's transaction lock (``.sweepops/ledger.lock``): a look-up and the
    append that depends on it are then one step for every process of this workstation."""
    path = paths.ledger_lock(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def append(root: Path, record: dict[str, Any]) -> None:
    """Append ``record`` as one line, atomically (one write, O_APPEND, under a lock)."""
    path = ledger_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record, sort_keys=True, default=str) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size:
            # A torn last line (no newline): start ours on a line of its own.
            with open(path, "rb") as tail:
                tail.seek(size - 1)
                if tail.read(1) != b"\n":
                    line = b"\n" + line
        view = memoryview(line)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


#: Warnings about bad lines already given by this process (each is said once).
_warned: set[str] = set()


def parse_lines(text: str, where: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The records of a ledger's text and one warning per line that is not a JSON object."""
    out: list[dict[str, Any]] = []
    warnings: list[str] = []
    lines = text.split("\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            torn = number == len(lines) and not text.endswith("\n")
            why = "torn (a write interrupted)" if torn else f"not JSON ({exc.msg})"
            warnings.append(f"{where} line {number} is {why}; skipped ({len(line)} bytes)")
            continue
        if not isinstance(rec, dict):
            warnings.append(f"{where} line {number} is not a JSON object; skipped")
            continue
        out.append(rec)
    return out, warnings


def records(root: Path) -> list[dict[str, Any]]:
    path = ledger_path(root)
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return []
    out, warnings = parse_lines(text, str(path))
    for warning in warnings:
        if warning not in _warned:
            _warned.add(warning)
            print(f"sweepops: warning: {warning}", file=sys.stderr)
    return out


def deploy_lines(root: Path) -> list[dict[str, Any]]:
    """The deploy lines of the ledger, oldest first (the kind as sweepops.core.records
    decides it: no ``event``, has ``sweeps``)."""
    return [r for r in records(root) if kind_of(r) == DEPLOY]


def deploys(root: Path) -> list[Deploy]:
    """The deploys, typed, oldest first."""
    return [Deploy.of(r) for r in deploy_lines(root)]


def submission_records(root: Path) -> list[Submission]:
    return [Submission.of(r) for r in records(root) if kind_of(r) == SUBMITTED]


def env_events(root: Path) -> list[EnvEvent]:
    return [EnvEvent.of(r) for r in records(root) if kind_of(r) == ENV]


def find_deploy(root: Path, deploy_id: str) -> dict[str, Any] | None:
    for rec in deploy_lines(root):
        if rec.get("deploy_id") == deploy_id:
            return rec
    return None


def deploys_of(root: Path, experiment: Path) -> list[dict[str, Any]]:
    """Deploys of ``experiment`` (an absolute path), oldest first."""
    key = str(experiment.resolve())
    return [r for r in deploy_lines(root) if r.get("experiment_path") == key]


def code_files(files: list[str] | tuple[str, ...]) -> list[str]:
    """``files`` without the journal and sweepops' own state (sweepops.core.paths.NOT_CODE)."""
    return [p for p in files if paths.is_code(str(p))]


def same_deploy(
    root: Path,
    *,
    experiment_path: str,
    experiment_sha256: str,
    commit: str | None,
    clusters: list[str],
) -> dict[str, Any] | None:
    """The latest earlier deploy of the same experiment file (same content), at the same
    commit, from a clean tree, to the same clusters: a second one would run the same grid
    again. None when there is none (or the tree is dirty: then the code differs anyway)."""
    found = None
    for rec in deploy_lines(root):
        if (
            rec.get("experiment_path") == experiment_path
            and rec.get("experiment_sha256") == experiment_sha256
            and commit is not None
            and rec.get("commit") == commit
            and not code_files(rec.get("dirty_files") or [])
            and sorted(rec.get("clusters") or []) == sorted(clusters)
        ):
            found = rec
    return found


def submissions(root: Path, deploy_id: str) -> dict[str, dict[str, Any]]:
    """What was submitted for a deploy, per cluster host (latest record wins)."""
    out: dict[str, dict[str, Any]] = {}
    for rec in records(root):
        if kind_of(rec) == SUBMITTED and rec.get("deploy_id") == deploy_id:
            out.update(rec["clusters"])
    return out


def inventories_of(root: Path, deploy_id: str) -> list[str]:
    """The inventories the deploy's clusters were found in (recorded with each submission),
    those that still exist: status, results and cancel find the clusters through them."""
    out: list[str] = []
    for info in submissions(root, deploy_id).values():
        for source in info.get("inventory_sources") or []:
            if source not in out and Path(source).exists():
                out.append(source)
    return out


def unknown_host_message(host: str) -> str:
    """What to say of a cluster host the deploy recorded but no inventory knows now."""
    return (
        f"no inventory knows {host} (the deploy's recorded inventories are gone or changed); "
        "pass the inventory the deploy used with -i FILE or $SWEEPOPS_INVENTORY"
    )


def record_submission(root: Path, deploy_id: str, clusters: dict[str, dict[str, Any]]) -> bool:
    """Append what the deploy submitted on each cluster; False if already recorded as such."""
    with transaction(root):
        known = submissions(root, deploy_id)
        if all(known.get(host) == info for host, info in clusters.items()):
            return False
        append(root, {"event": "submitted", "deploy_id": deploy_id, "clusters": clusters})
        return True


def ssh_target(host: str, info: dict[str, Any]) -> str:
    """``ssh [-p PORT] USER@LOGIN`` of a submission, as the deploy connected."""
    login = info.get("login") or host
    user = info.get("user")
    port = str(info.get("port") or "")
    target = f"{user}@{login}" if user else login
    return f"ssh -p {port} {target}" if port and port != "22" else f"ssh {target}"


def agent_command(sweep_id: str, info: dict[str, Any]) -> str:
    """The shell command that runs one agent of a sweep by hand on the cluster: the job's own
    batch script (``LAB/deploys/ID/SWEEP.sbatch``), run with bash outside Slurm, so the agent
    starts exactly as in the job (modules, env on PATH, the same python, container, shard,
    lease and failure limits)."""
    deploy_dir = info.get("deploy_dir") or paths.lab_deploy(info["lab_root"], info["deploy_id"])
    return f"bash {deploy_dir}/{sweep_id}.sbatch"


def by_hand(host: str, sweep_id: str, info: dict[str, Any]) -> str:
    """The whole by-hand line: ssh to the login as the deploy did, run the job's command."""
    return f"{ssh_target(host, info)} '{agent_command(sweep_id, info)}'"


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
                "    by hand: "
                + by_hand(host, sweep["id"], {"deploy_id": deploy["deploy_id"], **info})
            )
    return lines
