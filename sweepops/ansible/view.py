"""The short view of a playbook run the CLI starts: one line per stage and host, the
summary the playbook says at its end, and the whole Ansible log kept in a file.

A *stage* is a play of the playbook (deploy.yml's "Check the clusters before anything is
made", "Create the experiment's sweeps", "Start the agents", ...): the plays are the steps a
person reads, so the view needs no table of tasks and serves every playbook the same way.
Per host a stage line says whether it went well, how long it took and, for the tasks that
have something to say, what they did (:data:`DETAILS`: sweeps created, files sent, jobs
submitted, agents started). What the playbook's ``debug`` tasks say is the summary, printed
after the stages. A failure shows the failing task's message (the caller adds its hint) and
the path of the full log, never a task banner.

On a terminal the stage lines are live (rich: a spinner and the running task); elsewhere,
or with ``--no-color``, each line is printed once, when its stage ends.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sweepops.ansible.events import TaskEvent, task_event

#: The line that begins each run's part of a log.
RUN_MARK = "#### sweepops: a run begins"


@dataclass
class HostStage:
    """One host's part of one stage."""

    started: float
    ended: float | None = None
    tasks: int = 0  # tasks that ran (not skipped)
    changed: int = 0
    failed: str | None = None  # the failure's message
    unreachable: bool = False
    current: str = ""  # the task running now
    details: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return (self.ended or time.monotonic()) - self.started


@dataclass
class Stage:
    name: str
    hosts: dict[str, HostStage] = field(default_factory=dict)
    done: bool = False


def _size(n: int) -> str:
    """Bytes for a person: ``512 B``, ``1.5 kB``, ``3.2 MB``, ``1.1 GB``."""
    if n < 1000:
        return f"{n} B"
    value = float(n)
    for unit in ("kB", "MB", "GB"):
        value /= 1000
        if value < 1000 or unit == "GB":
            break
    return f"{value:.1f} {unit}"


def _items(res: dict[str, Any]) -> list[dict[str, Any]]:
    """A task's results: its loop items', or its own."""
    loop = res.get("results")
    if isinstance(loop, list):
        return [r for r in loop if isinstance(r, dict)]
    return [res]


def _sweeps(ev: TaskEvent) -> str | None:
    deploy = ev.res.get("deploy") or {}
    sweeps = deploy.get("sweeps") or []
    if not sweeps:
        return None
    backend = deploy.get("backend") or "offline"
    return f"{len(sweeps)} sweep(s), {backend}"


def _synchronize(ev: TaskEvent) -> str | None:
    """Files rsync sent (its itemized lines) and their size on this machine."""
    sent = 0
    size = 0
    items = _items(ev.res)
    for item in items:
        src = str(item.get("invocation", {}).get("module_args", {}).get("src") or "")
        for line in item.get("stdout_lines") or []:
            code, _, name = str(line).removeprefix("<<CHANGED>>").partition(" ")
            if len(code) >= 2 and code[0] in "<>" and code[1] == "f":
                sent += 1
                try:
                    size += os.path.getsize(os.path.join(src, name))
                except OSError:
                    pass
    if sent:
        return f"{sent} file(s) sent ({_size(size)})"
    # The loop syncs only trees the cluster lacks, each into a fresh directory: nothing sent
    # means every file was hard-linked from an earlier snapshot (--link-dest), which rsync
    # neither itemizes nor calls a change.
    return "0 file(s) sent (the rest linked)" if items else None


def _sbatch(ev: TaskEvent) -> str | None:
    jobs = [str(r.get("job_id")) for r in _items(ev.res) if r.get("job_id")]
    return f"job(s) {', '.join(jobs)}" if jobs else None


def _local_agents(ev: TaskEvent) -> str | None:
    agents = [a for r in _items(ev.res) for a in r.get("agents") or []]
    return f"{len(agents)} agent(s) running" if agents else None


def _probe(ev: TaskEvent) -> str | None:
    """Which of the deploy's trees (code snapshot, agent runtime) the cluster has already."""
    trees = ev.res.get("trees") or {}
    there = [kind for kind, tree in trees.items() if isinstance(tree, dict) and tree.get("present")]
    return f"already there: {', '.join(there)}" if there else None


def _runtime(ev: TaskEvent) -> str | None:
    return "agent runtime built" if ev.res.get("changed") else None


#: What a task's result says worth a stage line, by the task's module.
DETAILS: dict[str, Callable[[TaskEvent], str | None]] = {
    "sweepops_sweeps": _sweeps,
    "synchronize": _synchronize,
    "sweepops_sbatch": _sbatch,
    "sweepops_local_agents": _local_agents,
    "sweepops_runtime": _runtime,
    "sweepops_cluster_probe": _probe,
    "sweepops_code_sync": _probe,
}


def _said(ev: TaskEvent) -> list[str]:
    """What a debug task said (its msg, a list of lines, or its loop items' msgs)."""
    out: list[str] = []
    for item in _items(ev.res):
        msg = item.get("msg")
        if isinstance(msg, list):
            out += [str(m) for m in msg]
        elif msg is not None:
            out.append(str(msg))
    return out


