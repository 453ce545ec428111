"""``sweepops agent``: runs the runs of an offline sweep, the way ``wandb agent`` does.

Same command macros, same child environment (WANDB_SWEEP_ID, WANDB_RUN_ID,
WANDB_SWEEP_PARAM_PATH, WANDB_DIR, ...) with WANDB_MODE=offline, so an unchanged wandb program
works. What it does differently, on purpose:

- it exits when the sweep has nothing left; while runs still run elsewhere, one agent of the
  sweep (the one holding ``agents/watch.lock``) stays and re-runs any whose lease lapses, so
  an agent killed near the end of a sweep does not strand its run;
- its exit status tells the truth: 0 only if every run it ran succeeded;
- after ``max_consecutive_failures`` failed runs in a row it stops with EXIT_FLAPPING;
- SIGTERM/SIGINT/SIGUSR1 (Slurm preemption, scancel, Ctrl-C) are forwarded to the run's process
  group and the interrupted run goes back into the queue;
- a heartbeat lease lets other agents re-run a run whose agent died (kill -9, node loss);
- SIGUSR1 is the job's time-limit warning: the run is resumed in the requeued job, at most
  ``max_resumes`` times, then it ends failed with a TIMEOUT reason;
- on a Slurm node the sweep excluded (:mod:`sweepops.remote.bad_nodes`) it stops claiming.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import functools
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from sweepops.remote import bad_nodes
from sweepops.runtime import wandbfile
from sweepops.runtime.command import build_command, macro_values, needs_args_json_file
from sweepops.runtime.offline_sweep import (
    DEFAULT_LEASE_SECONDS,
    FAILED,
    FINISHED,
    PREEMPTED,
    STOPPED,
    Claim,
    DiskFull,
    OfflineSweep,
    agent_identity,
    run_dir,
    write_params_file,
)

EXIT_OK = 0
EXIT_RUNS_FAILED = 1
EXIT_USAGE = 2
EXIT_FLAPPING = 3
EXIT_DISK_FULL = 4
#: Bytes each agent keeps in reserve (``agents/.reserve-*``) on the sweep's disk: given back
#: when the disk is full, so that the run that just ended can still be recorded.
RESERVE_BYTES = 256 * 1024
INTERRUPT_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Child side: get SIGKILL if the agent dies (kill -9), so no orphan keeps the GPU."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


@functools.cache
def _setpriv() -> str | None:
    """util-linux's ``setpriv`` when it has ``--pdeathsig`` (2.33 and newer), else None."""
    path = shutil.which("setpriv")
    if path is None:
        return None
    try:
        proc = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return path if "--pdeathsig" in proc.stdout else None


def spawn_argv(argv: list[str], path: str | None) -> tuple[list[str], Any]:
    """How to start ``argv`` so it gets SIGKILL if the agent dies: ``(argv, preexec_fn)``.

    With ``setpriv --pdeathsig KILL`` (which then execs the program, same pid) there is no
    Python to run between fork and exec, so the agent starts each run with vfork rather than
    fork: a copy of a large agent process costs milliseconds per run on a busy node. Without
    it (or when ``argv[0]`` is not found on ``path``: the error stays the OSError it was),
    :func:`_die_with_parent` runs in the child instead."""
    setpriv = _setpriv()
    if setpriv and argv and shutil.which(argv[0], path=path):
        return [setpriv, "--pdeathsig", "KILL", "--", *argv], None
    return argv, _die_with_parent


@dataclass
class AgentOptions:
    code_dir: Path = field(default_factory=Path.cwd)
    count: int | None = None
    max_consecutive_failures: int = 3
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    kill_delay: float = 15.0
    interpreter: str = "python"
    wandb_mode: str = "offline"
    env: dict[str, str] = field(default_factory=dict)
    poll_seconds: float = 5.0  # how often early_terminate is checked
    #: A run cut at the job's time limit (SIGUSR1, the batch script's --signal) is resumed at
    #: most this many times; the next cut ends it failed (TIMEOUT), `retry -e time=` reruns it.
    max_resumes: int = 3
    #: Nodes Slurm ended this job on with NODE_FAIL (the batch script asks sacct on a
    #: restart): excluded from the sweep before the first claim.
    failed_nodes: tuple[str, ...] = ()
    job: str = ""  # the Slurm job those failures are of, for the reason


