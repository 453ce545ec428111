"""Results of a deploy from every cluster it ran on, joined with Slurm accounting.

``playbooks/fetch.yml`` pulls, per cluster host of the deploy (``ledger.submissions``), the
sweeps' ``sweep.json`` and ``runs/*.json`` from ``LAB/sweeps/ID/`` into
``ROOT/.sweepops/cache/HOST/ID/`` with rsync (``ansible.posix.synchronize``, mode pull):
records whose size and time did not change are not transferred again. It also asks
``sacct`` about the deploy's jobs (``-D``: requeued instances too). The rows are then
collated from the local sweeps and the cached copies, each carrying its ``cluster``, the
deploy's ``commit`` and, where accounting knows the run's job task, its elapsed time, max
RSS, exit code, requeue count and GPU-hours.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweepops.core import paths
from sweepops.core.progress import Progress
from sweepops.records import ledger
from sweepops.remote.slurm import sacct_rows
from sweepops.remote.sweep_layout import read_record

#: sacct columns asked for (``-P`` output, one row per job, requeued instance and step).
SACCT_COLUMNS = ("JobID", "JobIDRaw", "State", "ExitCode", "ElapsedRaw", "MaxRSS", "AllocTRES")
SACCT_FORMAT = ",".join(SACCT_COLUMNS)
SACCT_ARGV = ["sacct", "-D", "-n", "-P", "-o", SACCT_FORMAT]

_RSS_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def cache_root(root: Path) -> Path:
    return paths.cache_dir(root)


@dataclass
class HostFetch:
    """What one cluster host answered: the files rsync transferred, sacct's rows, errors."""

    host: str
    transferred: list[str] = field(default_factory=list)
    acct: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str | None = None
    acct_error: str | None = None
    warnings: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------- parsing
def parse_itemized(lines: list[str]) -> list[str]:
    """Names of the files rsync transferred, from synchronize's itemized output
    (``>f.st...... ID/runs/x.json``, the ``<<CHANGED>>`` marker stripped or not);
    directories and attribute-only changes are not transfers."""
    out = []
    for line in lines:
        item, _, name = line.removeprefix("<<CHANGED>>").partition(" ")
        if len(item) >= 2 and item[0] in "<>" and item[1] == "f":
            out.append(name)
    return out


def parse_rss(text: str) -> int | None:
    """sacct's MaxRSS (``1234K``, ``2.5G``, ``0``) in bytes; None when empty."""
    text = text.strip()
    if not text:
        return None
    unit = text[-1].upper() if text[-1].isalpha() else ""
    try:
        return int(float(text[:-1] if unit else text) * _RSS_UNITS.get(unit, 1))
    except ValueError:
        return None


def gpus_of(tres: str) -> int:
    """The GPUs in an AllocTRES string (``billing=1,cpu=1,gres/gpu=2,node=1``)."""
    for part in tres.split(","):
        key, _, value = part.partition("=")
        if key == "gres/gpu" and value.isdigit():
            return int(value)
    return 0


def parse_acct(text: str) -> dict[str, dict[str, Any]]:
    """``sacct -D -n -P -o JobID,JobIDRaw,State,ExitCode,ElapsedRaw,MaxRSS,AllocTRES`` ->
    per job (``123`` or array task ``123_4``, also under its raw id): state, exit_code,
    elapsed (s), max_rss (bytes, max over its steps), gpus, requeues (earlier instances)."""
    allocs: dict[str, list[dict[str, Any]]] = {}
    rss: dict[str, int] = {}
    raw_of: dict[str, str] = {}
    for row in sacct_rows(text, SACCT_COLUMNS):
        base, dot, _step = row["JobID"].partition(".")
        value = parse_rss(row["MaxRSS"])
        if value is not None:
            rss[base] = max(rss.get(base, 0), value)
        if dot:
            continue
        raw_of[row["JobIDRaw"].partition(".")[0]] = base
        elapsed = row["ElapsedRaw"]
        allocs.setdefault(base, []).append(
            {
                "state": row["State"],
                "exit_code": row["ExitCode"],
                "elapsed": int(elapsed) if elapsed.isdigit() else None,
                "gpus": gpus_of(row["AllocTRES"]),
            }
        )
    out: dict[str, dict[str, Any]] = {}
    for job, rows in allocs.items():
        final = next((r for r in reversed(rows) if r["state"] != "REQUEUED"), rows[-1])
        out[job] = {
            **final,
            "job": job,
            "max_rss": rss.get(job),
            "requeues": len(rows) - 1,
        }
    for raw, job in raw_of.items():
        out.setdefault(raw, out[job])
    return out


