"""``sweepops status``: the progress of a deploy's sweeps here and on its clusters, and why
whatever failed failed (one line per failed run or job, pending jobs with Slurm's reason).

:func:`deploy_status` gathers it as plain data (``status --json`` prints that);
:func:`format_status` makes the lines; :func:`exit_code` is what scripts test:

- 0: no run and no job failed (so far);
- 1: some run or job failed;
- 3: runs or jobs failed and none finished, and nothing is live any more (every run failed).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sweepops.backends.select import runs_on_disk
from sweepops.executors.base import Executor
from sweepops.remote.failures import FAILED_JOB_STATES, job_reason
from sweepops.remote.slurm import FINAL_STATES, base_job_id
from sweepops.remote.sweep_layout import REQUEUE_STATES
from sweepops.results.wandb_rows import gather_wandb, wandb_sweeps
from sweepops.runtime.offline_sweep import progress_of

#: wandb run states, as the offline engine's (counted the same way).
_WANDB_STATES = {"crashed": "failed", "killed": "failed", "preempting": "preempted"}

EXIT_OK, EXIT_SOME_FAILED, EXIT_ALL_FAILED = 0, 1, 3


def deploy_status(
    root: Path, deploy: dict[str, Any], executors: Sequence[Executor]
) -> dict[str, Any]:
    """Everything ``status`` shows of one deploy, as data: each executor's part (this
    machine's sweeps, each cluster's; sweepops.executors.choose.executors_for), then the
    sweeps whose runs are on a sweep server (wandb)."""
    online = {s["id"] for s in wandb_sweeps(deploy)}
    handoff = sorted(deploy.get("handoff") or {})
    out: dict[str, Any] = {
        "experiment": deploy["experiment"],
        "deploy_id": deploy["deploy_id"],
        "local": [],
        "clusters": {},
        "wandb": {},
    }
    on_disk = runs_on_disk(deploy)
    for executor in executors:
        for key, part in executor.status(on_disk).items():
            if isinstance(part, list):
                out[key].extend(part)
            else:
                out[key].update(part)
    if online:
        out["wandb"] = _wandb_status(root, deploy, handoff)
    return out


def _wandb_status(root: Path, deploy: dict[str, Any], handoff: list[str]) -> dict[str, Any]:
    rows, answers = gather_wandb(root, deploy)
    sweeps = []
    for entry in wandb_sweeps(deploy):
        states: dict[str, int] = {}
        failed_runs = []
        for row in rows:
            if row.get("sweep_id") == entry["id"]:
                state = _WANDB_STATES.get(str(row.get("state")), str(row.get("state")))
                states[state] = states.get(state, 0) + 1
                if state == "failed":
                    failed_runs.append({"id": row["run_id"], "why": str(row.get("state"))})
        sweeps.append(
            {
                "name": entry["name"],
                "id": entry["id"],
                "url": entry.get("url", ""),
                "counts": progress_of(entry["meta"]["config"], states),
                "failed_runs": failed_runs,
            }
        )
    return {
        "servers": {url: got.error for url, got in answers.items()},
        "handoff": handoff,
        "sweeps": sweeps,
    }


# ---------------------------------------------------------------------- text
def progress_line(name: str, sweep_id: str, c: dict[str, Any], extra: str) -> str:
    left = "?" if c.get("left") is None else c["left"]
    return (
        f"    {name:<30} {sweep_id}  done {c.get('finished', 0)}  failed {c.get('failed', 0)}"
        f"  running {c.get('running', 0)}  left {left}"
        + (f"  unreadable {c['unreadable']}" if c.get("unreadable") else "")
        + (f"  retrying {c['retry']}" if c.get("retry") else "")  # sweepops retry marked them
        + f"  {extra}"
    ).rstrip()


def job_summary(jobs: dict[str, dict[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for row in jobs.values():
        state = row.get("state", "?") + (" (stale?)" if row.get("stale") else "")
        counts[state] = counts.get(state, 0) + 1
    return ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "none"


def _failed_run_lines(runs: list[dict[str, Any]], limit: int = 5) -> list[str]:
    """One line per distinct reason (a program error that every point hits is said once,
    with the runs it failed), the newest ``limit`` reasons."""
    by_why: dict[str, list[str]] = {}
    for r in runs:
        by_why.setdefault(str(r["why"]), []).append(str(r["id"]))
    groups = list(by_why.items())  # in the order of their first run (oldest first)
    lines = []
    for why, ids in groups[-limit:]:
        if len(ids) == 1:
            lines.append(f"      run {ids[0]}: {why}")
        else:
            shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
            lines.append(f"      {len(ids)} runs ({shown}): {why}")
    if len(groups) > limit:
        more = sum(len(ids) for _, ids in groups[:-limit])
        lines.insert(0, f"      ({more} more failed runs; `sweepops logs` shows each)")
    return lines


def _attempt_lines(s: dict[str, Any], live: bool | None) -> list[str]:
    """A sweep's attempts (runs retried, attempts resumed after an interruption) and what
    happens next to its failed runs; nothing for a sweep whose runs all ran once and none
    failed. Waiting runs are said by sweepops.ops.stranded's notes."""
    tried = s.get("attempts") or {}
    counts = s["counts"]
    lines = []
    if tried.get("retried") or tried.get("resumed"):
        lines.append(
            f"      attempts {tried.get('attempts', 0)}: {tried.get('retried', 0)} run(s) "
            f"retried, {tried.get('resumed', 0)} attempt(s) resumed after an interruption"
        )
    failed = int(counts.get("failed") or 0)
    if failed:
        lines.append(
            f"      next: {failed} failed run(s) are not run again by themselves; "
            "`sweepops retry EXP --failed` runs them again"
            + ("" if live else " (it starts or submits agents: none is live)")
        )
    return lines


