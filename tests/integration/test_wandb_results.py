"""`sweepops results` / `report` for a wandb-backed deploy: the runs are read through wandb's
public API (the real SDK against the protocol double), in the same table as offline runs;
a second call reads only runs that changed; an unreachable server keeps the cached rows
and says so."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import agent_env
from tests.wandb_double import WandbDouble

pytestmark = pytest.mark.integration


def run(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sweepops", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_wandb_runs_in_results_incremental_and_offline_fallback(repo: Path) -> None:
    with WandbDouble() as double:
        env = agent_env(**double.env(), ANSIBLE_NOCOLOR="1")
        env.pop("WANDB_ENTITY", None)
        proc = run(
            repo, env, "deploy", "base", "-e", "sweep_backend=wandb", "-e", "wandb_project=proj"
        )
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
        record = json.loads((repo / ".sweepops" / "ledger.jsonl").read_text().splitlines()[0])
        (sweep,) = record["sweeps"]
        deadline = time.monotonic() + 240
        while sum(r.state == "finished" for r in double.sweep_runs(sweep["id"])) < 6:
            assert time.monotonic() < deadline, "the wandb runs did not finish in time"
            time.sleep(1)
        remote = {r.name: r for r in double.sweep_runs(sweep["id"])}

        res = run(repo, env, "results", "base", "--json")
        assert res.returncode == 0, res.stderr
        rows = json.loads(res.stdout)
        assert f"{double.base_url}: 6 run(s) read, 0 unchanged" in res.stderr, res.stderr
        assert {r["run_id"] for r in rows} == set(remote) and len(rows) == 6
        handed = double.handed_out(sweep["id"])
        for row in rows:
            server = remote[row["run_id"]]
            assert row["source"] == "wandb" and row["state"] == "finished"
            assert row["params"] == handed[row["run_id"]]
            assert row["metric"] == server.summary["val_loss"]
            assert row["summary"]["val_acc"] == server.summary["val_acc"]
            assert row["commit"] == record["commit"] == server.commit
            assert row["cluster"] == "local" and row["sweep"] == sweep["name"]
            assert isinstance(row["duration"], (int, float))
            assert row["url"].endswith(f"/sweepops-test/proj/runs/{row['run_id']}")
        metrics = [r["metric"] for r in rows]
        assert (
            metrics == sorted(metrics) and rows[0]["best"] and not any(r["best"] for r in rows[1:])
        )
        table = run(repo, env, "results", "base")
        assert table.returncode == 0 and rows[0]["run_id"] in table.stdout, table.stdout
        # status counts the server's runs (not the empty offline directory of the sweep)
        status = run(repo, env, "status", "base")
        assert status.returncode == 0, status.stderr
        assert f"  wandb {double.base_url}\n" in status.stdout, status.stdout
        line = next(ln for ln in status.stdout.splitlines() if sweep["id"] in ln)
        assert "done 6  failed 0  running 0  left 0" in line, status.stdout
        assert sum(sweep["id"] in ln for ln in status.stdout.splitlines()) == 1, status.stdout

        # Again: only runs whose heartbeat is not older than the newest seen are asked for
        # (those of that very second included, in case one changed within it).
        cache = json.loads(
            (repo / ".sweepops" / "cache" / "wandb" / f"{sweep['id']}.json").read_text()
        )
        same = sum(r["heartbeat_at"] == cache["since"] for r in cache["runs"].values())
        assert 1 <= same < 6
        calls = len(double.calls)
        again = run(repo, env, "results", "base", "--json")
        assert again.returncode == 0, again.stderr
        runs_calls = [c for c in double.calls[calls:] if c.operation == "Runs"]
        assert runs_calls and all("heartbeatAt" in c.variables["filters"] for c in runs_calls)
        assert f": {same} run(s) read, {6 - same} unchanged" in again.stderr, again.stderr
        assert json.loads(again.stdout) == rows
        # A run changes on the server (its summary, with a newer heartbeat): read again.
        changed = next(
            r["run_id"] for r in rows if remote[r["run_id"]].heartbeat_at != cache["since"]
        )
        server_run = remote[changed]
        server_run.summary = {**server_run.summary, "val_loss": -1.0}
        server_run.heartbeat_at = "2999-01-01T00:00:00"
        third = run(repo, env, "results", "base", "--json")
        newest = json.loads(third.stdout)
        assert newest[0]["run_id"] == changed and newest[0]["metric"] == -1.0, third.stderr
        assert f": {same + 1} run(s) read, {5 - same} unchanged" in third.stderr, third.stderr
        # ... and the next call asks only for what is as new as that change.
        fourth = run(repo, env, "results", "base", "--json")
        assert ": 1 run(s) read, 5 unchanged" in fourth.stderr, fourth.stderr

        # The report's learning curves come from each run's sampled history.
        report = run(repo, env, "report", "base", "--no-journal")
        assert report.returncode == 0, report.stdout[-2000:] + report.stderr[-2000:]
        assert "RunSampledHistory" in double.requests
        assert not double.unknown, double.unknown

    # The server is gone: results still show every cached row and say what failed.
    gone = run(repo, env, "results", "base", "--json")
    assert gone.returncode == 0, gone.stderr
    assert (
        f"wandb {double.base_url}: could not fetch (cannot connect to 127.0.0.1:{double.port}"
        in gone.stderr
    ), gone.stderr
    assert "showing its cached runs" in gone.stderr
    assert {r["run_id"] for r in json.loads(gone.stdout)} == set(remote)