def job_key(slurm: dict[str, Any] | None) -> str | None:
    """The sacct JobID of a run's agent: ``ARRAY_TASK`` for an array task, else the job id."""
    if not slurm:
        return None
    if slurm.get("array_job_id") and slurm.get("array_task_id") is not None:
        return f"{slurm['array_job_id']}_{slurm['array_task_id']}"
    return str(slurm["job_id"]) if slurm.get("job_id") else None


def join_acct(row: dict[str, Any], acct: dict[str, dict[str, Any]]) -> None:
    """Add the accounting of the row's job task: ``job``, ``job_state``, ``job_elapsed``,
    ``job_max_rss``, ``job_exit_code``, ``requeues``, ``gpus``, ``gpu_hours`` (the run's
    own duration x the task's GPUs) and ``job_gpu_hours`` (the task's elapsed x GPUs; a task
    runs several runs one after another, so this is shared by them)."""
    slurm = row.get("slurm") or {}
    key = job_key(slurm)
    row["job"] = key
    found = acct.get(key or "") or acct.get(str(slurm.get("job_id") or ""))
    restarts = slurm.get("restart_count")
    if not found:
        if restarts is not None and str(restarts).isdigit():
            row["requeues"] = int(restarts)
        return
    gpus = int(found.get("gpus") or 0)
    elapsed = found.get("elapsed")
    duration = row.get("duration")
    row.update(
        {
            "job_state": found.get("state"),
            "job_elapsed": elapsed,
            "job_max_rss": found.get("max_rss"),
            "job_exit_code": found.get("exit_code"),
            "requeues": max(int(found.get("requeues") or 0), int(restarts or 0)),
            "gpus": gpus,
            "gpu_hours": gpus * duration / 3600 if isinstance(duration, (int, float)) else None,
            "job_gpu_hours": gpus * elapsed / 3600 if elapsed is not None else None,
        }
    )


# ---------------------------------------------------------------------- fetching
def targets(
    root: Path, deploy: dict[str, Any], hosts: list[str] | None = None
) -> dict[str, dict[str, Any]]:
    """Per cluster host of the deploy (of ``hosts``, default all): what fetch.yml needs (lab
    root, sweeps, jobs, dest)."""
    out = {}
    for host, info in ledger.submissions(root, deploy["deploy_id"]).items():
        if hosts is not None and host not in hosts:
            continue
        sweep_ids = [s["id"] for s in deploy["sweeps"]]
        job_ids = sorted({str(j) for j in (info.get("jobs") or {}).values() if j})
        dest = str(cache_root(root) / host)
        out[host] = {
            "lab_root": info["lab_root"],
            "sweep_ids": sweep_ids,
            "job_ids": job_ids,
            "dest": dest,
            "rsync_opts": fetch_rsync_opts(dest, sweep_ids),
            # no job: no accounting to ask for
            "sacct_argv": [*SACCT_ARGV, "-j", ",".join(job_ids)] if job_ids else [],
        }
    return out


def fetch_rsync_opts(dest: str, sweep_ids: list[str]) -> list[str]:
    """fetch.yml's rsync filter: each sweep's sweep.json and run records, nothing else. A
    record replaced by a fetch is kept in DEST/.previous until sweepops checked the new one:
    a record truncated on the cluster does not overwrite the last good copy."""
    keep = [f"/{i}/" for i in sweep_ids] + [f"/{i}/sweep.json" for i in sweep_ids]
    keep += [f"/{i}/runs/" for i in sweep_ids] + [f"/{i}/runs/*.json" for i in sweep_ids]
    return [
        "--backup",
        f"--backup-dir={dest}/.previous",
        "--exclude=.*",
        *(f"--include={k}" for k in keep),
        "--exclude=*",
    ]


