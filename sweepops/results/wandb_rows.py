"""Rows of wandb-backed sweeps, read through wandb's public API (``wandb.Api()``).

A deploy with ``backend: wandb`` has its runs on the wandb server, not in run records on a
disk. For each such sweep :func:`gather_wandb` asks the server for the sweep's runs
(``api.runs("ENTITY/PROJECT", filters={"sweep": ID}, lazy=False)``: config, summary,
state, tags, commit in one query per page) and turns each into the same row as an offline
run's (:func:`sweepops.results.rows.row_of`), so both land in one table.

Incremental: the answers are kept in ``ROOT/.sweepops/cache/wandb/SWEEP_ID.json`` with the
newest ``heartbeatAt`` seen; the next call asks only for runs whose heartbeat is at least
that (runs that changed since, by the server's own clock), and keeps the rest. With
``history`` (the report's learning curves) each changed run's sampled history of the metric
is read too (``run.history(keys=[METRIC])``).

When the server cannot be reached (or refuses the key), the cached rows are used and the
error says what failed; ``sweepops results`` prints it and still shows every other row.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sweepops.backends import wandb as wandb_backend
from sweepops.core import paths
from sweepops.core.progress import Progress
from sweepops.records import ledger

#: Seconds to wait for the server's TCP port before saying it is unreachable.
CONNECT_TIMEOUT = 5.0
#: HTTP timeout of the public API's requests.
API_TIMEOUT = 30
#: Runs per page of the public API's ``Runs`` query.
PER_PAGE = 200
#: Final states: a run in one of these is not expected to change any more.
FINAL = ("finished", "failed", "crashed", "killed")


@dataclass
class WandbFetch:
    """What one wandb server answered for a deploy's sweeps."""

    url: str
    fetched: int = 0  # runs read from the server this time
    cached: int = 0  # runs known from before and not read again
    error: str | None = None
    sweeps: list[str] = field(default_factory=list)


def wandb_sweeps(deploy: dict[str, Any]) -> list[dict[str, Any]]:
    """The deploy's sweeps that live on a wandb server (and were created there)."""
    return [
        s
        for s in deploy.get("sweeps", [])
        if (s.get("backend") or deploy.get("backend")) == "wandb" and s.get("id")
    ]


def cache_file(root: Path, sweep_id: str) -> Path:
    return paths.wandb_cache(root, sweep_id)


