"""``sweepops dashboard``: a local web page of the chosen deploys, refreshing by itself.

The server is bottle (one file, WSGI) on the standard library's threading WSGI server, bound
to 127.0.0.1 only (never another address: the page shows paths and logs of the lab). The
plots are uPlot, vendored in ``sweepops/results/static/`` (the page loads nothing from
outside). A background thread refreshes the data (:class:`sweepops.results.live.Live`,
one connection per cluster, only what changed) every ``interval`` seconds; the page asks
``/api/state`` (answered only when something changed since the version it has) and a run's
log with ``/api/log`` (only the bytes past the offset it has).
"""

from __future__ import annotations

import json
import socketserver
import threading
import time
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from sweepops.results.live import Live

HOST = "127.0.0.1"
STATIC = Path(__file__).resolve().parent / "static"


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


def make_app(live: Live) -> Any:
    import bottle

    app = bottle.Bottle()

    @app.get("/")
    def index() -> Any:
        return bottle.static_file("dashboard.html", root=str(STATIC))

    @app.get("/static/<name>")
    def static(name: str) -> Any:
        return bottle.static_file(name, root=str(STATIC))

    @app.get("/api/state")
    def state() -> Any:
        have = int(bottle.request.query.get("version") or -1)
        bottle.response.content_type = "application/json"
        snap = live.snapshot()
        if snap["version"] == have:
            return json.dumps({"version": have, "same": True, "time": snap["time"]})
        return json.dumps(snap, default=str)

    @app.get("/api/log")
    def log() -> Any:
        q = bottle.request.query
        bottle.response.content_type = "application/json"
        path = _log_path(live, str(q.get("key") or ""))
        if path is None:
            return json.dumps({"error": "no log recorded for this run", "data": "", "offset": 0})
        host = str(q.get("key")).split("|")[0]
        return json.dumps(live.log(host, path, int(q.get("offset") or 0)))

    return app


def _log_path(live: Live, key: str) -> str | None:
    """The log a run's record names (never a path the page sends)."""
    host, _, rest = key.partition("|")
    sweep, _, run = rest.partition("/")
    state = live.hosts.get(host)
    rec = ((state.records.get(sweep) or {}).get(run) if state else None) or {}
    return str(rec["log"]) if rec.get("log") else None


class Dashboard:
    """The server and its refresher; :meth:`start` returns at once, :meth:`stop` ends both."""

    def __init__(self, live: Live, port: int = 0, interval: float = 3.0) -> None:
        self.live = live
        self.interval = interval
        self.server = make_server(HOST, port, make_app(live), _Server, handler_class=_Quiet)
        self.port = int(self.server.server_address[1])
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def _refresh(self, host: str) -> None:
        state = self.live.hosts[host]
        while not self.stopping.is_set():
            started = time.monotonic()
            self.live.refresh_host(state)
            self.stopping.wait(max(0.2, self.interval - (time.monotonic() - started)))

    def _refresh_wandb(self) -> None:
        while not self.stopping.is_set():
            started = time.monotonic()
            self.live.refresh_wandb()
            # wandb's API is slower and rate-limited: a third of the clusters' pace
            self.stopping.wait(max(1.0, 3 * self.interval - (time.monotonic() - started)))

    def start(self) -> None:
        if any(self.live.online(d) for d in self.live.deploys):
            t = threading.Thread(target=self._refresh_wandb, daemon=True)
            t.start()
            self.threads.append(t)
        for host in self.live.hosts:  # each cluster at its own pace: a slow one waits alone
            t = threading.Thread(target=self._refresh, args=(host,), daemon=True)
            t.start()
            self.threads.append(t)
        t = threading.Thread(target=self.server.serve_forever, daemon=True)
        t.start()
        self.threads.append(t)

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.live.close()