def fetch(
    root: Path,
    deploy: dict[str, Any],
    *,
    inventory: list[str] | None = None,
    progress: Progress | None = None,
    hosts: list[str] | None = None,
) -> dict[str, HostFetch]:
    """Pull the deploy's run records from each of its clusters (of ``hosts``, default all)
    into the cache and read their accounting. Empty when the deploy ran on no cluster (the
    Slurm executor's fetch, sweepops.executors.slurm)."""

    from sweepops.ansible.events import TaskEvent
    from sweepops.ansible.runner import run_quiet

    want = targets(root, deploy, hosts)
    if not want:
        return {}
    for info in want.values():
        Path(info["dest"]).mkdir(parents=True, exist_ok=True)
    results = {host: HostFetch(host) for host in want}
    seen: set[str] = set()
    bar = progress or Progress("fetch", len(want) * 2)
    bar.update(0, total=len(want) * 2, message=f"from {', '.join(sorted(want))}")

    def on_task(ev: TaskEvent) -> None:
        if ev.host not in results:
            return
        res = ev.res
        got = results[ev.host]
        seen.add(ev.host)
        if ev.action == "synchronize":
            if ev.failed:
                got.error = str(res.get("msg") or res)
            else:
                got.transferred = parse_itemized(res.get("stdout_lines") or [])
            bar.advance(message=f"{ev.host}: {len(got.transferred)} record(s) transferred")
        elif ev.action == "command":
            if ev.failed or res.get("rc", 0) != 0:
                got.acct_error = str(res.get("stderr") or res.get("msg") or "")
            elif ev.kind == "ok":
                got.acct = parse_acct(res.get("stdout", ""))
            bar.advance(message=f"{ev.host}: {len(got.acct)} accounting row(s)")
        elif ev.failed:
            got.error = str(res.get("msg") or res)
            bar.advance(2, message=f"{ev.host}: unreachable")

    # (run_quiet keeps the wandb key out of the environment ansible-runner records)
    runner = run_quiet(
        root,
        "playbooks/fetch.yml",
        {"sweepops_targets": want},
        inventory=[*(inventory or []), *ledger.inventories_of(root, deploy["deploy_id"])],
        on_task=on_task,
    )
    for host, got in results.items():
        if host not in seen and got.error is None:
            got.error = ledger.unknown_host_message(host)
        if got.error is None and runner.rc not in (0, None) and not got.transferred:
            stats = (runner.stats or {}).get("dark", {}) or (runner.stats or {}).get("failures", {})
            if host in stats:
                got.error = got.error or "unreachable or failed (see ansible output)"
        got.warnings += keep_good_copies(Path(want[host]["dest"]), got.transferred)
    bar.close()
    return results


#: Where rsync puts the cached copies a fetch replaces (``--backup-dir``, under the cache).
PREVIOUS = ".previous"


def keep_good_copies(dest: Path, transferred: list[str]) -> list[str]:
    """After a fetch into ``dest``: a run record that arrived unreadable (truncated on the
    cluster) is replaced by the copy it overwrote when that one was good (rsync kept it in
    ``dest/.previous``). Returns one warning per unreadable record; ``.previous`` goes."""
    warnings = []
    previous = dest / PREVIOUS
    for name in transferred:
        if not name.endswith(".json") or "/runs/" not in name:
            continue
        path = dest / name
        try:
            read_record(str(path))
            continue
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as exc:
            why = str(exc)
        old = previous / name
        try:
            read_record(str(old))
        except (OSError, ValueError):
            warnings.append(
                f"{dest.name}: run record {name} cannot be read on the cluster ({why}) and "
                "no good copy was fetched before: it is shown as unreadable"
            )
            continue
        os.replace(old, path)
        warnings.append(
            f"{dest.name}: run record {name} cannot be read on the cluster ({why}); "
            "keeping the last good copy fetched before"
        )
    if previous.exists():
        shutil.rmtree(previous, ignore_errors=True)
    return warnings


def fetch_warnings(fetched: dict[str, HostFetch]) -> list[str]:
    """One line per cluster that could not be fetched from (its cached rows are shown)."""
    out = []
    for host, got in sorted(fetched.items()):
        out.extend(got.warnings)
        if got.error:
            out.append(f"{host}: could not fetch ({got.error}); showing its cached runs")
        elif got.acct_error:
            out.append(f"{host}: no Slurm accounting ({got.acct_error.strip()[:200]})")
    return out
