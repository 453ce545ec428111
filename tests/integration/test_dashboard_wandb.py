"""The dashboard's data for a wandb-backed deploy: its runs through wandb's public API (the
real SDK against the protocol double), with their learning curves, in the same view as the
offline runs; no local sweep directory is scanned for them."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from sweepops.records import ledger
from tests.conftest import run_sweepops
from tests.wandb_double import WandbDouble

pytestmark = pytest.mark.integration


def test_wandb_runs_are_on_the_dashboard_with_their_curves(repo: Path, monkeypatch) -> None:
    from sweepops.results.live import Live

    with WandbDouble() as double:
        for key, value in double.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("WANDB_ENTITY", raising=False)
        env = {**double.env()}
        proc = run_sweepops(
            repo, "deploy", "base", "-e", "sweep_backend=wandb", "-e", "wandb_project=proj", env=env
        )
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
        (deploy,) = ledger.deploy_lines(repo)
        (sweep,) = deploy["sweeps"]
        deadline = time.monotonic() + 240
        while sum(r.state == "finished" for r in double.sweep_runs(sweep["id"])) < 6:
            assert time.monotonic() < deadline, "the wandb runs did not finish in time"
            time.sleep(1)
        live = Live(repo, [deploy])
        assert "local" not in live.hosts  # the sweep's directory holds no runs of its own
        live.refresh_wandb()
        view = json.loads(json.dumps(live.snapshot()))["experiments"][0]
        (progress,) = view["sweeps"]
        assert progress["host"] == "wandb" and progress["counts"]["finished"] == 6
        assert progress["counts"]["left"] == 0
        remote = {r.name: r for r in double.sweep_runs(sweep["id"])}
        assert {r["run_id"] for r in view["runs"]} == set(remote)
        for run in view["runs"]:
            xs, ys = run["curve"]
            assert len(xs) == 8 and ys[-1] == pytest.approx(
                remote[run["run_id"]].summary["val_loss"]
            )
        assert view["best"][0]["run_id"] == min(view["runs"], key=lambda r: r["metric"])["run_id"]
