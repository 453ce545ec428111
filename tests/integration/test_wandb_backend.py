"""Creating an experiment's sweeps on wandb (the protocol double, through the real SDK)."""

from __future__ import annotations

import json

import pytest

from sweepops.core.errors import SweepopsError
from sweepops.ops.create_sweeps import create_sweeps

pytestmark = pytest.mark.integration


def test_composite_makes_one_wandb_sweep_per_subtest(repo, double):
    record, changed = create_sweeps(
        "composite", root=repo, clusters=("atlas",), backend="wandb", project="proj"
    )
    assert changed and record["backend"] == "wandb" and record["project"] == "proj"
    assert record["entity"] == "sweepops-test"
    by_name = {s["name"]: s for s in record["sweeps"]}
    assert set(by_name) == {"composite_clean", "composite_noisy-regularised"}
    for s in record["sweeps"]:
        remote = double.sweeps[s["id"]]
        assert remote.config["name"] == s["wandb_name"]
        assert s["wandb_name"].startswith("composite_") and "-".join(s["tags"]) in s["wandb_name"]
        assert s["url"].endswith(f"/sweepops-test/proj/sweeps/{s['id']}")
        assert s["path"] == f"sweepops-test/proj/{s['id']}"
        assert s["run_env"]["WANDB_TAGS"] == ",".join(s["tags"])
        assert s["run_env"]["WANDB_RUN_GROUP"] == record["deploy_id"]
        assert s["meta"]["engine"] == "wandb"
    assert by_name["composite_noisy-regularised"]["tags"] == ["noisy", "regularised"]
    ledger = (repo / ".sweepops" / "ledger.jsonl").read_text()
    assert double.api_key not in ledger
    assert json.loads(ledger.splitlines()[0])["backend"] == "wandb"


def test_auto_picks_wandb_with_a_key_and_offline_without(repo, double, monkeypatch):
    record, _ = create_sweeps("base", root=repo, clusters=("atlas",), dry_run=True)
    assert record["backend"] == "wandb" and "auto" in record["backend_reason"]
    monkeypatch.delenv("WANDB_API_KEY")
    monkeypatch.setenv("NETRC", str(repo / "no-netrc"))
    monkeypatch.setenv("HOME", str(repo))
    record, _ = create_sweeps("base", root=repo, clusters=("atlas",), dry_run=True)
    assert record["backend"] == "offline" and "no wandb API key" in record["backend_reason"]
    with pytest.raises(SweepopsError, match="needs an API key"):
        create_sweeps("base", root=repo, clusters=("atlas",), backend="wandb")
    assert not double.sweeps


def test_wrong_entity_creates_nothing(repo, double):
    with pytest.raises(SweepopsError, match="entity nobody not found") as err:
        create_sweeps("composite", root=repo, clusters=("atlas",), backend="wandb", entity="nobody")
    assert "no sweep was created" in str(err.value) and double.api_key not in str(err.value)
    assert not double.sweeps
    assert not (repo / ".sweepops" / "ledger.jsonl").exists()


def test_mixing_online_and_offline_clusters_is_refused_before_anything(repo, double):
    mixed = {"atlas-login": True, "babel-login": False}
    with pytest.raises(SweepopsError, match="cannot mix clusters") as err:
        create_sweeps(
            "base",
            root=repo,
            clusters=("atlas", "babel"),
            backend="wandb",
            compute_internet=mixed,
        )
    assert "atlas-login" in str(err.value) and "babel-login" in str(err.value)
    assert not double.sweeps
    assert not (repo / ".sweepops" / "ledger.jsonl").exists()
    record, _ = create_sweeps(
        "base",
        root=repo,
        clusters=("babel",),
        backend="wandb",
        compute_internet={"babel-login": False},
    )
    assert list(record["handoff"]) == ["babel-login"] and double.sweeps


def test_local_executor_runs_the_real_wandb_agent(repo, double):
    """On this machine with the wandb backend, the local agents are `wandb agent`: the runs
    get the parameters the server handed out and carry the commit, tags and deploy group."""
    import subprocess
    import sys
    import time

    from tests.conftest import agent_env

    env = agent_env(**double.env(), ANSIBLE_NOCOLOR="1")
    env.pop("WANDB_ENTITY", None)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sweepops",
            "deploy",
            "composite",
            "-e",
            "sweep_backend=wandb",
            "-e",
            "wandb_project=proj",
        ],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
    record = json.loads((repo / ".sweepops" / "ledger.jsonl").read_text().splitlines()[0])
    assert record["backend"] == "wandb"
    expected = {s["id"]: s["runs"] for s in record["sweeps"]}
    deadline = time.monotonic() + 240
    while True:
        finished = {
            sid: [r for r in double.sweep_runs(sid) if r.state == "finished"] for sid in expected
        }
        if all(len(finished[sid]) == n for sid, n in expected.items()):
            break
        assert time.monotonic() < deadline, {sid: len(v) for sid, v in finished.items()}
        time.sleep(1)
    for s in record["sweeps"]:
        handed = double.handed_out(s["id"])
        for run in finished[s["id"]]:
            for key, value in handed[run.name].items():
                assert run.config[key] == value
            assert run.tags == s["tags"]
            assert run.group == record["deploy_id"]
            assert run.commit == record["commit"]