def load_cache(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {"since": None, "runs": {}}
    if not isinstance(data, dict) or not isinstance(data.get("runs"), dict):
        return {"since": None, "runs": {}}
    return data


def save_cache(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, default=str)
    os.replace(tmp, path)


def reachable(url: str, timeout: float = CONNECT_TIMEOUT) -> str | None:
    """None when ``url``'s host accepts a TCP connection, else why not."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return f"cannot connect to {host}:{port} ({exc.strerror or exc})"


def merge(cache: dict[str, Any], runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The cache with ``runs`` (records read now) replacing their older copies; ``since`` is
    the newest heartbeat seen."""
    known = dict(cache.get("runs") or {})
    since = cache.get("since")
    for run in runs:
        old = known.get(run["id"]) or {}
        if "history" not in run and "history" in old:
            run = {**run, "history": old["history"]}
        known[run["id"]] = run
        beat = run.get("heartbeat_at")
        if beat and (since is None or str(beat) > str(since)):
            since = beat
    return {"since": since, "runs": known}


def query_filters(sweep_id: str, since: str | None) -> dict[str, Any]:
    """The public API filter: the sweep's runs, only those with a heartbeat since ``since``
    (inclusive: a run updated in the same second as the last answer is read again)."""
    if not since:
        return {"sweep": sweep_id}
    return {"$and": [{"sweep": sweep_id}, {"heartbeatAt": {"$gte": since}}]}


def record_of(run: Any) -> dict[str, Any]:
    """A plain record of a public-API ``Run`` (full, not lazy)."""
    attrs = getattr(run, "_attrs", {}) or {}
    summary = attrs.get("summaryMetrics")
    if not isinstance(summary, dict):
        summary = dict(run.summary_metrics or {})
    return {
        "id": run.id,
        "state": run.state,
        "config": dict(run.config or {}),
        "summary": summary,
        "tags": list(run.tags or []),
        "group": run.group,
        "commit": attrs.get("commit"),
        "created_at": attrs.get("createdAt"),
        "heartbeat_at": attrs.get("heartbeatAt"),
        "sweep": attrs.get("sweepName"),
    }


def read_runs(
    sweep: dict[str, Any],
    *,
    api_key: str,
    since: str | None,
    history_keys: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    """Records of the sweep's runs that changed since ``since``, from the server."""
    # The SDK may print; our stdout may be JSON or CSV.
    with contextlib.redirect_stdout(sys.stderr):
        import wandb

        api = wandb.Api(
            overrides={"base_url": sweep["base_url"]}, api_key=api_key, timeout=API_TIMEOUT
        )
        runs = api.runs(
            f"{sweep['entity']}/{sweep['project']}",
            filters=query_filters(sweep["id"], since),
            order="+created_at",
            per_page=PER_PAGE,
            lazy=False,
        )
        out = []
        for run in runs:
            rec = record_of(run)
            if history_keys:
                rec["history"] = run.history(keys=list(history_keys), pandas=False)
            out.append(rec)
    return out


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested parameters as the offline rows name them (``opt.m``)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict) and value:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _params(config: dict[str, Any], sweep_config: dict[str, Any]) -> dict[str, Any]:
    """The run's sweep parameters (all of its config when the sweep declares none)."""
    names = list((sweep_config.get("parameters") or {}).keys())
    if not names:
        return _flatten({k: v for k, v in config.items() if not k.startswith("_")})
    return _flatten({k: config[k] for k in names if k in config})


def row_of(
    sweep: dict[str, Any], rec: dict[str, Any], *, history: tuple[str, ...] | None
) -> dict[str, Any]:
    """The result row of a wandb run (the columns of sweepops.results.rows.row_of)."""
    from sweepops.results.rows import history_points, subtest_of

    meta = sweep.get("meta") or {}
    tags = list(sweep.get("tags") or meta.get("tags") or [])
    summary = rec.get("summary") or {}
    runtime = summary.get("_runtime")
    row = {
        "sweep": sweep.get("name") or meta.get("name") or sweep["id"],
        "sweep_id": sweep["id"],
        "tags": tags,
        "subtest": subtest_of(tags),
        "run_id": rec["id"],
        "state": rec.get("state"),
        "params": _params(rec.get("config") or {}, meta.get("config") or {}),
        "summary": summary,
        "exit_code": None,
        "duration": runtime if isinstance(runtime, (int, float)) else None,
        "attempts": 1,
        "host": None,
        "slurm": None,
        "log": None,
        "best": False,
        "source": "wandb",
        "run_tags": rec.get("tags") or [],
        "url": f"{wandb_backend.app_url(sweep['base_url'])}/{sweep['entity']}/"
        f"{sweep['project']}/runs/{rec['id']}",
    }
    if history is not None:
        row["history"] = history_points(rec.get("history"), history)
    return row


def _cluster_of(root: Path, deploy: dict[str, Any]) -> str:
    """Where the deploy's runs ran, as far as the ledger tells: its one cluster host, ``local``
    for this machine, else ``wandb`` (several clusters share the sweep)."""
    hosts = sorted(ledger.submissions(root, deploy["deploy_id"]))
    if len(hosts) == 1:
        return hosts[0]
    if not hosts and list(deploy.get("clusters") or []) in ([], ["local"]):
        return "local"
    return "wandb"


def gather_wandb(
    root: Path,
    deploy: dict[str, Any],
    *,
    history: bool = False,
    fetch_remote: bool = True,
    progress: Progress | None = None,
) -> tuple[list[dict[str, Any]], dict[str, WandbFetch]]:
    """(rows, what each server answered) for the deploy's wandb sweeps. Rows come from the
    cache when a server cannot be asked; its WandbFetch then says why (``error``)."""
    sweeps = wandb_sweeps(deploy)
    rows: list[dict[str, Any]] = []
    answers: dict[str, WandbFetch] = {}
    if not sweeps:
        return rows, answers
    cluster = _cluster_of(root, deploy)
    bar = progress or Progress("wandb", len(sweeps))
    bar.update(0, total=len(sweeps), message=f"{len(sweeps)} sweep(s)")
    for sweep in sweeps:
        url = str(sweep.get("base_url") or deploy.get("base_url") or "")
        sweep = {
            **sweep,
            "base_url": url,
            "entity": sweep.get("entity") or deploy.get("entity"),
            "project": sweep.get("project") or deploy.get("project"),
        }
        got = answers.setdefault(url, WandbFetch(url))
        got.sweeps.append(sweep["id"])
        metric = ((sweep.get("meta") or {}).get("config") or {}).get("metric") or {}
        keys = (str(metric["name"]),) if history and metric.get("name") else ()
        path = cache_file(root, sweep["id"])
        cache = load_cache(path)
        since = cache.get("since")
        if keys and any("history" not in r for r in cache["runs"].values()):
            since = None  # history wanted, and some cached runs lack it: read them all again
        if fetch_remote and got.error is None:
            key = wandb_backend.find_api_key(url)
            why = None if key else f"no API key for {url} (WANDB_API_KEY or ~/.netrc)"
            why = why or reachable(url)
            if why is None:
                try:
                    fresh = read_runs(sweep, api_key=str(key), since=since, history_keys=keys)
                except Exception as exc:  # noqa: BLE001 - any SDK or HTTP failure: cached rows
                    text = str(exc).strip().splitlines()
                    why = f"{type(exc).__name__}: {text[0] if text else ''}"[:300]
                else:
                    got.fetched += len(fresh)
                    got.cached += len(set(cache["runs"]) - {r["id"] for r in fresh})
                    cache = merge(cache, fresh)
                    save_cache(path, cache)
            got.error = why
        if fetch_remote:
            bar.advance(
                message=f"{url}: "
                + (
                    f"could not ask ({got.error})"
                    if got.error
                    else f"{got.fetched} run(s) read, {got.cached} unchanged"
                )
            )
        for rec in cache["runs"].values():
            row = row_of(sweep, rec, history=keys if history else None)
            row["cluster"] = cluster
            row["commit"] = rec.get("commit") or deploy.get("commit")
            rows.append(row)
    bar.close()
    return rows, answers
