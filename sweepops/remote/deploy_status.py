"""A deploy's progress on a cluster, and cancelling it (library/sweepops_cluster.py).

Reads the offline sweeps' run records on the shared disk and asks Slurm (squeue, sacct) for
the jobs' states; ``cancel`` marks the sweeps cancelled (agents claim nothing more) and
scancels the jobs (agents requeue their running runs). Runs on the login host (standard
library only, shipped as module_utils).
"""

from __future__ import annotations

import os
import subprocess
from typing import Any

from .bad_nodes import exclude_option, excluded
from .failures import (
    FAILED_JOB_STATES,
    FAILED_RUN_STATES,
    job_log_path,
    job_reason,
    read_tail,
    run_reason,
)
from .module_spec import ModuleFailed, ModuleSpec, Params, Result
from .slurm import SlurmError, base_job_id, cancel, job_states_checked, parse_sbatch_parsable
from .sweep_layout import read_records, report, sweep_dirs
from .sweep_retry import mark

#: Failed runs reported per sweep (the newest).
MAX_FAILED_RUNS = 20

LIVE_STATES = ("PENDING", "RUNNING", "REQUEUED", "SUSPENDED", "CONFIGURING")


def sweep_progress(path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(runs per state with ``cancelled`` / ``missing``, and what status needs beyond the
    counts: lapsed leases, runs waiting, unreadable records, requeue loops, excluded nodes)."""
    counts: dict[str, Any] = {"cancelled": os.path.exists(os.path.join(path, "cancelled"))}
    if not os.path.isdir(path):
        counts["missing"] = True
        return counts, {}
    records, unreadable = read_records(path)
    found = report(path, records=(records, unreadable))
    found["excluded_nodes"] = excluded(path)  # {node: why}: sweepops.remote.bad_nodes
    counts.update(found.pop("states"))
    failed = sorted(
        (r for r in records if r.get("state") in FAILED_RUN_STATES),
        key=lambda r: float(r.get("ended") or 0),
    )
    counts["failed_runs"] = [
        {
            "id": rec.get("id"),
            "log": rec.get("log"),
            "why": run_reason(rec, read_tail(rec["log"]) if rec.get("log") else ""),
        }
        for rec in failed[-MAX_FAILED_RUNS:]
    ]
    return counts, found


def explain_jobs(jobs: dict[str, Any], lab_root: str, deploy_id: str) -> dict[str, Any]:
    """Each failed or pending job with ``why`` (one line) and its ``log``."""
    for job, row in jobs.items():
        log = job_log_path(lab_root, deploy_id, job) if deploy_id else None
        ended = row.get("state") in FAILED_JOB_STATES or row.get("state") == "COMPLETED"
        why = job_reason(row, read_tail(log) if log and ended else "")
        if why:
            row["why"] = why
        if log:
            row["log"] = log
    return jobs


def to_cancel(dirs: list[str], jobs: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """(sweep directories to mark cancelled, live jobs to scancel). A deploy whose jobs have
    all ended is over, not cancelled: nothing is marked."""
    live = {j: s for j, s in jobs.items() if s.get("state") in LIVE_STATES}
    todo = [
        d for d in dirs if os.path.isdir(d) and not os.path.exists(os.path.join(d, "cancelled"))
    ]
    return (todo if live else []), live


def retry(
    p: Params, dirs: dict[str, str], check_mode: bool
) -> tuple[dict[str, Any], dict[str, str]]:
    """Mark the chosen runs of each sweep for retry (sweepops.remote.sweep_retry), then submit
    the sweep's batch script again (with ``sbatch_args`` over its ``#SBATCH`` lines) for each
    sweep with runs waiting and no live job: (per sweep what was marked, per sweep its new
    job id)."""
    marked: dict[str, Any] = {}
    for sid, d in dirs.items():
        if os.path.isdir(d):
            done = mark(
                d,
                failed=p["retry_failed"],
                lost=p["retry_lost"],
                run_ids=p["retry_runs"],
                check_mode=check_mode,
                sbatch_args=p["sbatch_args"],
            )
            marked[sid] = done.as_dict()
    jobs, _ = job_states_checked(p["job_ids"])
    live = {base_job_id(j) for j, row in jobs.items() if row.get("state") in LIVE_STATES}
    submitted: dict[str, str] = {}
    for sid, done in marked.items():
        job = str((p["sweep_jobs"] or {}).get(sid) or "")
        if not (done["marked"] or done["waiting"]) or (job and job in live):
            continue
        script = os.path.join(p["lab_root"], "deploys", p["deploy_id"], f"{sid}.sbatch")
        if not os.path.exists(script):
            raise ModuleFailed(
                f"no batch script {script} to submit again for sweep {sid}: "
                "deploy the experiment again with -e deploy_id=" + p["deploy_id"]
            )
        if check_mode:
            submitted[sid] = "(check mode)"
            continue
        # the nodes the sweep excluded (sweepops.remote.bad_nodes) stay excluded
        args = exclude_option(excluded(dirs[sid]), p["sbatch_args"])
        argv = ["sbatch", "--parsable", *args, script]
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise ModuleFailed(f"sbatch refused the retry job: {proc.stderr.strip()}")
        submitted[sid] = parse_sbatch_parsable(proc.stdout)
    return marked, submitted


def status_or_cancel(p: Params, check_mode: bool) -> Result:
    """The module: see SPEC."""
    dirs = sweep_dirs(p["lab_root"], p["sweep_ids"])
    changed = False
    extra: dict[str, Any] = {}
    try:
        if p["action"] == "retry":
            marked, submitted = retry(p, dirs, check_mode)
            changed = bool(submitted) or any(m["marked"] for m in marked.values())
            extra = {"retried": marked, "submitted": submitted}
            p = {**p, "job_ids": [*p["job_ids"], *(j for j in submitted.values() if j.isdigit())]}
        if p["action"] == "cancel":
            todo, live = to_cancel(list(dirs.values()), job_states_checked(p["job_ids"])[0])
            changed = bool(todo or live)
            if not check_mode:
                for d in todo:
                    open(os.path.join(d, "cancelled"), "a").close()
                if live:
                    cancel(p["job_ids"])
        progress = {sid: sweep_progress(d) for sid, d in dirs.items()}
        jobs, controller_down = job_states_checked(p["job_ids"])
    except SlurmError as exc:
        raise ModuleFailed(str(exc)) from exc
    return {
        "changed": changed,
        "sweeps": {sid: counts for sid, (counts, _) in progress.items()},
        "runs": {sid: found for sid, (_, found) in progress.items()},
        "jobs": explain_jobs(jobs, p["lab_root"], p["deploy_id"]),
        "controller_down": controller_down,
        **extra,
    }


SPEC = ModuleSpec(
    name="sweepops_cluster",
    short_description="Status or cancel of a sweepops deploy on a Slurm cluster",
    description=(
        "Runs on the cluster's login host. Counts the runs of each of the deploy's offline "
        "sweeps by state (from their run records on the shared disk), lists the newest failed "
        "runs with the reason, and asks Slurm (squeue, then sacct) for the state of each job, "
        "with why a failed or pending one is so.",
        "With C(action=cancel), marks each sweep C(cancelled) (agents claim no more runs) and "
        "scancels the live jobs (agents requeue their running runs); a deploy whose jobs have "
        "all ended is left alone. In check mode nothing is marked or cancelled.",
        "With C(action=retry), marks the chosen runs of each sweep to be run again as new "
        "attempts (C(retry_failed), C(retry_lost), C(retry_runs)) and submits the sweep's "
        "batch script again (C(sbatch_args) first) when it has runs waiting and its job "
        "(C(sweep_jobs)) is not live. In check mode nothing is marked or submitted.",
    ),
    options={
        "action": {
            "description": "What to do.",
            "type": "str",
            "choices": ["status", "cancel", "retry"],
            "default": "status",
        },
        "lab_root": {
            "description": "The cluster's lab root.",
            "type": "path",
            "required": True,
        },
        "sweep_ids": {
            "description": "The deploy's sweeps.",
            "type": "list",
            "elements": "str",
            "required": True,
        },
        "job_ids": {
            "description": "The deploy's Slurm jobs on this cluster.",
            "type": "list",
            "elements": "str",
            "default": [],
        },
        "deploy_id": {
            "description": (
                "The deploy (names its job logs' directory); without it no job log is read."
            ),
            "type": "str",
            "default": "",
        },
        "retry_failed": {
            "description": "With C(action=retry): the failed runs.",
            "type": "bool",
            "default": False,
        },
        "retry_lost": {
            "description": (
                "With C(action=retry): the lost runs, and running ones whose lease lapsed."
            ),
            "type": "bool",
            "default": False,
        },
        "retry_runs": {
            "description": "With C(action=retry): these runs.",
            "type": "list",
            "elements": "str",
            "default": [],
        },
        "sweep_jobs": {
            "description": "With C(action=retry): per sweep id, its job (as the ledger has it).",
            "type": "dict",
            "default": {},
        },
        "sbatch_args": {
            "description": (
                "With C(action=retry): sbatch options given before the script when it is "
                "submitted again (C(--mem=8G)), over its C(#SBATCH) lines."
            ),
            "type": "list",
            "elements": "str",
            "default": [],
        },
    },
    returns={
        "sweeps": {
            "description": (
                "Per sweep id, the number of runs in each state, whether it is cancelled,"
                " and C(failed_runs) (the last 20 failed runs, each with C(id), C(log) "
                "and C(why), one line)."
            ),
            "returned": "always",
            "type": "dict",
        },
        "runs": {
            "description": (
                "Per sweep id, C(lapsed) (running runs whose lease lapsed), C(waiting) "
                "(runs waiting to be run again), C(unreadable) ({record path, why}) and "
                "C(loops) ({run id, interrupted attempts} of runs interrupted again and "
                "again), C(attempts) and C(excluded_nodes) ({node, why} of the nodes the "
                "sweep no longer uses)."
            ),
            "returned": "always",
            "type": "dict",
        },
        "jobs": {
            "description": (
                "Per job or array task, its Slurm state (squeue, sacct); a failed or "
                "pending one also has C(why) (one line, with the last error line of its "
                "log) and C(log); C(stale) on rows of live states when the controller did"
                " not answer (accounting's last word)."
            ),
            "returned": "always",
            "type": "dict",
        },
        "retried": {
            "description": (
                "With C(action=retry): per sweep id, C(marked) (runs to run again), "
                "C(waiting) (already waiting), C(refused) ({run id: why}), C(uncancelled)."
            ),
            "returned": "with action=retry",
            "type": "dict",
        },
        "submitted": {
            "description": "With C(action=retry): per sweep id, the job submitted again.",
            "returned": "with action=retry",
            "type": "dict",
        },
        "controller_down": {
            "description": (
                "What squeue said when the Slurm controller did not answer, else null."
            ),
            "returned": "always",
            "type": "str",
        },
    },
)
