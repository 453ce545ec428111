"""`sweepops dashboard EXP --port 0`: the command serves the page and its data on 127.0.0.1
(the URL it prints), for a local deploy's sweep, until interrupted."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request

import pytest

from sweepops.records import ledger
from tests.conftest import agent_env

pytestmark = pytest.mark.integration


def test_the_command_serves_the_page_on_loopback(tmp_path):
    root = tmp_path
    (root / "experiments").mkdir()
    (root / "experiments" / "e.yml").write_text("program: x.py\n")
    sweep = root / ".sweepops" / "lab" / "sweeps" / "s1"
    (sweep / "runs").mkdir(parents=True)
    meta = {
        "id": "s1",
        "name": "e",
        "tags": [],
        "config": {
            "method": "grid",
            "metric": {"name": "loss", "goal": "minimize"},
            "parameters": {"lr": {"values": [0.1, 0.2]}},
        },
    }
    (sweep / "sweep.json").write_text(json.dumps(meta))
    history = [{"_step": i, "loss": 1 / (i + 1)} for i in range(5)]
    (sweep / "runs" / "r1.json").write_text(
        json.dumps(
            {
                "id": "r1",
                "state": "finished",
                "params": {"lr": {"value": 0.1}},
                "summary": {"loss": 0.2},
                "history": history,
            }
        )
    )
    ledger.append(
        root,
        {
            "deploy_id": "d1",
            "experiment": "e",
            "experiment_path": str((root / "experiments" / "e.yml").resolve()),
            "sweeps": [
                {
                    "id": "s1",
                    "name": "e",
                    "tags": [],
                    "agents": 1,
                    "runs": 2,
                    "meta": meta,
                    "dir": str(sweep),
                }
            ],
        },
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "sweepops", "--root", str(root), "dashboard", "e", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=agent_env(),
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("sweepops dashboard: http://127.0.0.1:"), line + proc.stderr.read()
        url = line.split()[2]
        page = urllib.request.urlopen(url, timeout=10).read().decode()
        # everything the page loads is served here: no address elsewhere
        assert '<script src="/static/uPlot.iife.min.js">' in page and "://" not in page
        script = urllib.request.urlopen(url + "static/dashboard.js").read().decode()
        assert "fetch(`/api/state" in script and "://" not in script
        assert len(urllib.request.urlopen(url + "static/uPlot.iife.min.js").read()) > 40_000
        for _ in range(50):
            state = json.loads(urllib.request.urlopen(url + "api/state", timeout=10).read())
            if state["experiments"][0]["runs"]:
                break
        (run,) = state["experiments"][0]["runs"]
        assert run["run_id"] == "r1" and run["curve"] == [
            [0, 1, 2, 3, 4],
            [1, 0.5, 1 / 3, 0.25, 0.2],
        ]
        (progress,) = state["experiments"][0]["sweeps"]
        assert progress["counts"]["finished"] == 1 and progress["counts"]["left"] == 1
        same = json.loads(
            urllib.request.urlopen(f"{url}api/state?version={state['version']}").read()
        )
        assert same["same"]  # nothing changed: no data sent again
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
