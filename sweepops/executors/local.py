"""The local executor: N detached agents on this machine.

:class:`LocalExecutor` is the :class:`~sweepops.executors.base.Executor` of a deploy's sweeps
here (status, cancel, wait, logs, results); :func:`start_agents` is what the deploy's
``sweepops_local_agents`` module calls to start them.

Agents are started in their own session (they survive the terminal closing), with stdin from
/dev/null and their output in ``SWEEP_DIR/agents/local-K.log``; ``SWEEP_DIR/agents/local-K.json``
records the pid, so status/cancel/wait can find them. Starting is idempotent: agents already
recorded for the sweep are not started twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sweepops.backends.select import agents_backend
from sweepops.core.errors import SweepopsError
from sweepops.core.progress import Progress
from sweepops.executors.base import (
    Executor,
    LogMiss,
    Notice,
    OnDisk,
    RetryChoice,
    WaitOutcome,
    retry_notices,
)
from sweepops.ops import stranded
from sweepops.remote import sweep_retry
from sweepops.remote.failures import FAILED_RUN_STATES, read_tail, run_reason
from sweepops.remote.log_lookup import find_log, list_logs, read_from
from sweepops.runtime.offline_sweep import OfflineSweep, progress_of

#: Seconds between two reads of a followed log here.
FOLLOW_POLL = 0.5
#: Seconds between two looks at the agents while waiting.
WAIT_POLL = 1.0


def agent_records(sweep: OfflineSweep) -> list[dict[str, Any]]:
    records = []
    for p in sorted((sweep.path / "agents").glob("local-*.json")):
        records.append(json.loads(p.read_text()))
    return records


def start_agents(
    sweep: OfflineSweep,
    count: int,
    *,
    code_dir: Path,
    agent_args: list[str] | None = None,
    python: str = sys.executable,
    wandb_path: str | None = None,
) -> tuple[list[dict[str, Any]], bool]:
    """Start ``count`` agents for ``sweep`` unless already started. Returns (records, changed).

    With ``wandb_path`` (ENTITY/PROJECT/ID of a wandb sweep) the agents are the real
    ``wandb agent``, with the sweep's run metadata (tags, group, commit) in their environment;
    otherwise they are sweepops' offline agents on the sweep directory.
    """
    existing = agent_records(sweep)
    if existing:
        return existing, False
    env = dict(os.environ)
    # The runs use `python` from PATH, as wandb agent does: put this interpreter's
    # environment first, as if it were activated.
    env["PATH"] = os.path.dirname(python) + os.pathsep + env.get("PATH", "")
    backend = agents_backend(wandb_path)
    backend.agent_env(sweep, env)
    records = []
    for k in range(1, count + 1):
        log = sweep.path / "agents" / f"local-{k}.log"
        argv, cwd = backend.agent_argv(
            sweep,
            k,
            python=python,
            code_dir=Path(code_dir),
            agent_args=list(agent_args or []),
            target=wandb_path,
        )
        proc = _start(argv, cwd, env, log)
        record = {
            "pid": proc.pid,
            "log": str(log),
            "argv": argv,
            "cwd": str(cwd),
            "started": time.time(),
            "k": k,
        }
        (sweep.path / "agents" / f"local-{k}.json").write_text(json.dumps(record, indent=1))
        records.append(record)
    return records, True


def _start(argv: list[str], cwd: Any, env: dict[str, str], log: Any) -> subprocess.Popen[bytes]:
    """An agent in its own session, its output appended to ``log``."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def restart_agents(sweep: OfflineSweep) -> list[dict[str, Any]]:
    """Start again, with the argv they were started with, the sweep's recorded agents that
    are no longer alive (none when one is alive: it claims what is waiting). Returns the
    agents started."""
    if running_agents(sweep):
        return []
    started = []
    for rec in agent_records(sweep):
        argv = [str(a) for a in rec["argv"]]
        cwd = rec.get("cwd") or _code_dir_of(argv)
        env = dict(os.environ)
        env["PATH"] = os.path.dirname(argv[0]) + os.pathsep + env.get("PATH", "")
        proc = _start(argv, cwd, env, rec["log"])
        again = {**rec, "pid": proc.pid, "started": time.time(), "cwd": cwd}
        again["restarts"] = int(rec.get("restarts") or 0) + 1
        (sweep.path / "agents" / f"local-{rec['k']}.json").write_text(json.dumps(again, indent=1))
        started.append(again)
    return started


