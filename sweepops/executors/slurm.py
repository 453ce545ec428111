"""The Slurm executor: a deploy's jobs on the Slurm clusters it was submitted to.

The jobs were submitted by ``deploy.yml`` (the ``sbatch`` role) and recorded in the ledger
(``submitted`` lines, :class:`sweepops.core.records.ClusterSubmission`). Everything asked of
them goes through a playbook run by ansible-runner, one run for every host at once:
``playbooks/cluster.yml`` (status, cancel: ``library/sweepops_cluster.py``),
``playbooks/logs.yml`` (``sweepops_log``) and ``playbooks/fetch.yml`` (rsync + sacct,
:func:`sweepops.results.fetch.fetch`). A host no inventory knows answers as failed, saying so.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from sweepops.ansible.runner import collect
from sweepops.core.errors import SweepopsError
from sweepops.core.progress import Progress
from sweepops.executors.base import (
    ClusterExecutor,
    LogMiss,
    Notice,
    OnDisk,
    RetryChoice,
    WaitOutcome,
    retry_notices,
)
from sweepops.ops import stranded
from sweepops.ops.status import failed_sweeps, job_summary
from sweepops.records import ledger
from sweepops.remote.failures import run_reason
from sweepops.remote.sbatch_options import OPTIONS, resource_options
from sweepops.remote.slurm import FINAL_STATES, base_job_id
from sweepops.results import fetch as results_fetch
from sweepops.runtime.offline_sweep import parse_shard, progress_of

#: Seconds between two status questions to the clusters while waiting.
WAIT_POLL = 5.0
#: Seconds between two reads of a followed log (a cluster read costs an ssh round trip).
FOLLOW_POLL = 2.0


def jobs_live(res: dict[str, Any], sweep_jobs: dict[str, str]) -> dict[str, bool | None]:
    """Per sweep id (``sweep_jobs``: its job, as the ledger recorded): whether a task of its
    job is still live in a cluster's status answer (None when the controller did not answer
    and one may be)."""
    jobs = res.get("jobs") or {}
    out: dict[str, bool | None] = {}
    for sweep_id, job in sweep_jobs.items():
        rows = [r for j, r in jobs.items() if base_job_id(j) == str(job)]
        live = any(r.get("state") not in FINAL_STATES for r in rows)
        out[sweep_id] = None if live and any(r.get("stale") for r in rows) else live
    return out


class SlurmExecutor(ClusterExecutor):
    """The deploy's submissions on Slurm cluster hosts."""

    kind = "slurm"

    #: The clusters' last status answers while waiting (run_why reads them).
    answers: dict[str, dict[str, Any]]

    def __init__(
        self,
        root: Path,
        deploy: dict[str, Any],
        inventory: list[str] | None = None,
        hosts: list[str] | None = None,
    ):
        super().__init__(root, deploy, inventory, hosts)
        self.answers = {}

    # ------------------------------------------------------------------ asking
    def _inventories(self) -> list[str]:
        return [*self.inventory, *ledger.inventories_of(self.root, self.deploy["deploy_id"])]

    def _missing(self, answers: dict[str, dict[str, Any]], hosts: Any) -> None:
        for host in hosts:
            answers.setdefault(host, {"failed": True, "msg": ledger.unknown_host_message(host)})

    def ask(self, action: str, **extra: Any) -> dict[str, dict[str, Any]]:
        """Each host's answer to ``status``, ``cancel`` or ``retry`` (playbooks/cluster.yml;
        ``extra``: the retry's variables)."""
        if not self.submitted:
            return {}
        targets = {
            host: {
                "lab_root": info["lab_root"],
                "sweep_ids": [s["id"] for s in self.deploy["sweeps"]],
                "job_ids": sorted({str(j) for j in (info.get("jobs") or {}).values()}),
                "sweep_jobs": {str(k): str(v) for k, v in (info.get("jobs") or {}).items()},
                "deploy_id": self.deploy["deploy_id"],
            }
            for host, info in self.submitted.items()
        }
        extravars = {"action": action, "sweepops_targets": targets, **extra}
        answers = collect(
            self.root, "playbooks/cluster.yml", extravars, inventory=self._inventories()
        )
        self._missing(answers, targets)
        return answers

    def ask_logs(
        self, target: str, offset: int, hosts: list[str] | None = None
    ) -> dict[str, dict[str, Any]]:
        """Each host's answer of ``sweepops_log`` (playbooks/logs.yml) about ``target`` (a
        run or job id; empty: list the logs) from byte ``offset``."""
        targets = {
            host: {
                "lab_root": info["lab_root"],
                "deploy_id": self.deploy["deploy_id"],
                "sweep_ids": [s["id"] for s in self.deploy["sweeps"]],
            }
            for host, info in self.submitted.items()
            if hosts is None or host in hosts
        }
        if not targets:
            return {}
        answers = collect(
            self.root,
            "playbooks/logs.yml",
            {"sweepops_targets": targets, "log_target": target, "log_offset": offset},
            inventory=self._inventories(),
        )
        self._missing(answers, targets)
        return answers

    # ------------------------------------------------------------------ submit side
    def by_hand(self, sweep_id: str, where: str) -> str:
        info = {"deploy_id": self.deploy["deploy_id"], **self.submitted.get(where, {})}
        return ledger.by_hand(where, sweep_id, info)

    # ------------------------------------------------------------------ status
    def status(self, on_disk: OnDisk) -> dict[str, Any]:
        clusters: dict[str, Any] = {}
        for host, res in sorted(self.ask("status").items()):
            if res.get("failed"):
                clusters[host] = {"error": res.get("msg"), "sweeps": [], "jobs": {}}
                continue
            info = self.submitted.get(host, {})
            live = jobs_live(res, info.get("jobs") or {})
            sweeps = [
                self._sweep_status(host, entry, res, live.get(entry["id"], False))
                for entry in self.deploy["sweeps"]
                if on_disk(entry["id"], host)
            ]
            clusters[host] = {
                "error": None,
                "warning": stranded.controller_warning(host, res.get("controller_down")),
                "sweeps": sweeps,
                "jobs": res.get("jobs", {}),
            }
        return {"clusters": clusters}

    def _sweep_status(
        self, host: str, entry: dict[str, Any], res: dict[str, Any], live: bool | None
    ) -> dict[str, Any]:
        states = dict(res["sweeps"].get(entry["id"], {}))
        cancelled = bool(states.pop("cancelled", False))
        states.pop("missing", None)
        failed = states.pop("failed_runs", [])
        shard = self.submitted.get(host, {}).get("shard")
        counts = progress_of(entry["meta"]["config"], states, parse_shard(shard) if shard else None)
        found = (res.get("runs") or {}).get(entry["id"]) or {}
        if cancelled:  # its runs wait on purpose
            found = {**found, "waiting": [], "lapsed": []}
        return {
            "name": entry["name"],
            "id": entry["id"],
            "counts": counts,
            "cancelled": cancelled,
            "failed_runs": failed,
            "attempts": found.get("attempts") or {},
            "excluded_nodes": found.get("excluded_nodes") or {},
            "live": live,
            "notes": stranded.notes(found, live=live, how=self.by_hand(entry["id"], host)),
        }

    # ------------------------------------------------------------------ cancel
    def cancel(self) -> list[Notice]:
        said = []
        for host, res in sorted(self.ask("cancel").items()):
            if res.get("failed"):
                said.append(Notice(f"{host}: could not cancel: {res.get('msg')}", failed=True))
            elif not res.get("changed"):
                said.append(Notice(f"{host}: no job of the deploy is live; nothing to cancel"))
            else:
                said.append(Notice(f"cancelled on {host}: jobs {job_summary(res.get('jobs', {}))}"))
        return said

    # ------------------------------------------------------------------ retry
    def retry(self, choice: RetryChoice) -> list[Notice]:
        try:
            sbatch_args = resource_options(choice.settings)
        except ValueError as exc:
            known = ", ".join(OPTIONS)
            return [Notice(f"-e: {exc} (a retry job takes: {known})", failed=True)]
        answers = self.ask(
            "retry",
            retry_failed=choice.failed,
            retry_lost=choice.lost,
            retry_runs=list(choice.run_ids),
            sbatch_args=sbatch_args,
        )
        names = {s["id"]: s.get("name") or s["id"] for s in self.deploy["sweeps"]}
        said: list[Notice] = []
        resubmitted: dict[str, dict[str, Any]] = {}
        for host, res in sorted(answers.items()):
            if res.get("failed"):
                said.append(Notice(f"{host}: could not retry: {res.get('msg')}", failed=True))
                continue
            for sid, done in sorted((res.get("retried") or {}).items()):
                said += retry_notices(f"{names.get(sid, sid)} ({sid}) on {host}", done)
            jobs = dict(res.get("submitted") or {})
            for sid, job in sorted(jobs.items()):
                said.append(Notice(f"  submitted {names.get(sid, sid)} ({sid}) again: job {job}"))
            if jobs:
                info = dict(self.submitted[host])
                earlier = {k: list(v) for k, v in (info.get("earlier_jobs") or {}).items()}
                for sid in jobs:
                    if (info.get("jobs") or {}).get(sid):
                        earlier.setdefault(sid, []).append(str(info["jobs"][sid]))
                info["jobs"] = {**(info.get("jobs") or {}), **jobs}
                info["earlier_jobs"] = earlier
                resubmitted[host] = info
        if resubmitted:
            ledger.record_submission(self.root, self.deploy["deploy_id"], resubmitted)
            self.submitted.update(resubmitted)
        elif answers and sbatch_args and not any(a.get("failed") for a in answers.values()):
            said.append(
                Notice(
                    "  -e applies to a job submitted again; a live job of the sweep claims "
                    "the retries with its own settings"
                )
            )
        return said

    # ------------------------------------------------------------------ wait
    def wait(self, start: float, timeout: float | None) -> WaitOutcome:
        """Poll the clusters (runs by state, squeue/sacct) until none of the jobs is live,
        or until every job of a sweep has failed while others still run (``early``)."""
        bar = Progress("waiting for the clusters", stream=sys.stdout)
        try:
            while True:
                outcome = self._wait_once(bar, start, timeout)
                if outcome is not None:
                    return outcome
                time.sleep(WAIT_POLL)
        finally:
            bar.close()

    def _wait_once(self, bar: Progress, start: float, timeout: float | None) -> WaitOutcome | None:
        experiment = self.deploy["experiment"]
        self.answers = answers = self.ask("status")
        broken = {h: r.get("msg") for h, r in answers.items() if r.get("failed")}
        if broken:
            raise SweepopsError(
                f"cannot ask {', '.join(broken)} about the deploy: {list(broken.values())[0]}",
                hint=f"the jobs keep running; check `sweepops status {experiment}`",
            )
        jobs = [j for r in answers.values() for j in r.get("jobs", {}).values()]
        live = sum(j.get("state") not in FINAL_STATES for j in jobs)
        runs = [s for r in answers.values() for s in r.get("sweeps", {}).values()]
        done = sum(int(s.get("finished", 0)) + int(s.get("stopped", 0)) for s in runs)
        failed = sum(int(s.get("failed", 0)) for s in runs)
        running = sum(int(s.get("running", 0)) for s in runs)
        bar.update(
            done,
            total=None,
            message=f"runs done, {failed} failed, {running} running, {live} jobs live",
        )
        dead = failed_sweeps(self.deploy, self.submitted, answers)
        why = (
            [
                f"sweepops: every job of {', '.join(dead)} failed"
                + ("; stopped waiting" if live else ""),
                *dead.values(),
                f"logs: sweepops logs {experiment} JOB_OR_RUN_ID",
            ]
            if dead
            else []
        )
        if dead and live:
            return WaitOutcome(why, early=True)
        if jobs and live == 0:
            return WaitOutcome(why)
        if timeout is not None and time.monotonic() - start > timeout:
            raise SweepopsError(
                f"gave up waiting after {timeout:.0f}s; the jobs keep running",
                hint=f"check `sweepops status {experiment}`",
            )
        return None

    def run_why(self, row: dict[str, Any]) -> str | None:
        cluster = row.get("cluster")
        if cluster not in self.submitted:
            return None
        sweeps = (self.answers.get(str(cluster)) or {}).get("sweeps") or {}
        said = {
            r.get("id"): r.get("why")
            for r in (sweeps.get(row["sweep_id"]) or {}).get("failed_runs") or []
        }
        return str(said.get(row["run_id"]) or run_reason(row))

    # ------------------------------------------------------------------ logs
    def list_logs(self) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
        rows: list[tuple[str, dict[str, Any]]] = []
        warnings = []
        for host, res in sorted(self.ask_logs("", -1).items()):
            if res.get("failed"):
                warnings.append(f"{host}: cannot list its logs: {res.get('msg')}")
                continue
            rows += [(host, e) for e in res.get("logs") or []]
        return rows, warnings

    def show_log(self, log_id: str, follow: bool) -> LogMiss | None:
        answers = self.ask_logs(log_id, -1)
        host, res = next(((h, r) for h, r in sorted(answers.items()) if r.get("found")), ("", {}))
        if not host:
            broken = [f"{h}: {r.get('msg')}" for h, r in sorted(answers.items()) if r.get("failed")]
            return LogMiss(", ".join(sorted(answers)), tuple(broken))
        found = res["found"]
        state = found.get("state") or "-"
        tasks = found.get("tasks") or []
        more = f"; the job's tasks: {', '.join(tasks)}" if len(tasks) > 1 else ""
        print(
            f"==> {host}:{found['path']} ({found['kind']} {found['id']}, {state}){more} <==",
            file=sys.stderr,
        )
        sys.stdout.write(res.get("text") or "")
        sys.stdout.flush()
        offset, live = int(res.get("offset") or 0), bool(res.get("live"))
        while follow and live:
            time.sleep(FOLLOW_POLL)
            got = self.ask_logs(found["id"], offset, hosts=[host]).get(host)
            if not got or got.get("failed"):
                raise SweepopsError(f"lost {host} while following: {(got or {}).get('msg')}")
            sys.stdout.write(got.get("text") or "")
            sys.stdout.flush()
            offset, live = int(got.get("offset") or offset), bool(got.get("live"))
        return None

    # ------------------------------------------------------------------ results
    def fetch(self, progress: Any = None) -> dict[str, Any]:
        return results_fetch.fetch(
            self.root, self.deploy, inventory=self.inventory, progress=progress, hosts=self.hosts
        )

    def result_dirs(self) -> list[tuple[str, Path, bool]]:
        out = []
        for host in self.hosts:
            for sweep in self.deploy["sweeps"]:
                path = results_fetch.cache_root(self.root) / host / sweep["id"]
                if (path / "sweep.json").is_file():
                    out.append((host, path, True))
        return out