class RunView:
    """Fed ansible-runner's events (:meth:`on_event`), keeps the log and the stage lines."""

    def __init__(
        self,
        log_path: Path,
        *,
        stream: IO[str] | None = None,
        live: bool | None = None,
        display: bool = True,
    ) -> None:
        self.stream = stream or sys.stdout
        #: False: only the log is kept (Ansible's own output is shown instead)
        self.display = display
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())
        # each run of a deploy id appends to its log: a line marks where one begins
        self._log.write(f"{RUN_MARK} {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        self.stages: list[Stage] = []
        self.summary: list[str] = []
        self.warnings: list[str] = []
        #: per host, the tasks that changed something (Ansible's recap)
        self.changed: dict[str, int] = {}
        want_live = display and (self.stream.isatty() if live is None else live)
        self._live: Any = None
        if want_live:
            try:
                from rich.console import Console
                from rich.live import Live
            except ImportError:  # pragma: no cover - rich is a dependency
                pass
            else:
                console = Console(file=self.stream)
                self._live = Live(
                    self._render(), console=console, refresh_per_second=8, transient=False
                )
                self._live.start()

    # ------------------------------------------------------------------ events
    def on_event(self, event: dict[str, Any]) -> bool:
        text = event.get("stdout")
        if text:
            self._log.write(str(text) + "\n")
        kind = event.get("event")
        data = event.get("event_data") or {}
        if kind == "playbook_on_play_start":
            self._end_stage()
            self.stages.append(Stage(str(data.get("play") or data.get("name") or "play")))
        elif kind == "runner_on_start" and self.stages and data.get("host"):
            host = self._host(str(data["host"]))
            host.current = str(data.get("task", ""))
        elif kind == "playbook_on_stats":
            self.changed = {str(h): int(n) for h, n in (data.get("changed") or {}).items()}
            for host in data.get("ok") or {}:
                self.changed.setdefault(str(host), 0)
        elif kind == "warning":
            self.warnings.append(" ".join(str(event.get("stdout", "")).split()))
        else:
            got = task_event(event)
            if got is not None:
                self._on_task(got)
        if self._live is not None:
            self._live.update(self._render())
        return True

    def _host(self, name: str) -> HostStage:
        stage = self.stages[-1]
        if name not in stage.hosts:
            stage.hosts[name] = HostStage(started=time.monotonic())
        return stage.hosts[name]

    def _on_task(self, ev: TaskEvent) -> None:
        if not self.stages:
            self.stages.append(Stage("tasks"))
        if ev.kind == "skipped" and ev.host not in self.stages[-1].hosts:
            return
        host = self._host(ev.host)
        host.current = ""
        host.ended = time.monotonic()
        if ev.kind == "skipped":
            return
        host.tasks += 1
        host.changed += bool(ev.res.get("changed"))
        if ev.failed and not ev.ignore_errors:
            host.failed = ev.message or ev.task or "failed"
            host.unreachable = ev.kind == "unreachable"
            return
        if ev.action == "debug":
            self.summary += _said(ev)
            return
        detail = DETAILS.get(ev.action)
        said = detail(ev) if detail else None
        if said and said not in host.details:
            host.details.append(said)

    # ------------------------------------------------------------------ output
    def _line(self, stage: Stage, name: str, host: HostStage) -> str:
        if host.failed is not None:
            mark = "✗"
        elif stage.done or host.ended is not None and not host.current:
            mark = "✓" if stage.done else "…"
        else:
            mark = "…"
        what = "; ".join(host.details)
        if host.failed is not None:
            what = ("unreachable: " if host.unreachable else "") + host.failed
        elif not stage.done and host.current:
            what = f"{what}; {host.current}" if what else host.current
        head = f"{mark} {stage.name} [{name}] {host.seconds:.1f}s"
        return f"{head}: {what}" if what else head

    def _stage_lines(self, stage: Stage) -> list[str]:
        return [
            self._line(stage, name, host)
            for name, host in stage.hosts.items()
            if host.tasks or host.failed is not None or not stage.done
        ]

    def _render(self) -> Any:
        from rich.spinner import Spinner
        from rich.table import Table
        from rich.text import Text

        grid = Table.grid(padding=(0, 1))
        for stage in self.stages:
            for line in self._stage_lines(stage):
                running = not stage.done and line.startswith("…")
                grid.add_row(Spinner("dots") if running else Text(line[0]), Text(line[2:]))
        return grid

    def _end_stage(self) -> None:
        if not self.stages or self.stages[-1].done:
            return
        stage = self.stages[-1]
        stage.done = True
        now = time.monotonic()
        for host in stage.hosts.values():
            host.ended = host.ended or now
            host.current = ""
        if self._live is None and self.display:
            for line in self._stage_lines(stage):
                print(line, file=self.stream, flush=True)

    def recap(self) -> str:
        """``changed: HOST N, ...`` from Ansible's recap (a repeat deploy: all 0)."""
        if not self.changed:
            return ""
        return "changed: " + ", ".join(f"{h} {n}" for h, n in sorted(self.changed.items()))

    def close(self) -> None:
        """End the last stage, stop the live display, say the recap, close the log."""
        self._end_stage()
        if self._live is not None:
            self._live.update(self._render())
            self._live.stop()
            self._live = None
        if self.display and self.changed:
            print(self.recap(), file=self.stream, flush=True)
        self._log.close()

    @property
    def failures(self) -> list[str]:
        """``HOST: message`` of each failed task (what the caller prints, with hints)."""
        return [
            f"{name}: {host.failed}"
            for stage in self.stages
            for name, host in stage.hosts.items()
            if host.failed is not None
        ]


def short_view(
    log: Path,
    *,
    verbose: int = 0,
    no_color: bool = False,
    own_output: bool = False,
    stream: IO[str] | None = None,
) -> RunView:
    """The view a command shows (-v, --no-color, the ``stream``, stdout by default): the
    short one, live on a terminal, plain lines otherwise; with ``verbose`` or ``own_output``
    (--diff) Ansible's own output instead. The whole log is kept in ``log`` either way."""
    stream = stream or sys.stdout
    own = verbose > 0 or own_output
    live = not (own or no_color or not stream.isatty())
    return RunView(log, stream=stream, live=live, display=not own)
