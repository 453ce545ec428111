"""What changed in a set of sweep directories since the last look: the dashboard's reader.

Standard library only. ``sweepops dashboard`` runs it on each cluster's login host through
one long-lived ``ssh`` (``python3 -c`` reading its own source from the first line of stdin,
see :mod:`sweepops.results.live`), and in-process for the sweeps of this machine. Requests
and answers are JSON lines:

* ``{"op": "scan", "sweeps": {ID: DIR}}``: one ``record`` line per run record that is new or
  changed (by size and mtime), one ``wandb`` line with the new bytes (base64) of each
  running run's wandb file since the last look, then ``{"type": "end"}``. A failed run's
  record comes with ``why``, the one-line reason :func:`reason` gives (its log's last error);
* ``{"op": "log", "path": P, "offset": N}``: the bytes of a log from ``offset`` (at most
  ``LOG_CHUNK``), as ``{"type": "log", "data": ..., "offset": next, "size": size}``.

Only new data crosses the connection: a record that did not change, or wandb bytes already
sent, are never sent again.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
from collections.abc import Callable
from typing import IO, Any

LOG_CHUNK = 256 * 1024
WANDB_CHUNK = 4 * 1024 * 1024
_RUN_DIR = re.compile(r"(?:offline-)?run-(\d{8}_\d{6})-(.+)")
_FAILED = ("failed", "crashed")


def wandb_file(sweep_dir: str, run_id: str) -> str | None:
    """The newest ``SWEEP/wandb/offline-run-TS-ID/run-ID.wandb`` (as wandbfile finds it)."""
    base = os.path.join(sweep_dir, "wandb")
    if os.path.isdir(os.path.join(base, "wandb")):
        base = os.path.join(base, "wandb")
    best = None
    try:
        names = os.listdir(base)
    except OSError:
        return None
    for name in names:
        match = _RUN_DIR.fullmatch(name)
        if match and match.group(2) == run_id:
            path = os.path.join(base, name, f"run-{run_id}.wandb")
            if os.path.isfile(path) and (best is None or match.group(1) > best[0]):
                best = (match.group(1), path)
    return best[1] if best else None


def tail(path: str, size: int = 8192) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, os.fstat(fh.fileno()).st_size - size))
            return fh.read().decode(errors="replace")
    except OSError:
        return ""


class Scanner:
    """The state of one reader: what it has sent of each record and wandb file."""

    def __init__(self, reason: Callable[[dict[str, Any], str], str] | None = None) -> None:
        self.seen: dict[str, tuple[int, int]] = {}  # record path -> (size, mtime_ns)
        self.sent: dict[str, int] = {}  # wandb file -> bytes sent
        self.running: dict[str, tuple[str, str]] = {}  # run key -> (sweep dir, run id)
        self.reason = reason

    def scan(self, sweeps: dict[str, str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for sweep_id, sweep_dir in sorted(sweeps.items()):
            out += self._records(sweep_id, sweep_dir)
        for key, (sweep_dir, run_id) in sorted(self.running.items()):
            out += self._wandb(key.split("/")[0], sweep_dir, run_id)
        return out

    def _records(self, sweep_id: str, sweep_dir: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        runs = os.path.join(sweep_dir, "runs")
        try:
            entries = list(os.scandir(runs))
        except OSError:
            return out
        for entry in entries:
            if not entry.name.endswith(".json") or entry.name.startswith("."):
                continue
            try:
                st = entry.stat()
            except OSError:
                continue
            stamp = (st.st_size, st.st_mtime_ns)
            if self.seen.get(entry.path) == stamp:
                continue
            try:
                with open(entry.path, "rb") as fh:
                    rec = json.loads(fh.read())
            except (OSError, ValueError):
                continue  # being replaced, or damaged: the next look tells
            self.seen[entry.path] = stamp
            line: dict[str, Any] = {
                "type": "record",
                "sweep": sweep_id,
                "name": entry.name,
                "mtime": st.st_mtime,
                "record": rec,
            }
            run_id = str(rec.get("id") or entry.name[:-5])
            key = f"{sweep_id}/{run_id}"
            if rec.get("state") == "running":
                self.running[key] = (sweep_dir, run_id)
            else:
                self.running.pop(key, None)
            if rec.get("state") in _FAILED and self.reason is not None:
                line["why"] = self.reason(rec, tail(str(rec.get("log") or "")))
            out.append(line)
        return out

    def _wandb(self, sweep_id: str, sweep_dir: str, run_id: str) -> list[dict[str, Any]]:
        path = wandb_file(sweep_dir, run_id)
        if path is None:
            return []
        offset = self.sent.get(path, 0)
        try:
            with open(path, "rb") as fh:
                fh.seek(offset)
                data = fh.read(WANDB_CHUNK)
        except OSError:
            return []
        if not data:
            return []
        self.sent[path] = offset + len(data)
        return [
            {
                "type": "wandb",
                "sweep": sweep_id,
                "run": run_id,
                "path": path,
                "offset": offset,
                "data": base64.b64encode(data).decode(),
            }
        ]


def read_log(path: str, offset: int, limit: int = LOG_CHUNK) -> dict[str, Any]:
    """Bytes of a log from ``offset``; a log shorter than ``offset`` (replaced) from 0."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if offset > size:
                offset = 0
            fh.seek(offset)
            data = fh.read(limit)
    except OSError as exc:
        return {"type": "log", "error": str(exc), "offset": offset, "size": 0, "data": ""}
    return {
        "type": "log",
        "data": data.decode(errors="replace"),
        "offset": offset + len(data),
        "size": size,
    }


def serve(
    stdin: IO[str],
    stdout: IO[str],
    reason: Callable[[dict[str, Any], str], str] | None = None,
) -> None:
    """Answer requests until stdin closes (the workstation hung up)."""
    scanner = Scanner(reason)
    for line in stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        if req.get("op") == "scan":
            answers = scanner.scan(dict(req.get("sweeps") or {}))
        elif req.get("op") == "log":
            answers = [read_log(str(req["path"]), int(req.get("offset") or 0))]
        else:
            answers = [{"type": "error", "msg": f"unknown op {req.get('op')!r}"}]
        for answer in answers:
            stdout.write(json.dumps(answer) + "\n")
        stdout.write('{"type": "end"}\n')
        stdout.flush()


if __name__ == "__main__":
    serve(sys.stdin, sys.stdout)
