"""A protocol-level double of wandb's server for tests.

The real wandb SDK (its ``wandb-core`` binary), ``wandb agent``, ``wandb sync`` and the public
API talk to it through ``WANDB_BASE_URL``: GraphQL on ``POST /graphql`` answered by operation
name, run file uploads on ``PUT /storage/...``, and ``POST /files/E/P/RUN/file_stream``. It keeps
entities' sweeps, agents and runs in memory and hands out sweep runs with wandb's own engine
(``sweeps.next_run``). Operations it does not know are logged and answered with a GraphQL error.

    with WandbDouble() as w:
        env = w.env()                       # WANDB_BASE_URL, WANDB_API_KEY, ...
        ...                                 # run the SDK / CLI with env
        w.requests                          # operation names seen, in order
        w.sweeps[sweep_id].config
        w.handed_out(sweep_id)              # {run id: {"lr": 0.1}}
        w.runs[run_id].summary
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import yaml

from . import filters
from .state import Agent, Call, Run, Sweep, new_id, now

log = logging.getLogger("wandb_double")

API_KEY_RE = re.compile(r"^([\w-]+-)?[\w-]{40,}$")
_OP_RE = re.compile(r"\b(query|mutation|subscription)\s+([A-Za-z_]\w*)")
# run states as wandb's sweep engine names them
_ENGINE_STATES = {"pending", "running", "finished", "killed", "crashed", "failed", "preempted"}


class GraphQLError(Exception):
    """Answered as ``{"errors": [{"message": ...}], "data": null}`` with an HTTP status."""

    def __init__(self, message: str, status: int = 200) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def operation_name(body: dict[str, Any]) -> str | None:
    """The operation a GraphQL request names: ``operationName`` or the first
    ``query|mutation NAME`` in its text."""
    name = body.get("operationName")
    if name:
        return str(name)
    match = _OP_RE.search(str(body.get("query") or ""))
    return match.group(2) if match else None


class WandbDouble:
    """An in-memory wandb server on ``host`` (and ``extra_hosts``, same port), for tests."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        extra_hosts: Iterable[str] = (),
        api_key: str | None = None,
        entity: str = "sweepops-test",
        teams: Iterable[str] = ("sweepops-team",),
        deny: Iterable[str] = (),
        reject_invalid_config: bool = True,
    ) -> None:
        self.api_key = api_key or "local-" + secrets.token_hex(20)
        if not API_KEY_RE.match(self.api_key):
            raise ValueError("the API key must be 40+ characters of [A-Za-z0-9_-]")
        self.entity = entity
        self.teams = list(teams)
        # "entity" or "entity/project": writes there are refused (403, permission denied)
        self.deny = set(deny)
        self.reject_invalid_config = reject_invalid_config
        self._host = host
        self._port = port
        self._extra_hosts = list(extra_hosts)
        self._servers: list[ThreadingHTTPServer] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.RLock()
        self._sweeps: dict[str, Sweep] = {}
        self._runs: dict[str, Run] = {}
        self._agents: dict[str, Agent] = {}
        self._calls: list[Call] = []
        self._unknown: list[str] = []
        self._uploads: dict[str, tuple[str, str]] = {}  # token → (run key, file name)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> WandbDouble:
        handler = _make_handler(self)
        first = ThreadingHTTPServer((self._host, self._port), handler)
        self._servers.append(first)
        self._port = first.server_address[1]
        for extra in self._extra_hosts:
            self._servers.append(ThreadingHTTPServer((extra, self._port), handler))
        for server in self._servers:
            server.daemon_threads = True
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers.clear()
        self._threads.clear()

    def __enter__(self) -> WandbDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ test API
    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return self.url_for(self._host)

    def url_for(self, host: str) -> str:
        return f"http://{host}:{self._port}"

    def env(self, host: str | None = None, **extra: str) -> dict[str, str]:
        """The environment variables that point the SDK at the double."""
        env = {
            "WANDB_BASE_URL": self.url_for(host or self._host),
            "WANDB_API_KEY": self.api_key,
            "WANDB_ENTITY": self.entity,
            "WANDB_ERROR_REPORTING": "false",
            "WANDB_SILENT": "true",
            "WANDB_CONSOLE": "off",
            "WANDB_DISABLE_CODE": "true",
            "WANDB_X_DISABLE_STATS": "true",
        }
        env.update(extra)
        return env

    @property
    def sweeps(self) -> dict[str, Sweep]:
        with self._lock:
            return dict(self._sweeps)

    @property
    def runs(self) -> dict[str, Run]:
        """Runs by run id (name)."""
        with self._lock:
            return {r.name: r for r in self._runs.values()}

    @property
    def agents(self) -> dict[str, Agent]:
        with self._lock:
            return dict(self._agents)

    @property
    def requests(self) -> list[str]:
        """The operation names seen, in order (non-GraphQL requests as "PUT /storage", ...)."""
        with self._lock:
            return [c.operation for c in self._calls]

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    @property
    def unknown(self) -> list[str]:
        """Operations and paths the double did not know."""
        with self._lock:
            return list(self._unknown)

    def handed_out(self, sweep_id: str) -> dict[str, dict[str, Any]]:
        """The parameters handed out per run id of a sweep ({run id: {"lr": 0.1}})."""
        with self._lock:
            return {k: dict(v) for k, v in self._sweeps[sweep_id].handed_out.items()}

    def sweep_runs(self, sweep_id: str) -> list[Run]:
        with self._lock:
            return [r for r in self._runs.values() if r.sweep == sweep_id]

    def set_sweep_state(self, sweep_id: str, state: str) -> None:
        with self._lock:
            self._sweeps[sweep_id].state = state

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return True
            time.sleep(0.1)
        return predicate()

    # ------------------------------------------------------------------ dispatch
    def handle_graphql(self, body: dict[str, Any], origin: str) -> tuple[int, dict[str, Any]]:
        op = operation_name(body) or "<anonymous>"
        variables = body.get("variables") or {}
        handler = getattr(self, f"_op_{op}", None)
        try:
            if handler is None:
                with self._lock:
                    self._unknown.append(op)
                log.warning("wandb double: unknown operation %s: %s", op, body.get("query"))
                raise GraphQLError(f"wandb double: unknown operation {op}")
            with self._lock:
                data = handler(variables, origin)
        except GraphQLError as e:
            self._record(op, variables, e.status, e.message)
            return e.status, {"errors": [{"message": e.message}], "data": None}
        self._record(op, variables, 200)
        return 200, {"data": data}

    def _record(self, op: str, variables: dict[str, Any], status: int, error: str | None = None):
        with self._lock:
            self._calls.append(Call(op, variables, status, error))

    # ------------------------------------------------------------------ helpers
    def _check_write(self, entity: str, project: str) -> None:
        if entity not in (self.entity, *self.teams):
            raise GraphQLError(f"entity {entity} not found", status=404)
        if entity in self.deny or f"{entity}/{project}" in self.deny:
            raise GraphQLError(f"permission denied for {entity}/{project}", status=403)

    def _entity(self, name: str | None) -> str:
        return name or self.entity

    def _project(self, entity: str, name: str) -> dict[str, Any]:
        return {
            "id": _b64(f"Project:{entity}/{name}"),
            "name": name,
            "entity": {"id": _b64(f"Entity:{entity}"), "name": entity},
        }

    def _find_sweep(self, entity: str | None, project: str | None, name: str) -> Sweep | None:
        sweep = self._sweeps.get(name)
        if sweep is None:
            return None
        if entity and sweep.entity != entity or project and sweep.project != project:
            return None
        return sweep

    def _find_run(self, entity: str, project: str, name: str) -> Run | None:
        return self._runs.get(f"{entity}/{project}/{name}")

    def _sweep_node(self, sweep: Sweep) -> dict[str, Any]:
        runs = [r for r in self._runs.values() if r.sweep == sweep.id]
        metric = sweep.config.get("metric") or {}
        best = None
        if metric.get("name"):
            values = [r.summary.get(metric["name"]) for r in runs]
            numbers = [v for v in values if isinstance(v, (int, float))]
            if numbers:
                best = max(numbers) if metric.get("goal") == "maximize" else min(numbers)
        return {
            "__typename": "Sweep",
            "id": _b64(f"Sweep:{sweep.id}"),
            "name": sweep.id,
            "displayName": sweep.display_name or sweep.config.get("name"),
            "method": sweep.config.get("method"),
            "state": sweep.state,
            "description": sweep.description,
            "config": sweep.config_yaml,
            "createdAt": sweep.created_at,
            "updatedAt": sweep.updated_at,
            "heartbeatAt": sweep.updated_at,
            "earlyStopJobRunning": False,
            "bestLoss": best,
            "controller": None,
            "controllerRunName": None,
            "scheduler": None,
            "runCount": len(runs),
            "runCountExpected": sweep.config.get("run_cap"),
            "runs": {"edges": [{"node": self._sweep_run_node(r)} for r in runs]},
            "project": self._project(sweep.entity, sweep.project),
        }

    def _sweep_run_node(self, run: Run) -> dict[str, Any]:
        return {
            "name": run.name,
            "state": run.state,
            "config": json.dumps(_wrap(run.config)),
            "exitcode": run.exitcode,
            "heartbeatAt": run.heartbeat_at,
            "shouldStop": False,
            "failed": run.state == "failed",
            "stopped": False,
            "running": run.state == "running",
            "summaryMetrics": json.dumps(run.summary),
            "sampledHistory": [run.history],
        }

    def _run_node(self, run: Run) -> dict[str, Any]:
        return {
            "__typename": "Run",
            "id": run.storage_id,
            "projectId": "1",
            "name": run.name,
            "displayName": run.display_name or run.name,
            "tags": list(run.tags),
            "sweepName": run.sweep,
            "state": run.state,
            "config": json.dumps(run.config_raw or _wrap(run.config)),
            "group": run.group,
            "jobType": run.job_type,
            "commit": run.commit,
            "readOnly": False,
            "createdAt": run.created_at,
            "heartbeatAt": run.heartbeat_at,
            "description": run.description,
            "notes": run.notes,
            "systemMetrics": "{}",
            "summaryMetrics": json.dumps(run.summary),
            "historyLineCount": len(run.history),
            "historyKeys": None,
            "user": {"name": self.entity, "username": self.entity},
            "exitcode": run.exitcode,
        }

    def _propose(self, sweep: Sweep) -> dict[str, Any] | None:
        """The next parameters wandb's engine proposes for a sweep, or None when it is done."""
        import sweeps as engine

        runs = [r for r in self._runs.values() if r.sweep == sweep.id]
        cap = sweep.config.get("run_cap")
        if isinstance(cap, int) and len(runs) >= cap:
            return None
        known = [
            engine.SweepRun(
                name=r.name,
                state=r.state if r.state in _ENGINE_STATES else "running",
                config=_wrap(r.config),
                summaryMetrics=r.summary,
                sampledHistory=r.history,
                exitcode=r.exitcode,
            )
            for r in runs
        ]
        suggestion = engine.next_run(sweep.config, known)
        if suggestion is None:
            return None
        return {k: _plain(v.get("value")) for k, v in suggestion.config.items()}

    # ------------------------------------------------------------------ viewer
    def _op_Viewer(self, v: dict[str, Any], origin: str) -> dict[str, Any]:
        return {
            "viewer": {
                "id": _b64(f"User:{self.entity}"),
                "entity": self.entity,
                "username": self.entity,
                "email": f"{self.entity}@example.org",
                "admin": False,
                "flags": "{}",
                "teams": {"edges": [{"node": {"name": t}} for t in self.teams]},
            }
        }

    def _op_GetDefaultEntity(self, v: dict[str, Any], origin: str) -> dict[str, Any]:
        return {"viewer": {"id": _b64(f"User:{self.entity}"), "entity": self.entity}}

    def _op_ServerFeaturesQuery(self, v: dict[str, Any], origin: str) -> dict[str, Any]:
        return {"serverInfo": {"features": []}}

    # ------------------------------------------------------------------ sweeps
    def _op_UpsertSweep(self, v: dict[str, Any], origin: str) -> dict[str, Any]:
        if v.get("id"):
            sweep = self._sweep_by_any_id(str(v["id"]))
            if sweep is None:
                raise GraphQLError(f"sweep {v['id']} not found", status=404)
            if v.get("state"):
                sweep.state = str(v["state"]).upper()
            if v.get("displayName"):
                sweep.display_name = v["displayName"]
            sweep.updated_at = now()
            return self._upsert_sweep_answer(sweep)
        entity = self._entity(v.get("entityName"))
        project = v.get("projectName") or "uncategorized"
        self._check_write(entity, project)
        text = v.get("config") or ""
        try:
            config = yaml.safe_load(text) or {}
        except yaml.YAMLError as e:
            raise GraphQLError(f"Invalid sweep config: not YAML: {e}") from e
        if not isinstance(config, dict):
            raise GraphQLError("Invalid sweep config: not a mapping")
        import sweeps as engine

        violations = list(engine.schema_violations_from_proposed_config(config))
        if violations and self.reject_invalid_config:
            raise GraphQLError("Invalid sweep config: " + "; ".join(violations))
        sweep = Sweep(
            id=new_id(),
            entity=entity,
            project=project,
            config=config,
            config_yaml=text,
            state=str(v.get("state") or "RUNNING").upper(),
            display_name=v.get("displayName"),
            description=v.get("description"),
            warnings=violations,
        )
        self._sweeps[sweep.id] = sweep
        return self._upsert_sweep_answer(sweep)

    def _op_UpsertSweepState(self, v: dict[str, Any], origin: str) -> dict[str, Any]:
        sweep = self._sweep_by_any_id(str(v.get("id")))
        if sweep is None:
            raise GraphQLError(f"sweep {v.get('id')} not found", status=404)
        sweep.state = str(v["state"]).upper()
        return {"upsertSweep": {"sweep": {"state": sweep.state}}}

    def _sweep_by_any_id(self, sweep_id: str) -> Sweep | None:
        if sweep_id in self._sweeps:
            return self._sweeps[sweep_id]
        try:
            decoded = base64.b64decode(sweep_id).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        return self._sweeps.get(decoded.removeprefix("Sweep:"))

    def _upsert_sweep_answer(self, sweep: Sweep) -> dict[str, Any]:
        return {
            "upsertSweep": {
                "sweep": {
                    "id": _b64(f"Sweep:{sweep.id}"),
                    "name": sweep.id,
                    "state": sweep.state,
                    "project": self._project(sweep.entity, sweep.project),
                },
                "configValidationWarnings": list(sweep.warnings),
            }
        }

    def _sweep_query(self, v: dict[str, Any], key: str) -> dict[str, Any]:
        sweep = self._find_sweep(v.get("entity"), v.get("project"), str(v.get(key)))
        project = self._project(self._entity(v.get("entity")), v.get("project") or "")
        project["sweep"] = self._sweep_node(sweep) if sweep else None
        return {"project": project}

    def _op_SweepWithRuns(self, v: dict[str, Any], origin: str) -> dict[str, Any]:
        return self._sweep_query(v, "sweep")

    def _op_SweepConfig(self, v: dict[str, Any], origin: str) -> dict[str, Any]:
        return self._sweep_query(v, "sweep")

    def _op_GetSweepState(self, v: dict[str, Any], origin: str) -> dict[str, Any]:
        return self._sweep_query(v, "sweep")

    def _op_GetSweep(self, v: dict[str, Any], origin: str) -> dict[str, Any]:
        return self._sweep_query(v, "name")

    def _op_GetSweepLegacy(self, v: dict[str, Any], origin: str) -> dict[str, Any]:
        return self._sweep_query(v, "name")

    # ------------------------------------------------------------------ agents
    def _op_CreateAgent(self, v: dict[str, Any], origin: str) -> dict[str, Any]:
        entity = self._entity(v.get("entityName"))
        project = v.get("projectName") or ""
        sweep = self._find_sweep(entity, project or None, str(v.get("sweep")))
        if sweep is None:
            raise GraphQLError(f"sweep {entity}/{project}/{v.get('sweep')} not found", status=404)
        agent = Agent(
            id=new_id(), sweep=sweep.id, host=str(v.get("host")), entity=entity, project=project
        )
        self._agents[agent.id] = agent
        sweep.agents.append(agent.id)
        return {"createAgent": {"agent": {"id": agent.id, "name": agent.id}}}

    def _op_Heartbeat(self, v: dict[str, Any], origin: str) -> dict[str, Any]:
        agent = self._agents.get(str(v.get("id")))
        if agent is None:
            raise GraphQLError(f"agent {v.get('id')} not found", status=404)
        sweep = self._sweeps.get(agent.sweep)
        if sweep is None:
            raise GraphQLError(f"sweep {agent.sweep} not found", status=404)
        agent.heartbeats += 1
        agent.heartbeat_at = now()
        run_state = json.loads(v.get("runState") or "{}")
        agent.running = [rid for rid, alive in run_state.items() if alive]
        for rid in agent.running:
            run = self._runs_by_name(rid)
            if run is not None:
                run.heartbeat_at = now()
        commands = self._commands(agent, sweep)
        return {"agentHeartbeat": {"agent": {"id": agent.id}, "commands": json.dumps(commands)}}

    def _commands(self, agent: Agent, sweep: Sweep) -> list[dict[str, Any]]:
        if sweep.state == "CANCELED":
            stops = [{"type": "stop", "run_id": rid} for rid in agent.running]
            return stops or [{"type": "exit"}]
        if sweep.state == "PAUSED" or agent.running:
            return []
        if sweep.state == "FINISHED":
            return [{"type": "exit"}]
        params = self._propose(sweep)
        if params is None:
            sweep.state = "FINISHED"
            return [{"type": "exit"}]
        run = Run(name=new_id(), entity=sweep.entity, project=sweep.project)
        run.config = dict(params)
        run.sweep = sweep.id
        run.agent = agent.id
        self._runs[run.path] = run
        sweep.handed_out[run.name] = dict(params)
        agent.runs.append(run.name)
        return [
            {
                "type": "run",
                "run_id": run.name,
                "run_storage_id": run.storage_id,
                "program": sweep.config.get("program"),
                "args": _wrap(params),
            }
        ]

    def _runs_by_name(self, name: str) -> Run | None:
        for run in self._runs.values():
            if run.name == name:
                return run
        return None

    # ------------------------------------------------------------------ runs
    def _op_UpsertBucket(self, v: dict[str, Any], origin: str) -> dict[str, Any]:
        run = None
        if v.get("id"):
            run = next((r for r in self._runs.values() if r.storage_id == v["id"]), None)
        entity = run.entity if run else self._entity(v.get("entity"))
        project = run.project if run else (v.get("project") or "uncategorized")
        name = run.name if run else (v.get("name") or new_id())
        self._check_write(entity, project)
        run = run or self._find_run(entity, project, name)
        inserted = run is None
        if run is None:
            run = Run(name=name, entity=entity, project=project, state="running")
            self._runs[run.path] = run
        elif run.state == "pending":
            run.state = "running"
        if v.get("sweep"):
            sweep = self._find_sweep(entity, project, str(v["sweep"]))
            if sweep is None:
                raise GraphQLError(f"sweep {entity}/{project}/{v['sweep']} not found", status=404)
            run.sweep = sweep.id
        _update(run, v)
        run.upserts += 1
        run.heartbeat_at = now()
        return {
            "upsertBucket": {
                "bucket": {
                    "id": run.storage_id,
                    "name": run.name,
                    "displayName": run.display_name or run.name,
                    "description": run.description,
                    "config": json.dumps(run.config_raw or _wrap(run.config)),
                    "sweepName": run.sweep,
                    "historyLineCount": len(run.history),
                    "project": self._project(run.entity, run.project),
                },
                "inserted": inserted,
            }
        }

    def _op_RunResumeStatus(self, v: dict[str, Any], origin: str) -> dict[str, Any]:
        entity = self._entity(v.get("entity"))
        project = v.get("project") or "uncategorized"
        run = self._find_run(entity, project, str(v.get("name")))
        model = self._project(entity, project)
        model["bucket"] = None
        if run is not None:
            model["bucket"] = {
                "id": run.storage_id,
                "name": run.name,
                "summaryMetrics": json.dumps(run.summary),
                "displayName": run.display_name,
                "logLineCount": len(run.output),
                "historyLineCount": len(run.history),
                "eventsLineCount": 0,
                "historyTail": json.dumps([json.dumps(h) for h in run.history[-5:]]),
                "eventsTail": "[]",
                "config": json.dumps(run.config_raw or _wrap(run.config)),
                "tags": list(run.tags),
                "notes": run.notes,
                "wandbConfig": json.dumps({}),
            }
        return {"model": model}

    def _op_RunState(self, v: dict[str, Any], origin: str) -> dict[str, Any]:
        run = self._find_run(self._entity(v.get("entity")), str(v.get("project")), str(v["run"]))
        project = self._project(self._entity(v.get("entity")), str(v.get("project")))
        project["run"] = {"state": run.state} if run else None
        return {"project": project}

    def _op_CreateRunFiles(self, v: dict[str, Any], origin: str) -> dict[str, Any]:
        entity, project, name = self._entity(v.get("entity")), v.get("project"), v.get("run")
        run = self._find_run(entity, str(project), str(name))
        if run is None:
            raise GraphQLError(f"run {entity}/{project}/{name} not found", status=404)
        files = []
        for file_name in v.get("files") or []:
            token = secrets.token_hex(8)
            self._uploads[token] = (run.path, file_name)
            url = f"{origin}/storage/{token}/{quote(file_name)}"
            files.append({"name": file_name, "uploadUrl": url})
        return {"createRunFiles": {"runID": run.storage_id, "uploadHeaders": [], "files": files}}

    def _op_MarkRunFilesUploaded(self, v: dict[str, Any], origin: str) -> dict[str, Any]:
        return {"markRunFilesUploaded": {"success": True}}

    def _op_Runs(self, v: dict[str, Any], origin: str) -> dict[str, Any]:
        entity = self._entity(v.get("entity"))
        project = str(v.get("project"))
        flt = json.loads(v.get("filters") or "{}")
        runs = [r for r in self._runs.values() if r.entity == entity and r.project == project]
        chosen = [r for r in runs if filters.matches(vars(r), flt)]
        ordered = filters.sort_runs([vars(r) for r in chosen], v.get("order"))
        start = int(v.get("cursor") or 0)
        per_page = int(v.get("perPage") or 50)
        page = ordered[start : start + per_page]
        edges = [
            {
                "node": self._run_node(self._runs[f"{r['entity']}/{r['project']}/{r['name']}"]),
                "cursor": str(start + i + 1),
            }
            for i, r in enumerate(page)
        ]
        result = self._project(entity, project)
        result.update(
            internalId="1",
            runCount=len(chosen),
            readOnly=False,
            runs={
                "edges": edges,
                "pageInfo": {
                    "endCursor": str(start + len(page)),
                    "hasNextPage": start + len(page) < len(ordered),
                },
            },
        )
        return {"project": result}

    def _op_RunSampledHistory(self, v: dict[str, Any], origin: str) -> dict[str, Any]:
        """``run.history(keys=[...])``: per spec (``{"keys": [x_axis, ...], "samples": n}``)
        the history rows that have every key, reduced to those keys, at most ``samples``
        of them (evenly spaced, first and last kept)."""
        entity = self._entity(v.get("entity"))
        run = self._find_run(entity, str(v.get("project")), str(v.get("name")))
        project = self._project(entity, str(v.get("project")))
        if run is None:
            project["run"] = None
            return {"project": project}
        answers = []
        for raw in v.get("specs") or []:
            spec = json.loads(raw) if isinstance(raw, str) else dict(raw)
            keys = [str(k) for k in spec.get("keys") or []]
            rows = [{k: h[k] for k in keys} for h in run.history if all(k in h for k in keys)]
            n = int(spec.get("samples") or 500)
            if len(rows) > n > 1:
                step = (len(rows) - 1) / (n - 1)
                rows = [rows[round(i * step)] for i in range(n)]
            answers.append(rows)
        project["run"] = {"sampledHistory": answers}
        return {"project": project}

    def _op_Run(self, v: dict[str, Any], origin: str) -> dict[str, Any]:
        entity = self._entity(v.get("entity"))
        run = self._find_run(entity, str(v.get("project")), str(v.get("name")))
        project = self._project(entity, str(v.get("project")))
        project["run"] = self._run_node(run) if run else None
        return {"project": project}

    # ------------------------------------------------------------------ files
    def handle_upload(self, token: str, body: bytes) -> int:
        with self._lock:
            target = self._uploads.get(token)
            if target is None:
                self._record("PUT /storage", {"token": token}, 404, "unknown upload")
                return 404
            run_key, file_name = target
            self._runs[run_key].files[file_name] = body
            self._record("PUT /storage", {"run": run_key, "file": file_name}, 200)
            return 200

    def handle_file_stream(self, entity: str, project: str, name: str, body: dict) -> int:
        with self._lock:
            run = self._find_run(entity, project, name)
            if run is None:
                self._record("POST file_stream", {"run": name}, 404, "run not found")
                return 404
            for file_name, chunk in (body.get("files") or {}).items():
                lines = [str(line) for line in chunk.get("content") or []]
                offset = int(chunk.get("offset") or 0)
                if file_name == "wandb-history.jsonl":
                    rows = [json.loads(line) for line in lines]
                    run.history[offset:] = rows
                elif file_name == "wandb-summary.json" and lines:
                    run.summary = json.loads(lines[-1])
                elif file_name == "output.log":
                    run.output[offset:] = lines
            if body.get("complete"):
                run.completions += 1
                run.exitcode = body.get("exitcode")
                run.state = "finished" if not run.exitcode else "failed"
            elif run.state == "pending":
                run.state = "running"
            run.heartbeat_at = now()
            self._record(
                "POST file_stream",
                {
                    "run": run.path,
                    "complete": body.get("complete"),
                    "exitcode": body.get("exitcode"),
                },
                200,
            )
            return 200

    def note_unknown(self, what: str) -> None:
        with self._lock:
            self._unknown.append(what)
            self._calls.append(Call(what, {}, 404, "unknown path"))
        log.warning("wandb double: unknown request %s", what)

    def authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, key = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return bool(API_KEY_RE.match(key)) and key == self.api_key

    def snapshot(self) -> dict[str, Any]:
        """Everything the double holds, as plain data (for debugging a failed test)."""
        with self._lock:
            return {
                "sweeps": {k: asdict(s) for k, s in self._sweeps.items()},
                "runs": {k: {**asdict(r), "files": sorted(r.files)} for k, r in self._runs.items()},
                "agents": {k: asdict(a) for k, a in self._agents.items()},
                "requests": [c.operation for c in self._calls],
                "unknown": list(self._unknown),
            }


