"""Where a deploy's logs are, and reading them from an offset (for ``sweepops logs [-f]``).

Standard library only: the same file ships to the login node as Ansible module_utils
(``module_utils/sweepops_remote`` links to this package), where it is the module
``sweepops_log`` (:data:`SPEC`, :func:`log`). The
layout it knows: a run's log is ``SWEEP_DIR/logs/RUN.log`` (the offline agent's), a job's is
``LAB/deploys/DEPLOY/logs/NAME-ARRAY_TASK.out`` (the sbatch template's).
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from .module_spec import ModuleSpec, Params, Result
from .slurm import FINAL_STATES, SlurmError, job_states
from .sweep_layout import sweep_dirs

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


# --------------------------------------------------------------------------- the module


def job_state(job_id: str) -> str:
    """The Slurm state of one job (empty when Slurm does not say)."""
    try:
        return str(job_states([job_id]).get(job_id, {}).get("state", ""))
    except SlurmError:
        return ""


def log(p: Params, check_mode: bool) -> Result:
    """The module: see SPEC."""
    dirs = sweep_dirs(p["lab_root"], p["sweep_ids"])
    nothing: Result = {"changed": False, "logs": [], "found": None, "text": "", "offset": 0}
    if not p["target"]:
        return {**nothing, "logs": list_logs(dirs, p["lab_root"], p["deploy_id"]), "live": False}
    found = find_log(p["target"], dirs, p["lab_root"], p["deploy_id"])
    if found is None:
        return {**nothing, "live": False}
    # Whether it still grows is asked before reading, so the last read of a follow has it all.
    if found["kind"] == "run":
        live = found.get("state") in ("running", "pending")
    else:
        state = job_state(found["id"])
        live = bool(state) and state not in FINAL_STATES
        found["state"] = state
    text, offset, _size = read_from(found["path"], p["offset"], p["max_bytes"])
    return {**nothing, "found": found, "text": text, "offset": offset, "live": live}


SPEC = ModuleSpec(
    name="sweepops_log",
    short_description="Find and read the log of a run or job of a sweepops deploy on a cluster",
    description=(
        "Without I(target), lists the deploy's logs on the cluster (its runs' and its jobs').",
        (
            "With I(target) (a run id or a Slurm job or array task id), reads that log "
            "from I(offset) and says whether it is still growing (the run is running, or "
            "the job live)."
        ),
        "Reads only; changes nothing.",
    ),
    options={
        "lab_root": {
            "description": "The cluster's lab root.",
            "type": "path",
            "required": True,
        },
        "deploy_id": {
            "description": "The deploy.",
            "type": "str",
            "required": True,
        },
        "sweep_ids": {
            "description": "The deploy's sweeps.",
            "type": "list",
            "elements": "str",
            "required": True,
        },
        "target": {
            "description": "A run id or job id; empty to list the logs.",
            "type": "str",
            "default": "",
        },
        "offset": {
            "description": "Where to read from (bytes); negative for the last I(max_bytes).",
            "type": "int",
            "default": -1,
        },
        "max_bytes": {
            "description": "At most this many bytes per answer.",
            "type": "int",
            "default": 1048576,
        },
    },
    returns={
        "logs": {
            "description": (
                "Without I(target), each log (C(kind) run or job, C(id), C(path), run C(state))."
            ),
            "returned": "always",
            "type": "list",
            "elements": "dict",
        },
        "found": {
            "description": "With I(target), the log found (C(kind), C(id), C(path)), or null.",
            "returned": "always",
            "type": "dict",
        },
        "text": {
            "description": "The log from I(offset).",
            "returned": "always",
            "type": "str",
        },
        "offset": {
            "description": "Where the next read starts.",
            "returned": "always",
            "type": "int",
        },
        "live": {
            "description": "Whether the log may still grow (run running, job not ended).",
            "returned": "always",
            "type": "bool",
        },
    },
    examples="""
- name: Read a run's log
  sweepops_log:
    lab_root: /srv/lab
    deploy_id: 20260101-120000-abcdef
    sweep_ids: [abcd1234]
    target: r0123456
""",
)
