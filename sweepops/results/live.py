"""The dashboard's data: every run of the chosen deploys, kept up to date incrementally.

Per cluster host one long-lived ``ssh`` runs :mod:`sweepops.remote.live_reader` on the login
host (its source, and that of :mod:`sweepops.remote.failures` for the failure reasons, sent
as the first line of stdin: nothing is installed there). Each refresh sends one ``scan``
request and gets back only what changed: new or changed run records, the new bytes of the
wandb files of running runs. The sweeps of this machine are read by the same scanner,
in-process.

What a cluster sent is kept where ``sweepops results`` keeps it
(``.sweepops/cache/HOST/SWEEP/runs/``, with the record's mtime, so rsync does not fetch it
again), so a dashboard started while a cluster is unreachable shows its cached runs, and a
line says since when it could not be reached. Rows, curves, the best run of each subtest
and the varied parameters come from :mod:`sweepops.results.rows`, as in the static report.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweepops.core import paths
from sweepops.records import ledger

#: The remote command: read the program (a JSON string) from stdin's first line, run it.
REMOTE_BOOT = "import sys,json;exec(json.loads(sys.stdin.readline()))"


def program_text() -> str:
    """The reader's program for a login host: live_reader and failures, as modules made
    from their source (standard library only), then ``serve`` on stdin/stdout."""
    from sweepops.remote import failures, live_reader

    sources = {
        "sweepops_failures": Path(failures.__file__).read_text(),
        "sweepops_live_reader": Path(live_reader.__file__).read_text(),
    }
    return (
        "import sys, types\n"
        f"SOURCES = {sources!r}\n"
        "for _name, _src in SOURCES.items():\n"
        "    _mod = types.ModuleType(_name)\n"
        "    sys.modules[_name] = _mod\n"
        "    exec(compile(_src, _name, 'exec'), _mod.__dict__)\n"
        "sys.modules['sweepops_live_reader'].serve(sys.stdin, sys.stdout,"
        " reason=sys.modules['sweepops_failures'].run_reason)\n"
    )


class Unreachable(Exception):
    pass


class Connection:
    """One ``ssh`` to a login host running the reader; requests answered in order."""

    def __init__(self, argv: list[str], python: str = "python3", timeout: float = 60) -> None:
        self.argv = [*argv, f"{python} -u -c '{REMOTE_BOOT}'"]
        self.timeout = timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.lines: queue.Queue[bytes | None] = queue.Queue()
        self.bytes_in = 0
        self.bytes_out = 0
        self.lock = threading.Lock()

    def _start(self) -> None:
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.lines = queue.Queue()
        threading.Thread(target=self._pump, args=(self.proc, self.lines), daemon=True).start()
        self._send(json.dumps(program_text()).encode() + b"\n")

    @staticmethod
    def _pump(proc: subprocess.Popen[bytes], lines: queue.Queue[bytes | None]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    def _send(self, data: bytes) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except OSError:  # ssh ended (could not connect): say what it said
            why = self._why_closed()
            self.proc = None
            raise Unreachable(why) from None
        self.bytes_out += len(data)

    def _why_closed(self) -> str:
        if self.proc is None:
            return "not connected"
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return "no answer"
        err = (self.proc.stderr.read() if self.proc.stderr else b"").decode(errors="replace")
        return err.strip().splitlines()[-1] if err.strip() else f"ssh exited {self.proc.returncode}"

    def request(self, req: dict[str, Any]) -> list[dict[str, Any]]:
        """Send one request; its answers (up to the ``end`` line). Unreachable when the
        connection cannot be made or breaks (the next request connects again)."""
        with self.lock:
            if self.proc is None or self.proc.poll() is not None:
                self._start()
            self._send(json.dumps(req).encode() + b"\n")
            out: list[dict[str, Any]] = []
            deadline = time.monotonic() + self.timeout
            while True:
                try:
                    line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
                except queue.Empty:
                    self.close()
                    raise Unreachable(f"no answer in {self.timeout:.0f}s") from None
                if line is None:
                    why = self._why_closed()
                    self.proc = None
                    raise Unreachable(why)
                self.bytes_in += len(line)
                answer = json.loads(line)
                if answer.get("type") == "end":
                    return out
                out.append(answer)

    def close(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.proc = None


class LocalConnection:
    """The reader for this machine's sweeps, in-process (same scanner, no ssh)."""

    def __init__(self) -> None:
        from sweepops.remote.failures import run_reason
        from sweepops.remote.live_reader import Scanner

        self.scanner = Scanner(run_reason)
        self.bytes_in = self.bytes_out = 0

    def request(self, req: dict[str, Any]) -> list[dict[str, Any]]:
        from sweepops.remote.live_reader import read_log

        if req["op"] == "scan":
            return self.scanner.scan(dict(req["sweeps"]))
        return [read_log(str(req["path"]), int(req.get("offset") or 0))]

    def close(self) -> None:
        pass