def _update(run: Run, v: dict[str, Any]) -> None:
    """Apply an UpsertBucket's variables to a run."""
    simple = {
        "displayName": "display_name",
        "groupName": "group",
        "jobType": "job_type",
        "notes": "notes",
        "description": "description",
        "commit": "commit",
        "repo": "repo",
        "host": "host",
        "program": "program",
    }
    for var, attr in simple.items():
        if v.get(var) is not None:
            setattr(run, attr, v[var])
    if v.get("tags") is not None:
        run.tags = list(v["tags"])
    if v.get("config"):
        raw = json.loads(v["config"])
        run.config_raw = raw
        run.config = {
            k: (val["value"] if isinstance(val, dict) and "value" in val else val)
            for k, val in raw.items()
            if k not in ("_wandb", "wandb_version")
        }
    if v.get("summaryMetrics"):
        run.summary.update(json.loads(v["summaryMetrics"]))
    if v.get("state"):
        run.state = str(v["state"])


def _wrap(params: dict[str, Any]) -> dict[str, Any]:
    return {k: {"value": val} for k, val in params.items()}


def _plain(value: Any) -> Any:
    """numpy scalars → Python (the engine returns np.float64 for random draws)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


_FILE_STREAM_RE = re.compile(r"^/files/([^/]+)/([^/]+)/([^/]+)/file_stream$")
_STORAGE_RE = re.compile(r"^/storage/([0-9a-f]+)/(.+)$")


def _make_handler(double: WandbDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            log.debug("wandb double: " + format, *args)

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length) if length else b""
            if self.headers.get("Content-Encoding") == "gzip":
                data = gzip.decompress(data)
            return data

        def _send(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _origin(self) -> str:
            host = self.headers.get("Host") or f"{double._host}:{double.port}"
            return f"http://{host}"

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            path = urlsplit(self.path).path
            body = self._body()
            if path == "/graphql" or _FILE_STREAM_RE.match(path):
                if not double.authorized(self.headers.get("Authorization")):
                    double._record("401 " + path, {}, 401, "unauthorized")
                    self._send(401, {"errors": [{"message": "unauthorized"}]})
                    return
            if path == "/graphql":
                try:
                    request = json.loads(body or b"{}")
                except json.JSONDecodeError:
                    self._send(400, {"errors": [{"message": "body is not JSON"}]})
                    return
                status, payload = double.handle_graphql(request, self._origin())
                self._send(status, payload)
                return
            match = _FILE_STREAM_RE.match(path)
            if match:
                entity, project, name = (unquote(g) for g in match.groups())
                status = double.handle_file_stream(entity, project, name, json.loads(body or b"{}"))
                self._send(status, {"exitcode": None, "limits": {}} if status == 200 else {})
                return
            double.note_unknown(f"POST {path}")
            self._send(404, {"error": f"wandb double: no such path {path}"})

        def do_PUT(self) -> None:  # noqa: N802
            path = urlsplit(self.path).path
            body = self._body()
            match = _STORAGE_RE.match(path)
            status = double.handle_upload(match.group(1), body) if match else 404
            if not match:
                double.note_unknown(f"PUT {path}")
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:  # noqa: N802
            double.note_unknown(f"GET {urlsplit(self.path).path}")
            self._send(404, {"error": "wandb double: not found"})

    return Handler
