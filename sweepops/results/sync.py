"""``sweepops sync EXP``: upload the offline runs of wandb sweeps from clusters whose compute
nodes have no internet, each exactly once, attached to its sweep.

``wandb sync`` runs on the workstation (which reaches the server; login nodes often do not):

1. the server is asked who the API key belongs to (``Viewer``): without a key, with a key it
   refuses, or when it does not answer, nothing is pulled, uploaded or marked;
2. ``playbooks/sync.yml`` lists, on each such cluster (``handoff`` in the deploy record), the
   runs of the experiment's sweeps that are done and carry no synced marker, and pulls their
   ``offline-run-*`` directories with rsync into ``.sweepops/handoff/HOST/SWEEP/wandb/``;
3. the real ``wandb sync --entity E --project P DIR...`` uploads them (the run records carry
   the sweep id, tags, group, commit: the run attaches to its sweep); it writes wandb's marker
   ``run-ID.wandb.synced`` into the local copy of each run it uploaded;
4. the same playbook writes that marker on the cluster, next to the run's ``.wandb`` file.

A run uploaded whose cluster marker could not be written (connection lost) is only marked at
the next sync, never uploaded again: its local copy has the marker. Runs still running (or
preempted, waiting to be re-run) are left for a later sync; ``--watch`` repeats until no job
of the experiment is left on those clusters.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from sweepops.backends import wandb as wandb_backend
from sweepops.core import paths
from sweepops.core.errors import SweepopsError
from sweepops.core.progress import Progress
from sweepops.records import ledger
from sweepops.remote.handoff import SYNCED_SUFFIX

if TYPE_CHECKING:
    from sweepops.ansible.view import RunView

NOTHING = "nothing was uploaded and no run was marked"
#: ``--watch`` gives up after this many passes in a row in which a server or cluster failed.
WATCH_GIVE_UP = 5
#: Runs uploaded per ``wandb sync`` process (each start costs a few seconds).
CHUNK = 8


def staging_root(root: Path) -> Path:
    """Where pulled offline runs wait for (and stay after) their upload."""
    return paths.handoff_dir(root)


@dataclass(frozen=True)
class SweepRef:
    """What an upload needs to know about a wandb sweep."""

    id: str
    name: str
    entity: str
    project: str
    base_url: str
    url: str = ""


@dataclass
class Target:
    """One cluster host: where its sweeps are and which jobs may still add runs."""

    host: str
    lab_root: str
    sweeps: dict[str, SweepRef] = field(default_factory=dict)
    job_ids: set[str] = field(default_factory=set)

    def extravars(self, root: Path) -> dict[str, Any]:
        return {
            "lab_root": self.lab_root,
            "sweep_ids": sorted(self.sweeps),
            "job_ids": sorted(self.job_ids),
            "dest": str(staging_root(root) / self.host),
        }


@dataclass(frozen=True)
class PendingRun:
    host: str
    sweep: SweepRef
    run_id: str
    dir: str  # relative to the sweep directory: wandb/offline-run-TS-ID
    local: Path  # the pulled copy

    @property
    def marker(self) -> Path:
        return self.local / f"run-{self.run_id}{SYNCED_SUFFIX}"

    def mark_item(self) -> dict[str, str]:
        return {"sweep_id": self.sweep.id, "run_id": self.run_id, "dir": self.dir}


@dataclass
class SyncReport:
    uploaded: list[str] = field(default_factory=list)
    marked_only: list[str] = field(default_factory=list)  # uploaded earlier, marked now
    failed: list[str] = field(default_factory=list)
    already: int = 0  # synced by an earlier sync
    unfinished: int = 0
    no_data: list[str] = field(default_factory=list)
    live_jobs: int = 0
    host_errors: dict[str, str] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        """No job is left that could add runs, and every cluster answered."""
        return self.live_jobs == 0 and not self.host_errors

    @property
    def ok(self) -> bool:
        return not self.failed and not self.host_errors

    def lines(self) -> list[str]:
        out = [
            f"uploaded {len(self.uploaded)} run(s)"
            + (f", marked {len(self.marked_only)} uploaded earlier" if self.marked_only else "")
            + f"; {self.already} synced before; {self.unfinished} not finished yet"
            + f"; {self.live_jobs} job(s) still live"
        ]
        if self.no_data:
            out.append(f"no wandb data (not uploaded): {', '.join(sorted(self.no_data))}")
        if self.failed:
            out.append(f"FAILED to upload (left for the next sync): {', '.join(self.failed)}")
        for host, err in sorted(self.host_errors.items()):
            out.append(f"{host}: {err}")
        return out + self.messages


# ---------------------------------------------------------------------- what to sync
def targets(root: Path, deploys: Iterable[dict[str, Any]]) -> dict[str, Target]:
    """Per cluster host that ran wandb sweeps of these deploys offline (the hand-off)."""
    out: dict[str, Target] = {}
    for deploy in deploys:
        if deploy.get("backend") != "wandb" or not deploy.get("handoff"):
            continue
        submitted = ledger.submissions(root, deploy["deploy_id"])
        for host in deploy["handoff"]:
            info = submitted.get(host)
            if not info:
                continue
            target = out.setdefault(host, Target(host=host, lab_root=info["lab_root"]))
            if target.lab_root != info["lab_root"]:
                raise SweepopsError(
                    f"{host}: deploys of this experiment used two lab roots "
                    f"({target.lab_root}, {info['lab_root']}); sync one deploy at a time",
                )
            target.job_ids.update(str(j) for j in (info.get("jobs") or {}).values() if j)
            for s in deploy["sweeps"]:
                target.sweeps[s["id"]] = SweepRef(
                    id=s["id"],
                    name=s.get("wandb_name") or s["name"],
                    entity=str(s.get("entity") or deploy.get("entity") or ""),
                    project=str(s.get("project") or deploy.get("project") or ""),
                    base_url=str(s.get("base_url") or deploy.get("base_url") or ""),
                    url=str(s.get("url") or ""),
                )
    return out


def pending_from(
    root: Path, target: Target, listed: dict[str, Any], report: SyncReport
) -> list[PendingRun]:
    """The runs a cluster listed (module ``sweepops_handoff``), with their pulled copies."""
    out = []
    report.live_jobs += int(listed.get("live_jobs") or 0)
    for sid, found in sorted((listed.get("sweeps") or {}).items()):
        sweep = target.sweeps.get(sid)
        if sweep is None:
            continue
        report.already += int(found.get("synced") or 0)
        report.unfinished += int(found.get("unfinished") or 0)
        report.no_data += [f"{target.host}/{sid}/{r}" for r in found.get("no_data") or []]
        for run in found.get("runs") or []:
            local = staging_root(root) / target.host / sid / run["dir"]
            out.append(PendingRun(target.host, sweep, run["run_id"], run["dir"], local))
    return out


# ---------------------------------------------------------------------- the server
def wandb_sync(
    dirs: Sequence[Path],
    *,
    entity: str,
    project: str,
    url: str,
    api_key: str,
    cwd: Path,
    timeout: float = 1800,
    python: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """The real ``wandb sync`` of offline run directories (key in its environment only)."""
    env = {
        **os.environ,
        "WANDB_BASE_URL": url,
        "WANDB_API_KEY": api_key,
        "WANDB_ERROR_REPORTING": os.environ.get("WANDB_ERROR_REPORTING", "false"),
    }
    env.pop("WANDB_MODE", None)
    env.pop(wandb_backend.KEY_FILE_ENV, None)
    argv = [python or sys.executable, "-m", "wandb", "sync", "--yes"]
    argv += ["--no-include-synced", "--no-include-online"]
    if entity:
        argv += ["--entity", entity]
    if project:
        argv += ["--project", project]
    argv += [str(d) for d in dirs]
    cwd.mkdir(parents=True, exist_ok=True)
    try:
        return subprocess.run(
            argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        return subprocess.CompletedProcess(argv, -9, str(exc.stdout or ""), f"timed out: {exc}")


# ---------------------------------------------------------------------- one pass
Runner = Callable[[Path, dict[str, Any]], dict[str, dict[str, Any]]]


def run_sync_playbook(
    root: Path,
    extravars: dict[str, Any],
    inventory: list[str] | None = None,
    view: RunView | None = None,
) -> dict[str, dict[str, Any]]:
    """Run playbooks/sync.yml (with the short ``view``, which keeps the whole log); per
    host, the ``sweepops_handoff`` module's result (or ``{"failed": True, "msg": ...}``),
    with ``pulled`` set when the rsync task failed."""
    from sweepops.ansible.events import TaskEvent
    from sweepops.ansible.runner import run_quiet

    out: dict[str, dict[str, Any]] = {}

    def on_task(ev: TaskEvent) -> None:
        if ev.kind == "skipped":
            return
        if ev.failed:
            msg = str(ev.res.get("msg") or ev.res.get("stderr") or ev.res)
            out[ev.host] = {**out.get(ev.host, {}), "failed": True, "msg": msg.strip()[:2000]}
        elif ev.action == "sweepops_handoff":
            out[ev.host] = dict(ev.res)

    run_quiet(
        root, "playbooks/sync.yml", extravars, inventory=inventory, on_task=on_task, view=view
    )
    if view is not None:
        for got in out.values():
            if got.get("failed"):
                got["msg"] = f"{got.get('msg')} (the whole log: {view.log_path})"
    return out


def sync_once(
    root: Path,
    deploys: Sequence[dict[str, Any]],
    *,
    inventory: list[str] | None = None,
    progress: Progress | None = None,
    playbook: Runner | None = None,
    env: dict[str, str] | None = None,
    view: Callable[[], RunView] | None = None,
) -> SyncReport:
    """One pass: check the server, list and pull, upload, mark. See the module docstring."""
    report = SyncReport()
    want = targets(root, deploys)
    if not want:
        report.messages.append(
            "nothing to sync: no deploy of this experiment ran wandb sweeps on a cluster "
            "with compute_internet: false"
        )
        return report
    urls = sorted({s.base_url for t in want.values() for s in t.sweeps.values()})
    keys = {url: wandb_backend.require_api_key(url, env=env) for url in urls}
    for url in urls:
        wandb_backend.check_server(url, keys[url], nothing=NOTHING)
    run_playbook = playbook or (
        lambda r, ev: run_sync_playbook(r, ev, inventory, view() if view else None)
    )
    for host in want:
        (staging_root(root) / host).mkdir(parents=True, exist_ok=True)  # rsync's destination
    bar = progress or Progress("upload")
    bar.update(0, message=f"listing and pulling the finished runs on {', '.join(sorted(want))}")
    listed = run_playbook(
        root, {"sweepops_targets": {h: t.extravars(root) for h, t in want.items()}}
    )
    pending: list[PendingRun] = []
    for host, target in sorted(want.items()):
        got = listed.get(host) or {"failed": True, "msg": "no answer (unreachable?)"}
        if got.get("failed"):
            # a failed listing or pull: nothing of this host is uploaded this time
            report.host_errors[host] = f"could not list or pull runs: {got.get('msg')}"
            continue
        pending += pending_from(root, target, got, report)

    to_mark = [p for p in pending if p.marker.exists()]  # uploaded earlier, mark failed then
    report.marked_only = [p.run_id for p in to_mark]
    todo = [p for p in pending if not p.marker.exists()]
    bar.update(0, total=len(todo), message=f"run(s) pulled from {', '.join(sorted(want))}")
    groups: dict[tuple[str, str, str], list[PendingRun]] = {}
    for p in todo:
        groups.setdefault((p.sweep.base_url, p.sweep.entity, p.sweep.project), []).append(p)
    for (url, entity, project), runs in sorted(groups.items()):
        for i in range(0, len(runs), CHUNK):
            chunk = runs[i : i + CHUNK]
            missing = [p for p in chunk if not (p.local / f"run-{p.run_id}.wandb").is_file()]
            for p in missing:
                report.failed.append(f"{p.host}/{p.sweep.id}/{p.run_id} (not pulled)")
            chunk = [p for p in chunk if p not in missing]
            if not chunk:
                continue
            proc = wandb_sync(
                [p.local for p in chunk],
                entity=entity,
                project=project,
                url=url,
                api_key=keys[url],
                cwd=staging_root(root),
            )
            for p in chunk:
                if p.marker.exists():
                    report.uploaded.append(p.run_id)
                    to_mark.append(p)
                else:
                    report.failed.append(f"{p.host}/{p.sweep.id}/{p.run_id}")
            if any(not p.marker.exists() for p in chunk):
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
                report.messages.append(
                    f"wandb sync exited {proc.returncode}: " + _redact(" | ".join(tail), keys[url])
                )
            bar.advance(len(chunk), message=f"uploaded to {entity}/{project}")
    if to_mark:
        marks: dict[str, list[dict[str, str]]] = {}
        for p in to_mark:
            marks.setdefault(p.host, []).append({**p.mark_item(), "url": p.sweep.url})
        extravars = {
            "sweepops_targets": {
                h: {**want[h].extravars(root), "mark": items} for h, items in marks.items()
            }
        }
        bar.update(message=f"marking {len(to_mark)} run(s) as uploaded on the cluster")
        answered = run_playbook(root, extravars)
        for host in marks:
            got = answered.get(host) or {"failed": True, "msg": "no answer"}
            if got.get("failed"):
                report.host_errors[host] = (
                    f"uploaded, but could not mark the runs on the cluster ({got.get('msg')}); "
                    "the next sync marks them (and uploads nothing twice)"
                )
    bar.close()
    return report


def _redact(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text


def sync(
    root: Path,
    deploys: Sequence[dict[str, Any]],
    *,
    watch: float | None = None,
    inventory: list[str] | None = None,
    out: TextIO | None = None,
    sleep: Callable[[float], None] = time.sleep,
    progress: Progress | None = None,
    view: Callable[[], RunView] | None = None,
) -> int:
    """``sweepops sync``: one pass, or with ``watch`` (seconds) passes until no job of the
    experiment is left on those clusters. Returns the exit status (1 if a run failed to
    upload or a cluster did not answer in the last pass)."""
    out = out or sys.stdout
    failing = 0  # passes in a row that failed (server or cluster not answering)
    while True:
        try:
            report = sync_once(
                root, deploys, inventory=inventory, progress=progress, view=view
            )
        except SweepopsError as exc:
            failing += 1
            if watch is None or "API key" in exc.message or failing >= WATCH_GIVE_UP:
                raise
            out.write(f"sync: {exc.message}; trying again in {watch:.0f} s\n")
            out.flush()
            sleep(watch)
            continue
        for line in report.lines():
            out.write(f"sync: {line}\n")
        out.flush()
        failing = failing + 1 if report.host_errors else 0
        if watch is None or report.finished or failing >= WATCH_GIVE_UP:
            if watch is not None and report.finished:
                out.write(
                    "sync: no job of the experiment is left; "
                    + (
                        "every finished run is uploaded\n"
                        if report.ok
                        else "some runs could not be uploaded (above): run `sweepops sync` again\n"
                    )
                )
            return 0 if report.ok else 1
        sleep(watch)