@dataclass
class AgentReport:
    finished: int = 0
    failed: int = 0
    stopped: int = 0
    interrupted_by: int | None = None
    gave_up: bool = False
    disk_full: str | None = None
    excluded: str | None = None  # the node this agent stopped on: excluded from the sweep

    @property
    def exit_code(self) -> int:
        if self.interrupted_by is not None:
            return 128 + self.interrupted_by
        if self.disk_full is not None:
            return EXIT_DISK_FULL
        if self.gave_up:
            return EXIT_FLAPPING
        return EXIT_RUNS_FAILED if self.failed else EXIT_OK


class Agent:
    def __init__(self, sweep: OfflineSweep, options: AgentOptions, out: TextIO = sys.stdout):
        self.sweep = sweep
        self.opts = options
        self.out = out
        self.identity = agent_identity()
        self.report = AgentReport()
        self._signal: int | None = None
        self._child: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ output
    def say(self, text: str) -> None:
        print(f"[sweepops agent {self.sweep.id}] {text}", file=self.out, flush=True)

    # ------------------------------------------------------------------ signals
    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._signal = signum
        with self._lock:
            child = self._child
        if child is not None and child.poll() is None:
            _signal_group(child, signal.SIGTERM)

    def _install_signal_handlers(self) -> dict[int, Any]:
        previous: dict[int, Any] = {}
        for sig in INTERRUPT_SIGNALS:
            previous[sig] = signal.signal(sig, self._on_signal)
        return previous

    # ------------------------------------------------------------------ main loop
    def run(self) -> AgentReport:
        previous = self._install_signal_handlers()
        try:
            self._reserve = Reserve(self.sweep.path / "agents", self.identity["tag"])
            if self.opts.failed_nodes:
                job = f" {self.opts.job}" if self.opts.job else ""
                why = f"NODE_FAIL: Slurm ended job{job} there"
                for node in self.sweep.exclude_nodes(list(self.opts.failed_nodes), why):
                    self.say(f"node {node} excluded from the sweep ({why})")
            self._loop()
        except DiskFull as exc:
            self.report.disk_full = exc.message
            self.say(f"{exc.message}; stopping this agent ({exc.hint})")
        except OSError as exc:  # the log, the params file: the same full disk
            where = exc.filename or self.sweep.path
            full = DiskFull.of(exc, f"disk full: cannot write {where} ({exc.strerror})")
            if full is None:
                raise
            self.report.disk_full = full.message
            self.say(f"{full.message}; stopping this agent ({full.hint})")
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._release_watch()
            if self._reserve is not None:
                self._reserve.release()
        if self._signal is not None:
            self.report.interrupted_by = self._signal
            self.say(f"interrupted by {signal.Signals(self._signal).name}; run requeued")
        self.say(
            f"done: {self.report.finished} finished, {self.report.failed} failed, "
            f"{self.report.stopped} stopped early; exit {self.report.exit_code}"
        )
        return self.report

    # ------------------------------------------------------------------ end of the sweep
    _watch: Any = None
    _reserve: Reserve | None = None

    def _take_watch(self) -> bool:
        """Become the sweep's watcher (``agents/watch.lock``, a POSIX lock: one per sweep,
        released when this agent ends however it ends); True if it is this agent."""
        if self._watch is not None:
            return True
        fh = open(self.sweep.path / "agents" / "watch.lock", "a+")  # noqa: SIM115 - held
        try:
            fcntl.lockf(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            return False
        self._watch = fh
        return True

    def _release_watch(self) -> None:
        if self._watch is not None:
            self._watch.close()  # closing drops the lock
            self._watch = None

    def _wait_for_leases(self, wait: float, backoff: float) -> bool:
        """Nothing to hand out, but runs still run elsewhere: one agent stays to re-run any
        whose agent dies (its lease lapses). True to claim again, False to exit."""
        if not self._take_watch():
            self.say(
                "sweep has nothing left to hand out; another agent watches the runs "
                "still running; exiting"
            )
            return False
        if not self._watching:
            self.say(
                "sweep has nothing left to hand out, but runs still run elsewhere: waiting "
                "until they end, to re-run any whose agent dies (its lease lapses)"
            )
            self._watching = True
        deadline = time.monotonic() + min(wait + 0.2, backoff)
        while self._signal is None and time.monotonic() < deadline:
            time.sleep(0.1)
        return self._signal is None

    _watching = False

    def _loop(self) -> None:
        consecutive_failures = 0
        done = 0
        backoff = 1.0
        said: set[str] = set()
        while self._signal is None:
            if self.opts.count is not None and done >= self.opts.count:
                self.say(f"ran --count {self.opts.count} runs; exiting")
                break
            claim = self.sweep.claim(self.identity, lease_seconds=self.opts.lease_seconds)
            for note in self.sweep.notes:
                if note not in said:
                    said.add(note)
                    self.say(note)
            if claim is None and self.sweep.excluded_here is not None:
                node, why = self.sweep.excluded_here
                self.report.excluded = node
                self.say(
                    f"node {node} is excluded from this sweep ({why}); this agent stops "
                    "claiming, the sweep's other agents go on"
                )
                break
            if claim is None:
                wait = self.sweep.lease_wait
                if wait is None or self.sweep.cancelled:
                    self.say("sweep has nothing left to run; exiting")
                    break
                if not self._wait_for_leases(wait, backoff):
                    break
                backoff = min(backoff * 2, max(1.0, self.opts.lease_seconds / 2))
                continue
            backoff = 1.0
            self._watching = False
            self._release_watch()
            state = self._run_one(claim)
            done += 1
            if state == FAILED and self._node_excluded():
                continue  # the next claim says so and stops this agent
            if state == FAILED:
                consecutive_failures += 1
                if consecutive_failures >= self.opts.max_consecutive_failures:
                    self.report.gave_up = True
                    self.say(
                        f"{consecutive_failures} runs failed in a row; stopping this agent "
                        "(see the run logs above; --max-consecutive-failures allows more)"
                    )
                    break
            elif state != PREEMPTED:
                consecutive_failures = 0

    def _node_excluded(self) -> bool:
        node = bad_nodes.node_of(self.identity)
        return node is not None and node in bad_nodes.excluded(self.sweep.path)

    # ------------------------------------------------------------------ one run
    def _child_env(self, claim: Claim, params_path: Path) -> dict[str, str]:
        meta = self.sweep.meta
        env = dict(os.environ)
        env.update(self.opts.env)
        env.update(
            WANDB_SWEEP_ID=self.sweep.id,
            WANDB_RUN_ID=claim.run_id,
            WANDB_SWEEP_PARAM_PATH=str(params_path),
            WANDB_DIR=str(self.sweep.path),
            WANDB_MODE=self.opts.wandb_mode,
            SWEEPOPS_SWEEP_DIR=str(self.sweep.path),
            SWEEPOPS_ATTEMPT=str(claim.attempt),
            SWEEPOPS_RUN_DIR=str(run_dir(self.sweep.path, claim.run_id)),
            # every attempt of a run is the same wandb run: a resumed one continues it
            WANDB_RESUME=os.environ.get("WANDB_RESUME") or "allow",
        )
        # Run metadata decided at sweep creation (project, tags, group, commit, ...).
        for key, value in (meta.get("run_env") or {}).items():
            env.setdefault(key, str(value))
        return env

    def _run_one(self, claim: Claim) -> str:
        config = self.sweep.config
        run_dir(self.sweep.path, claim.run_id).mkdir(parents=True, exist_ok=True)
        params_path = self.sweep.path / "params" / f"{claim.run_id}.yaml"
        write_params_file(params_path, claim.params)
        json_path = self.sweep.path / "params" / f"{claim.run_id}.json"
        argv = build_command(
            config.get("command"),
            program=config.get("program"),
            params=claim.params,
            args_json_file=str(json_path),
            interpreter=self.opts.interpreter,
        )
        if needs_args_json_file(config.get("command")):
            # The same JSON that ${args_json} expands to, as wandb agent writes it.
            json_path.write_text(macro_values(claim.params)["args_json"][0])
        shown = " ".join(f"{k}={v['value']}" for k, v in claim.params.items())
        self.say(f"run {claim.run_id} attempt {claim.attempt}: {shown}")
        log_path = self.sweep.path / "logs" / f"{claim.run_id}.log"
        cwd = run_workdir(self.opts.code_dir, self.sweep.meta)
        started = time.time()
        with open(log_path, "ab") as log:
            log.write(f"# attempt {claim.attempt} on {self.identity['host']}: {argv}\n".encode())
            log.flush()
            try:
                env = self._child_env(claim, params_path)
                spawned, preexec = spawn_argv(argv, env.get("PATH"))
                child = subprocess.Popen(
                    spawned,
                    cwd=cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=preexec,
                )
            except OSError as exc:
                log.write(f"# could not start: {exc}\n".encode())
                self.sweep.finish(claim, state=FAILED, exit_code=127, extra={"error": str(exc)})
                self.report.failed += 1
                self.say(f"run {claim.run_id} could not start: {exc}")
                return FAILED
            with self._lock:
                self._child = child
            if self._signal is not None:  # a signal landed between claim and start
                _signal_group(child, signal.SIGTERM)
            stop_requested = self._supervise(claim, child)
            with self._lock:
                self._child = None
        exit_code = child.returncode
        runlog = _read_runlog(self.sweep.path, claim.run_id)
        summary = runlog.summary if runlog else {}
        extra: dict[str, Any] = {"log": str(log_path), "host": self.identity["host"]}
        extra.update(argv=argv, cwd=str(cwd))  # what ran, and where
        if runlog is not None:
            extra["wandb_exit_code"] = runlog.exit_code
            extra["history"] = _thin(runlog.history)
        if self._signal is not None and not stop_requested:
            state = PREEMPTED
            if self._signal == signal.SIGUSR1:  # the job's time limit is near (--signal)
                state = self._time_limit_cut(claim, extra)
        elif stop_requested:
            state = STOPPED
        elif exit_code == 0:
            state = FINISHED
        else:
            state = FAILED
        try:
            self.sweep.finish(claim, state=state, exit_code=exit_code, summary=summary, extra=extra)
        except DiskFull as full:
            # Give back this agent's reserve so that the run that just ended is recorded,
            # then stop: the next run could not be recorded either.
            if self._reserve is None or not self._reserve.release():
                raise DiskFull(
                    f"{full.message}; run {claim.run_id} ended ({state}) but is not recorded: "
                    "it stays running until its lease lapses, then it is run again",
                    hint=full.hint,
                ) from None
            self.sweep.finish(claim, state=state, exit_code=exit_code, summary=summary, extra=extra)
            self._count(state, claim, exit_code, started, summary, log_path)
            raise DiskFull(
                f"{full.message} (run {claim.run_id} was recorded, {state}, in this agent's "
                "reserve)",
                hint=full.hint,
            ) from None
        self._count(state, claim, exit_code, started, summary, log_path)
        return state

    def _time_limit_cut(self, claim: Claim, extra: dict[str, Any]) -> str:
        """A run cut at the time limit: PREEMPTED (resumed in the requeued job) until it was
        cut ``max_resumes`` times, then FAILED with the TIMEOUT reason."""
        cuts = int(claim.record.get("time_limit_cuts") or 0) + 1
        extra["time_limit_cuts"] = cuts
        if cuts <= self.opts.max_resumes:
            return PREEMPTED
        extra["error"] = (
            f"TIMEOUT: cut at the job's time limit {cuts} times (resumed {cuts - 1}, "
            f"max_resumes {self.opts.max_resumes}): give it more time, "
            "`sweepops retry EXP --failed -e time=...`"
        )
        return FAILED

    def _count(
        self,
        state: str,
        claim: Claim,
        exit_code: int | None,
        started: float,
        summary: dict[str, Any],
        log_path: Path,
    ) -> None:
        config = self.sweep.config
        elapsed = time.time() - started
        metric = (config.get("metric") or {}).get("name")
        shown_metric = f" {metric}={summary.get(metric)}" if metric and metric in summary else ""
        self.say(f"run {claim.run_id} {state} (exit {exit_code}) in {elapsed:.1f}s{shown_metric}")
        if state == FAILED:
            self.report.failed += 1
            self.say(f"last lines of {log_path}:\n{_tail(log_path)}")
        elif state == STOPPED:
            self.report.stopped += 1
        elif state == FINISHED:
            self.report.finished += 1

    def _supervise(self, claim: Claim, child: subprocess.Popen[bytes]) -> bool:
        """Wait for the child; returns True if early_terminate stopped it.

        The main thread blocks in waitpid (so the run's end is seen at once, and signal
        handlers still run); a watchdog thread renews the lease, asks early_terminate, and
        escalates SIGTERM to SIGKILL after the kill delay.
        """
        done = threading.Event()
        stop_requested = threading.Event()
        watchdog = threading.Thread(
            target=self._watchdog, args=(claim, child, done, stop_requested), daemon=True
        )
        watchdog.start()
        try:
            child.wait()
        finally:
            done.set()
            watchdog.join()
        return stop_requested.is_set()

    def _watchdog(
        self,
        claim: Claim,
        child: subprocess.Popen[bytes],
        done: threading.Event,
        stop_requested: threading.Event,
    ) -> None:
        beat_every = max(0.2, self.opts.lease_seconds / 4)
        early_terminate = bool(self.sweep.config.get("early_terminate"))
        next_beat = time.monotonic() + beat_every
        next_poll = time.monotonic() + self.opts.poll_seconds
        term_sent_at: float | None = None
        while not done.wait(0.1):
            now = time.monotonic()
            if now >= next_beat:
                self.sweep.beat(claim.run_id)
                next_beat = now + beat_every
            if early_terminate and not stop_requested.is_set() and now >= next_poll:
                next_poll = now + self.opts.poll_seconds
                if self._early_terminate_check(claim):
                    stop_requested.set()
                    self.say(f"run {claim.run_id}: early_terminate says stop")
                    _signal_group(child, signal.SIGTERM)
            if (self._signal is not None or stop_requested.is_set()) and term_sent_at is None:
                term_sent_at = now
            if term_sent_at is not None and now - term_sent_at > self.opts.kill_delay:
                _signal_group(child, signal.SIGKILL)

    def _early_terminate_check(self, claim: Claim) -> bool:
        runlog = _read_runlog(self.sweep.path, claim.run_id)
        if runlog is None or not runlog.history:
            return False
        if not self.sweep.update_running(claim, history=_thin(runlog.history)):
            return False
        return self.sweep.should_stop(claim.run_id)


def run_workdir(code_dir: Path, meta: dict[str, Any]) -> Path:
    """Where a sweep's runs start: its ``workdir`` (sweepops.experiment.program) inside the code."""
    return Path(code_dir) / str(meta.get("workdir") or "")


class Reserve:
    """A few hundred KiB this agent holds on the sweep's disk (``agents/.reserve-TAG``,
    POSIX-locked while the agent lives) and gives back when the disk is full. Reserves of
    agents that died (their lock is free) are removed by the next agent that starts."""

    def __init__(self, agents_dir: Path, tag: str, size: int = RESERVE_BYTES):
        self.path = agents_dir / f".reserve-{tag}"
        for stale in agents_dir.glob(".reserve-*"):
            _remove_if_unlocked(stale)
        self._fh: Any = None
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            self._fh = os.fdopen(fd, "r+b")
            fcntl.lockf(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.posix_fallocate(fd, 0, size)
        except OSError as exc:
            self.release()
            full = DiskFull.of(
                exc,
                f"disk full: no room for a run's record in {agents_dir.parent} ({exc.strerror})",
            )
            if full is not None:
                raise full from None
            raise

    def release(self) -> bool:
        """Give the space back; True if there was any to give."""
        if self._fh is None:
            return False
        with contextlib.suppress(OSError):
            self.path.unlink()
        self._fh.close()
        self._fh = None
        return True


def _remove_if_unlocked(path: Path) -> None:
    try:
        with open(path, "r+b") as fh:
            try:
                fcntl.lockf(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return  # its agent is alive
            path.unlink()
    except OSError:
        pass


def _signal_group(child: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(child.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _read_runlog(sweep_dir: Path, run_id: str) -> wandbfile.RunLog | None:
    try:
        return wandbfile.read_run(sweep_dir, run_id)
    except (OSError, ValueError):
        return None


def _thin(history: list[dict[str, Any]], keep: int = 500) -> list[dict[str, Any]]:
    """At most ``keep`` history rows, evenly spaced, always with the last one."""
    if len(history) <= keep:
        return history
    step = len(history) / keep
    picked = [history[int(i * step)] for i in range(keep - 1)]
    return picked + [history[-1]]


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "  (no log)"
    return "\n".join("  | " + line for line in text[-lines:])
