"""The dashboard's reader (sweepops.remote.live_reader) and its connection: only what
changed crosses it; the program runs with the standard library alone (as on a login host,
here through `sh -c` standing in for ssh); an unreachable host keeps its cached runs."""

from __future__ import annotations

import base64
import json
import os
import sys
import time
from pathlib import Path

from sweepops.records import ledger
from sweepops.remote.failures import run_reason
from sweepops.remote.live_reader import Scanner, read_log
from sweepops.results.live import Connection, Live


def record(sweep: Path, run_id: str, state: str, **more) -> Path:
    (sweep / "runs").mkdir(parents=True, exist_ok=True)
    path = sweep / "runs" / f"{run_id}.json"
    path.write_text(
        json.dumps({"id": run_id, "state": state, "params": {"lr": {"value": 0.1}}, **more})
    )
    return path


def wandb_file(sweep: Path, run_id: str) -> Path:
    folder = sweep / "wandb" / f"offline-run-20261202_101010-{run_id}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"run-{run_id}.wandb"


def test_a_scan_sends_only_new_records_and_new_wandb_bytes(tmp_path):
    sweep = tmp_path / "s1"
    log = tmp_path / "a.log"
    log.write_text("step 1\nValueError: bad lr\n")
    record(sweep, "a", "failed", exit_code=1, log=str(log))
    record(sweep, "b", "running")
    wandb_file(sweep, "b").write_bytes(b"12345")
    scanner = Scanner(run_reason)
    first = scanner.scan({"s1": str(sweep)})
    kinds = sorted((a["type"], a.get("record", {}).get("id") or a.get("run")) for a in first)
    assert kinds == [("record", "a"), ("record", "b"), ("wandb", "b")]
    (why,) = [a["why"] for a in first if a.get("why")]
    assert why == "failed (exit 1); ValueError: bad lr"
    assert scanner.scan({"s1": str(sweep)}) == []  # nothing changed: nothing sent
    with open(wandb_file(sweep, "b"), "ab") as fh:
        fh.write(b"678")
    time.sleep(0.01)
    record(sweep, "c", "running")
    second = scanner.scan({"s1": str(sweep)})
    assert [a.get("record", {}).get("id") for a in second if a["type"] == "record"] == ["c"]
    (new,) = [a for a in second if a["type"] == "wandb"]
    assert new["offset"] == 5 and base64.b64decode(new["data"]) == b"678"


def test_a_log_is_read_from_an_offset(tmp_path):
    log = tmp_path / "x.log"
    log.write_text("hello\nworld\n")
    got = read_log(str(log), 6)
    assert got["data"] == "world\n" and got["offset"] == 12
    assert read_log(str(log), 99)["data"] == "hello\nworld\n"  # replaced: from the start


def test_the_remote_program_runs_with_the_standard_library_only(tmp_path):
    sweep = tmp_path / "s1"
    record(sweep, "a", "finished", summary={"loss": 1.0})
    # `sh -c CMD` stands in for `ssh HOST CMD`; -I -S: no site-packages, no sweepops
    conn = Connection(["sh", "-c"], python=f"{sys.executable} -I -S")
    try:
        first = conn.request({"op": "scan", "sweeps": {"s1": str(sweep)}})
        assert [a["record"]["id"] for a in first] == ["a"]
        before = conn.bytes_in
        assert conn.request({"op": "scan", "sweeps": {"s1": str(sweep)}}) == []
        assert conn.bytes_in - before == len(b'{"type": "end"}\n')
    finally:
        conn.close()


def _deploy(root: Path) -> dict:
    meta = {
        "id": "s1",
        "name": "base",
        "tags": [],
        "config": {
            "method": "grid",
            "metric": {"name": "loss", "goal": "minimize"},
            "parameters": {"lr": {"values": [0.1, 0.2]}},
        },
    }
    deploy = {
        "deploy_id": "d1",
        "experiment": "base",
        "sweeps": [{"id": "s1", "name": "base", "tags": [], "agents": 1, "runs": 2, "meta": meta}],
    }
    ledger.append(root, deploy)
    ledger.append(
        root,
        {
            "event": "submitted",
            "deploy_id": "d1",
            "clusters": {
                "c-login": {"lab_root": str(root / "lab"), "jobs": {"s1": "7"}, "login": "c"}
            },
        },
    )
    return deploy


def test_an_unreachable_cluster_shows_its_cached_runs_and_says_so(tmp_path):
    root = tmp_path
    deploy = _deploy(root)
    lab_sweep = root / "lab" / "sweeps" / "s1"
    record(lab_sweep, "r1", "finished", summary={"loss": 0.5})
    reachable = {"yes": True}

    def connect(host, info):
        if reachable["yes"]:
            return Connection(["sh", "-c"], python=sys.executable)
        return Connection(
            ["sh", "-c", "echo 'ssh: connect to host c port 22: timed out' >&2; exit 255", "--"]
        )

    live = Live(root, [deploy], connect=connect)
    live.refresh()
    view = live.snapshot()["experiments"][0]
    assert [r["run_id"] for r in view["runs"]] == ["r1"] and view["hosts"]["c-login"]["reachable"]
    cached = root / ".sweepops" / "cache" / "c-login" / "s1" / "runs" / "r1.json"
    assert cached.is_file()
    assert os.stat(cached).st_mtime == os.stat(lab_sweep / "runs" / "r1.json").st_mtime
    live.close()

    reachable["yes"] = False  # a new dashboard, the cluster down: the cache, and a line
    live = Live(root, [deploy], connect=connect)
    live.refresh()
    view = live.snapshot()["experiments"][0]
    assert [r["run_id"] for r in view["runs"]] == ["r1"]
    note = view["hosts"]["c-login"]["note"]
    assert "c-login unreachable since" in note and "timed out" in note and "cached" in note
    assert view["sweeps"][0]["counts"]["finished"] == 1 and view["sweeps"][0]["counts"]["left"] == 1