def _code_dir_of(argv: list[str]) -> str | None:
    """The ``--code-dir`` an offline agent was started with (its working directory)."""
    if "--code-dir" in argv:
        return argv[argv.index("--code-dir") + 1]
    return None


def pid_alive(pid: int) -> bool:
    """True if ``pid`` runs and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def running_agents(sweep: OfflineSweep) -> list[dict[str, Any]]:
    """The local agents of the sweep that are still alive (and really are our agent)."""
    alive = []
    for rec in agent_records(sweep):
        pid = int(rec["pid"])
        if not pid_alive(pid):
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if [os.fsencode(a) for a in rec["argv"]] == cmdline[: len(rec["argv"])]:
            alive.append(rec)  # the pid is still our agent, not a recycled one
    return alive


def failed_runs(sweep: OfflineSweep, limit: int = 20) -> list[dict[str, Any]]:
    """The last ``limit`` failed runs of a sweep here: id, log and why (from its log)."""
    failed = [r for r in sweep.runs() if r.get("state") in FAILED_RUN_STATES]
    failed.sort(key=lambda r: float(r.get("ended") or 0))
    return [
        {
            "id": r["id"],
            "log": r.get("log"),
            "why": run_reason(r, read_tail(r["log"]) if r.get("log") else ""),
        }
        for r in failed[-limit:]
    ]


def follow_local(found: dict[str, Any], sweep_dirs: dict[str, str], follow: bool) -> int:
    """Print a log here (``found``: sweepops.remote.log_lookup.find_log's answer) and, with
    ``follow``, what it grows by until its run has ended."""
    text, offset, _ = read_from(found["path"], -1)
    sys.stdout.write(text)
    sys.stdout.flush()
    while follow:
        again = find_log(found["id"], sweep_dirs) or found
        text, offset, _ = read_from(found["path"], offset)
        sys.stdout.write(text)
        sys.stdout.flush()
        if not text and again.get("state") not in ("running", "pending"):
            break
        if not text:
            time.sleep(FOLLOW_POLL)
    return 0


class LocalExecutor(Executor):
    """The deploy's sweeps on this machine (those with a ``dir`` in the ledger), each run by
    detached ``sweepops agent`` (or ``wandb agent``) processes started by the deploy."""

    kind = "local"

    def _entries(self) -> list[dict[str, Any]]:
        return [s for s in self.deploy["sweeps"] if s.get("dir")]

    def _dirs(self) -> dict[str, str]:
        return {s["id"]: s["dir"] for s in self._entries()}

    def by_hand(self, sweep_id: str, where: str = "local") -> str:
        return f"sweepops agent {self._dirs()[sweep_id]} --code-dir {self.root}"

    def status(self, on_disk: OnDisk) -> dict[str, Any]:
        out = []
        for entry in self._entries():
            if not on_disk(entry["id"], "local"):
                continue
            sweep = OfflineSweep(entry["dir"])
            alive = len(running_agents(sweep))
            found = sweep.report()
            counts = progress_of(sweep.config, found.pop("states"), sweep.shard)
            if sweep.cancelled:  # its runs wait on purpose
                found = {**found, "waiting": [], "lapsed": []}
            out.append(
                {
                    "name": entry["name"],
                    "id": entry["id"],
                    "counts": counts,
                    "agents": alive,
                    "cancelled": sweep.cancelled,
                    "failed_runs": failed_runs(sweep),
                    "attempts": found.get("attempts") or {},
                    "notes": stranded.notes(found, live=alive > 0, how=self.by_hand(entry["id"])),
                }
            )
        return {"local": out}

    def cancel(self) -> list[Notice]:
        said = []
        for entry in self._entries():
            sweep = OfflineSweep(entry["dir"])
            agents = running_agents(sweep)
            if not agents:  # its agents have ended: the sweep is over, not cancelled
                said.append(
                    Notice(
                        f"{entry['name']} ({entry['id']}): no agent running here; nothing to cancel"
                    )
                )
                continue
            sweep.cancel()
            for agent in agents:
                os.kill(int(agent["pid"]), signal.SIGTERM)
            said.append(Notice(f"cancelled {entry['name']} ({entry['id']}) on this machine"))
        return said

    def retry(self, choice: RetryChoice) -> list[Notice]:
        if not self._entries():  # the deploy ran nothing here
            return []
        if choice.settings:
            keys = ", ".join(sorted(choice.settings))
            return [
                Notice(
                    f"this machine: -e {keys} does not apply to local agents (they run with "
                    "the deploy's environment); retry without it",
                    failed=True,
                )
            ]
        said = []
        for entry in self._entries():
            sweep = OfflineSweep(entry["dir"])
            done = sweep_retry.mark(
                sweep.path, failed=choice.failed, lost=choice.lost, run_ids=choice.run_ids
            )
            said += retry_notices(f"{entry['name']} ({entry['id']}) here", done)
            if done.marked or done.waiting:
                started = restart_agents(sweep)
                if started:
                    said.append(Notice(f"  started {len(started)} agent(s) again here"))
                elif running_agents(sweep):
                    said.append(Notice("  its running agents claim them next"))
        return said

    def wait(self, start: float, timeout: float | None) -> WaitOutcome:
        sweeps = [OfflineSweep(d) for d in self._dirs().values()]
        bar = Progress("waiting", stream=sys.stdout)
        while True:
            alive = sum(len(running_agents(s)) for s in sweeps)
            counts = [s.progress() for s in sweeps]
            done = sum(int(c["finished"] or 0) + int(c["stopped"] or 0) for c in counts)
            failed = sum(int(c["failed"] or 0) for c in counts)
            running = sum(int(c["running"] or 0) for c in counts)
            totals = [c["total"] for c in counts]
            unknown = any(t is None for t in totals)
            bar.update(
                done,
                total=None if unknown else sum(int(t or 0) for t in totals),
                message=f"runs done, {failed} failed, {running} running, {alive} agents",
            )
            if alive == 0:
                break
            if timeout is not None and time.monotonic() - start > timeout:
                bar.close()
                raise SweepopsError(
                    f"gave up waiting after {timeout:.0f}s; the agents keep running",
                    hint=f"check `sweepops status {self.deploy['experiment']}`",
                )
            time.sleep(WAIT_POLL)
        bar.close()
        return WaitOutcome()

    def run_why(self, row: dict[str, Any]) -> str | None:
        if row.get("cluster") not in (None, "local"):
            return None
        return run_reason(row, read_tail(str(row.get("log") or "")))

    def list_logs(self) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
        return [("local", e) for e in list_logs(self._dirs()) if e["exists"]], []

    def show_log(self, log_id: str, follow: bool) -> LogMiss | None:
        dirs = self._dirs()
        found = find_log(log_id, dirs)
        if found is None:
            return LogMiss("this machine")
        print(f"==> {found['path']} (run {found['id']}, {found.get('state')}) <==", file=sys.stderr)
        follow_local(found, dirs, follow)
        return None

    def fetch(self, progress: Any = None) -> dict[str, Any]:
        return {}  # the run records are here already

    def result_dirs(self) -> list[tuple[str, Path, bool]]:
        return [("local", Path(d), False) for d in self._dirs().values()]
