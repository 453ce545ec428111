"""sweepops.results.wandb_rows without a server: the incremental cache, the filter, the rows."""

from __future__ import annotations

import socket
from pathlib import Path

from sweepops.records import ledger
from sweepops.results.wandb_rows import (
    _cluster_of,
    load_cache,
    merge,
    query_filters,
    reachable,
    row_of,
    save_cache,
    wandb_sweeps,
)

SWEEP = {
    "id": "sw1",
    "name": "base",
    "tags": ["noisy", "trial2"],
    "backend": "wandb",
    "base_url": "http://127.0.0.1:9",
    "entity": "e",
    "project": "p",
    "meta": {
        "config": {"parameters": {"lr": {"values": [0.1]}, "opt": {"value": {"m": {"value": 0.9}}}}}
    },
}


def test_first_query_is_the_whole_sweep_then_only_what_changed():
    assert query_filters("sw1", None) == {"sweep": "sw1"}
    assert query_filters("sw1", "2026-01-01T00:00:05") == {
        "$and": [{"sweep": "sw1"}, {"heartbeatAt": {"$gte": "2026-01-01T00:00:05"}}]
    }


def test_merge_keeps_unchanged_runs_and_the_newest_heartbeat(tmp_path: Path):
    cache = merge(
        {"since": None, "runs": {}},
        [
            {"id": "a", "heartbeat_at": "2026-01-01T00:00:05", "history": [{"_step": 0}]},
            {"id": "b", "heartbeat_at": "2026-01-01T00:00:03"},
        ],
    )
    assert cache["since"] == "2026-01-01T00:00:05"
    cache = merge(cache, [{"id": "a", "heartbeat_at": "2026-01-01T00:00:09", "state": "x"}])
    assert cache["since"] == "2026-01-01T00:00:09" and set(cache["runs"]) == {"a", "b"}
    # a re-read without history keeps the history read before
    assert cache["runs"]["a"]["state"] == "x" and cache["runs"]["a"]["history"] == [{"_step": 0}]
    path = tmp_path / "c" / "sw1.json"
    save_cache(path, cache)
    assert load_cache(path) == cache
    path.write_text("{not json")
    assert load_cache(path) == {"since": None, "runs": {}}


def test_row_has_the_offline_rows_columns():
    rec = {
        "id": "r1",
        "state": "finished",
        "config": {"lr": 0.1, "opt": {"m": 0.9}, "other": 1},
        "summary": {"loss": 0.5, "_runtime": 12.5},
        "tags": ["noisy"],
        "commit": "abc",
    }
    row = row_of(SWEEP, rec, history=("loss",))
    # the sweep's parameters only, nested ones named as in offline rows
    assert row["params"] == {"lr": 0.1, "opt.m": 0.9}
    assert row["subtest"] == "noisy" and row["tags"] == ["noisy", "trial2"]
    assert row["duration"] == 12.5 and row["state"] == "finished" and row["history"] == []
    assert row["url"] == "http://127.0.0.1:9/e/p/runs/r1"


def test_wandb_sweeps_of_a_deploy():
    deploy = {"backend": "wandb", "sweeps": [SWEEP, {"id": "x", "backend": "offline"}]}
    assert [s["id"] for s in wandb_sweeps(deploy)] == ["sw1"]
    assert wandb_sweeps({"backend": "offline", "sweeps": [{"id": "y"}]}) == []


def test_unreachable_says_why():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused
        why = reachable(f"http://127.0.0.1:{port}", timeout=2)
    assert why is not None and f"127.0.0.1:{port}" in why
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert reachable(f"http://127.0.0.1:{s.getsockname()[1]}", timeout=2) is None


def test_cluster_of_the_rows(tmp_path: Path):
    deploy = {"deploy_id": "d1", "clusters": ["local"]}
    assert _cluster_of(tmp_path, deploy) == "local"
    ledger.record_submission(tmp_path, "d1", {"atlas-login": {"jobs": {}}})
    assert _cluster_of(tmp_path, {**deploy, "clusters": ["atlas"]}) == "atlas-login"
    ledger.record_submission(tmp_path, "d1", {"babel-login": {"jobs": {}}})
    assert _cluster_of(tmp_path, {**deploy, "clusters": ["atlas", "babel"]}) == "wandb"
