"""Where a deploy's logs are, and reading them from an offset (for ``sweepops logs [-f]``).

Standard library only: the same file ships to the login node as the Ansible module_utils
``sweepops_log_lookup`` (``module_utils/sweepops_log_lookup.py`` is a symlink to it). The
layout it knows: a run's log is ``SWEEP_DIR/logs/RUN.log`` (the offline agent's), a job's is
``LAB/deploys/DEPLOY/logs/NAME-ARRAY_TASK.out`` (the sbatch template's).
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

#: A Slurm job id or array task: ``123``, ``123_4``.
JOB_ID = re.compile(r"^\d+(_\d+)?$")

#: Run states after which a run's log does not grow any more (until a re-run).
RUN_DONE = frozenset({"finished", "failed", "stopped", "crashed", "killed", "preempted"})

#: At most this many bytes of a log in one answer (a follow asks again for the rest).
MAX_BYTES = 1024 * 1024


def _run_record(sweep_dir: str, run_id: str) -> dict[str, Any] | None:
    try:
        with open(os.path.join(sweep_dir, "runs", f"{run_id}.json")) as fh:
            rec = json.load(fh)
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) else None


def job_logs(lab_root: str, deploy_id: str) -> dict[str, str]:
    """Per array task (``123_4``), its log under ``LAB/deploys/DEPLOY/logs``."""
    logs = os.path.join(lab_root, "deploys", deploy_id, "logs")
    out = {}
    try:
        names = sorted(os.listdir(logs))
    except OSError:
        return {}
    for name in names:
        m = re.search(r"-(\d+_\d+)\.out$", name)
        if m:
            out[m.group(1)] = os.path.join(logs, name)
    return out


def list_logs(
    sweep_dirs: dict[str, str], lab_root: str = "", deploy_id: str = ""
) -> list[dict[str, Any]]:
    """Every log of the deploy here: runs (``kind: run``, with state) and jobs."""
    out: list[dict[str, Any]] = []
    for sweep_id, sweep_dir in sweep_dirs.items():
        try:
            names = sorted(os.listdir(os.path.join(sweep_dir, "runs")))
        except OSError:
            continue
        for name in names:
            if not name.endswith(".json") or name.startswith("."):
                continue
            rec = _run_record(sweep_dir, name[: -len(".json")]) or {}
            log = os.path.join(sweep_dir, "logs", name[: -len(".json")] + ".log")
            out.append(
                {
                    "kind": "run",
                    "id": name[: -len(".json")],
                    "sweep_id": sweep_id,
                    "state": rec.get("state"),
                    "path": log,
                    "exists": os.path.isfile(log),
                }
            )
    if lab_root and deploy_id:
        for job, path in job_logs(lab_root, deploy_id).items():
            out.append({"kind": "job", "id": job, "path": path, "exists": True})
    return out


def find_log(
    target: str, sweep_dirs: dict[str, str], lab_root: str = "", deploy_id: str = ""
) -> dict[str, Any] | None:
    """The log of ``target`` (a run id of one of the sweeps, or a job / array task id of
    the deploy): ``{kind, id, path, state}``; None when this side has no such run or job.
    A job id without its task names the job's only task, or the first one."""
    for sweep_id, sweep_dir in sweep_dirs.items():
        rec = _run_record(sweep_dir, target)
        if rec is not None:
            path = rec.get("log") or os.path.join(sweep_dir, "logs", f"{target}.log")
            return {
                "kind": "run",
                "id": target,
                "sweep_id": sweep_id,
                "path": path,
                "state": rec.get("state"),
            }
    if lab_root and deploy_id and JOB_ID.match(target):
        logs = job_logs(lab_root, deploy_id)
        if target in logs:
            return {"kind": "job", "id": target, "path": logs[target]}
        tasks = sorted(t for t in logs if t.split("_")[0] == target)
        if tasks:
            return {"kind": "job", "id": tasks[0], "path": logs[tasks[0]], "tasks": tasks}
    return None


def read_from(path: str, offset: int, max_bytes: int = MAX_BYTES) -> tuple[str, int, int]:
    """(text, next offset, size) of ``path`` from ``offset``; a negative offset means the
    last ``max_bytes``. A log that does not exist (yet) reads as empty."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            start = max(0, size - max_bytes) if offset < 0 else min(offset, size)
            fh.seek(start)
            data = fh.read(max_bytes)
    except OSError:
        return "", max(offset, 0), 0
    return data.decode("utf-8", errors="replace"), start + len(data), size