def _node_lines(s: dict[str, Any]) -> list[str]:
    """The nodes the sweep no longer uses (sweepops.remote.bad_nodes), each with why."""
    return [
        f"      node {node} excluded: {why or 'see the job logs'}"
        for node, why in sorted((s.get("excluded_nodes") or {}).items())
    ]


def _for_exp(line: str, experiment: str) -> str:
    """``sweepops retry EXP`` in a reason made where the experiment is not known."""
    return line.replace("sweepops retry EXP ", f"sweepops retry {experiment} ")


def format_status(status: dict[str, Any]) -> list[str]:
    lines = [f"{status['experiment']}  deploy {status['deploy_id']}"]
    if status["local"]:
        lines.append("  local")
    for s in status["local"]:
        extra = f"agents {s['agents']}" + ("  CANCELLED" if s["cancelled"] else "")
        lines.append(progress_line(s["name"], s["id"], s["counts"], extra))
        lines += _failed_run_lines(s["failed_runs"])
        lines += _attempt_lines(s, s["agents"] > 0)
        lines += [f"      {note}" for note in s.get("notes") or []]
    for host, c in status["clusters"].items():
        lines.append(f"  {host}")
        if c["error"]:
            lines.append(f"    unreachable or failed: {c['error']}")
            continue
        if c.get("warning"):
            lines.append(f"    {c['warning']}")
        for s in c["sweeps"]:
            flag = "CANCELLED" if s["cancelled"] else ""
            lines.append(progress_line(s["name"], s["id"], s["counts"], flag))
            lines += _failed_run_lines(s["failed_runs"])
            lines += _attempt_lines(s, s.get("live"))
            lines += _node_lines(s)
            lines += [f"      {note}" for note in s.get("notes") or []]
        lines.append(f"    jobs: {job_summary(c['jobs'])}")
        for job, row in sorted(c["jobs"].items()):
            if row.get("why"):
                lines.append(f"      job {job}: {row['why']}")
    wandb = status.get("wandb") or {}
    for url, error in (wandb.get("servers") or {}).items():
        why = f"  (could not ask: {error}; counts from the last answer)" if error else ""
        lines.append(f"  wandb {url}{why}")
    if wandb.get("handoff"):
        lines.append(
            f"    runs of {', '.join(wandb['handoff'])} count once `sweepops sync` uploaded them"
        )
    for s in wandb.get("sweeps") or []:
        lines.append(progress_line(s["name"], s["id"], s["counts"], s.get("url", "")))
        lines += _failed_run_lines(s["failed_runs"])
    return [_for_exp(line, status["experiment"]) for line in lines]


# ---------------------------------------------------------------------- exit code
def exit_code(statuses: list[dict[str, Any]]) -> int:
    """0 when nothing failed; 1 when some run or job failed; 3 when runs or jobs failed, none
    finished and nothing is live any more (an experiment that produced nothing). Runs that
    wait to be run again (preempted, lost; stranded ones included) count as live."""
    failed = finished = live = 0
    for status in statuses:
        sweeps = list(status["local"]) + list((status.get("wandb") or {}).get("sweeps") or [])
        for c in status["clusters"].values():
            sweeps += c["sweeps"]
            for row in c["jobs"].values():
                state = str(row.get("state") or "")
                failed += state in FAILED_JOB_STATES
                live += state not in FINAL_STATES
        for s in sweeps:
            counts = s["counts"]
            failed += int(counts.get("failed") or 0)
            finished += int(counts.get("finished") or 0) + int(counts.get("stopped") or 0)
            live += int(counts.get("running") or 0) + int(s.get("agents") or 0)
            # preempted or lost runs wait to be run again (stranded ones too): not failures
            live += sum(int(counts.get(state) or 0) for state in REQUEUE_STATES)
    if not failed:
        return EXIT_OK
    return EXIT_ALL_FAILED if not finished and not live else EXIT_SOME_FAILED


def failed_sweeps(
    deploy: dict[str, Any],
    submitted: dict[str, dict[str, Any]],
    answers: dict[str, dict[str, Any]],
) -> dict[str, str]:
    """The sweeps every job (array task, on every cluster) of which has failed: per sweep
    name, the lines saying why (one per job). A sweep with a job still live or one that ended
    well is not in it."""
    out: dict[str, str] = {}
    for entry in deploy["sweeps"]:
        tasks: list[tuple[str, str, dict[str, Any]]] = []
        for host, info in submitted.items():
            job = str((info.get("jobs") or {}).get(entry["id"]) or "")
            jobs = (answers.get(host) or {}).get("jobs") or {}
            tasks += [(host, t, row) for t, row in jobs.items() if job and base_job_id(t) == job]
        if tasks and all(str(row.get("state")) in FAILED_JOB_STATES for _, _, row in tasks):
            out[entry["name"]] = _for_exp(
                "\n".join(
                    f"  {host} job {t}: {row.get('why') or job_reason(row) or row.get('state')}"
                    for host, t, row in sorted(tasks)
                ),
                str(deploy.get("experiment") or "EXP"),
            )
    return out