@dataclass
class HostState:
    host: str
    sweeps: dict[str, str]  # sweep id -> its directory there
    conn: Any
    reachable: bool | None = None
    error: str | None = None
    since: float | None = None  # unreachable since
    last_ok: float | None = None
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # sweep->run
    why: dict[str, str] = field(default_factory=dict)  # sweep/run -> reason
    wandb: dict[str, Path] = field(default_factory=dict)  # sweep/run -> local copy
    histories: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    refreshes: list[tuple[int, float]] = field(default_factory=list)  # (bytes, seconds)


class Live:
    """The chosen deploys' runs on every host, refreshed by :meth:`refresh`."""

    def __init__(
        self,
        root: Path,
        deploys: list[dict[str, Any]],
        *,
        inventory: list[str] | None = None,
        connect: Any = None,
    ) -> None:
        self.root = root
        self.deploys = deploys
        self.inventory = inventory or []
        self.connect = connect or self._ssh
        self.hosts: dict[str, HostState] = {}
        self.meta: dict[str, dict[str, Any]] = {}  # sweep id -> its sweep.json
        self.deploy_of: dict[str, dict[str, Any]] = {}  # sweep id -> deploy
        self.version = 0
        self.lock = threading.Lock()
        #: wandb-backed sweeps' rows, per deploy (through wandb's API, :meth:`refresh_wandb`)
        self.wandb_rows: dict[str, list[dict[str, Any]]] = {}
        self.wandb_errors: dict[str, dict[str, str | None]] = {}
        for deploy in deploys:
            online = self.online(deploy)
            handoff = set(deploy.get("handoff") or {})
            for sweep in deploy["sweeps"]:
                self.meta[sweep["id"]] = dict(sweep.get("meta") or {})
                self.deploy_of[sweep["id"]] = deploy
            local = {
                s["id"]: str(s["dir"])
                for s in deploy["sweeps"]
                if s.get("dir") and s["id"] not in online  # its runs are on the server
            }
            if local:
                self._host("local", local, LocalConnection)
            for host, info in ledger.submissions(root, deploy["deploy_id"]).items():
                where = {
                    s["id"]: str(paths.lab_sweep(info["lab_root"], s["id"]))
                    for s in deploy["sweeps"]
                    if (s["id"] in (info.get("jobs") or {}) or not info.get("jobs"))
                    and (s["id"] not in online or host in handoff)
                }
                self._host(host, where, lambda h=host, i=info: self.connect(h, i))
        for state in self.hosts.values():
            if state.host != "local":
                self._load_cache(state)

    @staticmethod
    def online(deploy: dict[str, Any]) -> set[str]:
        """The ids of the deploy's wandb-backed sweeps."""
        from sweepops.results.wandb_rows import wandb_sweeps

        return {str(s["id"]) for s in wandb_sweeps(deploy)}

    def refresh_wandb(self) -> None:
        """The wandb-backed sweeps' runs through wandb's API (incremental: only runs whose
        heartbeat is newer than the cached ones; the cache when a server cannot be asked)."""
        from sweepops.results.wandb_rows import gather_wandb

        for deploy in self.deploys:
            if not self.online(deploy):
                continue
            rows, answers = gather_wandb(self.root, deploy, history=True)
            with self.lock:
                self.wandb_rows[deploy["deploy_id"]] = rows
                self.wandb_errors[deploy["deploy_id"]] = {u: a.error for u, a in answers.items()}
                self.version += 1

    def _host(self, host: str, sweeps: dict[str, str], make: Any) -> None:
        state = self.hosts.get(host)
        if state is None:
            self.hosts[host] = HostState(host, dict(sweeps), make())
        else:
            state.sweeps.update(sweeps)

    def _ssh(self, host: str, info: dict[str, Any]) -> Any:
        from sweepops.ops.ssh_access import config_ssh_args, host_vars, ssh_argv

        recorded = [s for s in info.get("inventory_sources") or [] if Path(s).exists()]
        sources = [*self.inventory, *(s for s in recorded if s not in self.inventory)]
        try:
            hostvars = host_vars(self.root, host, sources)
        except Exception:  # the inventory is gone: the recorded login, as the deploy saw it
            hostvars = {"ansible_host": info.get("login"), "ansible_user": info.get("user")}
            if info.get("port"):
                hostvars["ansible_port"] = info["port"]
        python = str(hostvars.get("ansible_python_interpreter") or "python3")
        if "{" in python or "auto" in python:
            python = "python3"
        argv = ssh_argv(
            hostvars, str(info.get("login") or host), cfg_args=config_ssh_args(self.root)
        )
        return Connection(argv, python=python)

    # ------------------------------------------------------------------ the cache
    def _cache(self, host: str, sweep_id: str) -> Path:
        return paths.cache_dir(self.root) / host / sweep_id

    def _load_cache(self, state: HostState) -> None:
        """What earlier fetches or dashboards kept of a cluster's runs."""
        for sweep_id in state.sweeps:
            runs = self._cache(state.host, sweep_id) / "runs"
            for path in sorted(runs.glob("*.json")) if runs.is_dir() else []:
                try:
                    rec = json.loads(path.read_text())
                except (OSError, ValueError):
                    continue
                state.records.setdefault(sweep_id, {})[str(rec.get("id"))] = rec

    def _keep(self, host: str, answer: dict[str, Any]) -> None:
        """A record a cluster sent, into the cache (with its mtime, as rsync would)."""
        folder = self._cache(host, str(answer["sweep"]))
        (folder / "runs").mkdir(parents=True, exist_ok=True)
        meta = folder / "sweep.json"
        if not meta.exists() and self.meta.get(str(answer["sweep"])):
            meta.write_text(json.dumps(self.meta[str(answer["sweep"])], indent=1, sort_keys=True))
        path = folder / "runs" / str(answer["name"])
        tmp = path.with_name(f".{path.name}.dash")
        tmp.write_text(json.dumps(answer["record"], indent=1, sort_keys=True))
        os.utime(tmp, (answer["mtime"], answer["mtime"]))
        os.replace(tmp, path)

    # ------------------------------------------------------------------ refreshing
    def refresh(self) -> dict[str, tuple[int, float]]:
        """One refresh of every host: (bytes received, seconds) per host."""
        out = {}
        for state in list(self.hosts.values()):
            out[state.host] = self.refresh_host(state)
        return out

    def refresh_host(self, state: HostState) -> tuple[int, float]:
        start = time.monotonic()
        before = state.conn.bytes_in
        try:
            answers = state.conn.request({"op": "scan", "sweeps": state.sweeps})
        except (Unreachable, OSError) as exc:
            with self.lock:
                if state.reachable is not False:
                    state.since = time.time()
                state.reachable, state.error = False, str(exc)
                self.version += 1
            return 0, time.monotonic() - start
        with self.lock:
            changed = {self._apply(state, a) for a in answers}
            for key in changed - {None}:
                self._reparse(state, str(key))
            state.reachable, state.error, state.last_ok = True, None, time.time()
            if answers:
                self.version += 1
        cost = (state.conn.bytes_in - before, time.monotonic() - start)
        state.refreshes.append(cost)
        return cost

    def _apply(self, state: HostState, answer: dict[str, Any]) -> str | None:
        sweep = str(answer.get("sweep"))
        if answer.get("type") == "record":
            rec = answer["record"]
            key = f"{sweep}/{rec.get('id')}"
            state.records.setdefault(sweep, {})[str(rec.get("id"))] = rec
            if answer.get("why"):
                state.why[key] = str(answer["why"])
            if rec.get("state") != "running":
                state.histories.pop(key, None)
            if state.host != "local":
                self._keep(state.host, answer)
            return None
        if answer.get("type") == "wandb":
            key = f"{sweep}/{answer['run']}"
            local = state.wandb.get(key)
            if local is None:
                local = paths.cache_dir(self.root) / "live" / state.host / sweep
                local.mkdir(parents=True, exist_ok=True)
                local = local / f"run-{answer['run']}.wandb"
                state.wandb[key] = local
            data = base64.b64decode(answer["data"])
            with open(local, "r+b" if local.exists() else "wb") as fh:
                fh.seek(int(answer["offset"]))
                fh.write(data)
            return key
        return None

    def _reparse(self, state: HostState, key: str) -> None:
        """The history of a running run, from the wandb bytes received so far."""
        from sweepops.runtime.wandbfile import read_run_file

        try:
            runlog = read_run_file(state.wandb[key])
        except Exception:  # noqa: BLE001 - a file cut mid-write: the next bytes complete it
            return
        state.histories[key] = list(runlog.history)

    def log(self, host: str, path: str, offset: int) -> dict[str, Any]:
        """New bytes of a run's log, over the host's connection."""
        state = self.hosts[host]
        try:
            (answer,) = state.conn.request({"op": "log", "path": path, "offset": offset})
        except (Unreachable, OSError, ValueError) as exc:
            return {"error": f"{host} unreachable: {exc}", "data": "", "offset": offset}
        return answer

    def close(self) -> None:
        for state in self.hosts.values():
            state.conn.close()

    # ------------------------------------------------------------------ the view
    def snapshot(self) -> dict[str, Any]:
        """Everything the page shows, as plain data."""
        with self.lock:
            return {
                "version": self.version,
                "time": time.time(),
                "experiments": [self._deploy_view(d) for d in self.deploys],
            }

    def _deploy_view(self, deploy: dict[str, Any]) -> dict[str, Any]:
        from sweepops.results.rows import best_rows, finish_rows, varied_params

        rows: list[dict[str, Any]] = []
        sweeps: list[dict[str, Any]] = []
        hosts: dict[str, dict[str, Any]] = {}
        metric = self._offline_part(deploy, rows, sweeps, hosts)
        metric = self._wandb_part(deploy, rows, sweeps, hosts) or metric
        finish_rows(rows, metric)
        name = str(metric["name"]) if metric else ""
        return {
            "experiment": deploy["experiment"],
            "deploy_id": deploy["deploy_id"],
            "metric": metric,
            "hosts": hosts,
            "sweeps": sweeps,
            "runs": [run_view(row, name) for row in rows],
            "varied": varied_params(rows) if rows else [],
            "best": [
                {
                    "subtest": r["subtest"] or "all runs",
                    "key": r["key"],
                    "run_id": r["run_id"],
                    "metric": r.get("metric"),
                    "params": r["params"],
                    "host": r["cluster"],
                }
                for r in best_rows(rows)
            ],
        }

    def _offline_part(
        self,
        deploy: dict[str, Any],
        rows: list[dict[str, Any]],
        sweeps: list[dict[str, Any]],
        hosts: dict[str, dict[str, Any]],
    ) -> dict[str, Any] | None:
        """Rows and progress of the offline sweeps, per host (into the lists); the metric."""
        from sweepops.results.rows import row_of
        from sweepops.runtime.offline_sweep import parse_shard, progress_of

        metric: dict[str, Any] | None = None
        submitted = ledger.submissions(self.root, deploy["deploy_id"])
        for state in self.hosts.values():
            mine = [s for s in deploy["sweeps"] if s["id"] in state.sweeps]
            if mine:
                hosts[state.host] = self._host_line(state)
            for sweep in mine:
                meta = self.meta[sweep["id"]]
                sweep_metric = (meta.get("config") or {}).get("metric")
                metric = metric or sweep_metric
                keys = (str(sweep_metric["name"]),) if sweep_metric else ()
                states: dict[str, int] = {}
                failed = []
                for run_id, rec in sorted((state.records.get(sweep["id"]) or {}).items()):
                    key = f"{sweep['id']}/{run_id}"
                    live = state.histories.get(key)
                    row = row_of(meta, {**rec, "history": live or rec.get("history")}, history=keys)
                    row.update(cluster=state.host, key=f"{state.host}|{key}")
                    states[row["state"]] = states.get(row["state"], 0) + 1
                    if key in state.why:
                        row["why"] = state.why[key]
                        failed.append({"run": run_id, "why": state.why[key]})
                    rows.append(row)
                shard = (submitted.get(state.host) or {}).get("shard")
                counts = progress_of(
                    meta.get("config") or {}, states, parse_shard(shard) if shard else None
                )
                sweeps.append(_sweep_view(sweep, state.host, counts, failed))
        return metric

    def _wandb_part(
        self,
        deploy: dict[str, Any],
        rows: list[dict[str, Any]],
        sweeps: list[dict[str, Any]],
        hosts: dict[str, dict[str, Any]],
    ) -> dict[str, Any] | None:
        """Rows and progress of the wandb-backed sweeps (as wandb's API last answered)."""
        from sweepops.runtime.offline_sweep import progress_of

        metric: dict[str, Any] | None = None
        for url, error in (self.wandb_errors.get(deploy["deploy_id"]) or {}).items():
            why = f"wandb {url}: could not ask ({error}); showing cached runs" if error else ""
            hosts[f"wandb {url}"] = {"reachable": not error, "note": why, "last_ok": None}
        online = self.online(deploy)
        for sweep in (s for s in deploy["sweeps"] if s["id"] in online):
            config = (sweep.get("meta") or {}).get("config") or {}
            metric = metric or config.get("metric")
            states: dict[str, int] = {}
            failed = []
            for row in self.wandb_rows.get(deploy["deploy_id"]) or []:
                if row.get("sweep_id") != sweep["id"]:
                    continue
                row = dict(row, cluster="wandb", key=f"wandb|{sweep['id']}/{row['run_id']}")
                state = _WANDB_FAILED.get(row["state"], row["state"])
                states[state] = states.get(state, 0) + 1
                if state == "failed":
                    row["why"] = str(row["state"])
                    failed.append({"run": row["run_id"], "why": row["why"]})
                rows.append(row)
            sweeps.append(_sweep_view(sweep, "wandb", progress_of(config, states), failed))
        return metric

    @staticmethod
    def _host_line(state: HostState) -> dict[str, Any]:
        if state.reachable is False:
            when = time.strftime("%H:%M:%S", time.localtime(state.since or time.time()))
            note = f"{state.host} unreachable since {when} ({state.error}); showing cached data"
        elif state.reachable is None:
            note = f"{state.host}: connecting…"
        else:
            note = ""
        return {"reachable": state.reachable, "note": note, "last_ok": state.last_ok}


#: wandb's run states that count as failed (as ``sweepops status`` counts them).
_WANDB_FAILED = {"crashed": "failed", "killed": "failed"}


def _sweep_view(
    sweep: dict[str, Any], host: str, counts: dict[str, Any], failed: list[dict[str, str]]
) -> dict[str, Any]:
    return {
        "name": sweep["name"],
        "id": sweep["id"],
        "host": host,
        "counts": counts,
        "failed": failed,
    }


def run_view(row: dict[str, Any], metric_name: str) -> dict[str, Any]:
    """What the page shows of one run: its row and its learning curve (rows.curve, the same
    points the static report draws)."""
    from sweepops.results.rows import curve

    xs, ys = curve(row, metric_name) if metric_name else ([], [])
    return {
        "key": row["key"],
        "host": row["cluster"],
        "sweep": row["sweep"],
        "run_id": row["run_id"],
        "state": row["state"],
        "subtest": row["subtest"],
        "params": row["params"],
        "metric": row.get("metric"),
        "best": row["best"],
        "why": row.get("why"),
        "log": row.get("log"),
        "curve": [xs, ys],
    }
