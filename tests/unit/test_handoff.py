"""The hand-off decision (compute_internet) and the cluster-side listing and marking of runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sweepops.remote import handoff
from sweepops.runtime.offline_sweep import DONE_STATES


def test_done_states_in_step_with_the_engine():
    assert set(handoff.DONE_STATES) == set(DONE_STATES)


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        (None, None),
        ("auto", None),
        ("", None),
        (True, True),
        ("yes", True),
        (False, False),
        ("False", False),
        ("no", False),
    ],
)
def test_parse_setting(value, parsed):
    assert handoff.parse_setting(value) is parsed


def test_parse_setting_refuses_nonsense():
    with pytest.raises(ValueError, match="true, false or auto"):
        handoff.parse_setting("sometimes")


def test_auto_reads_the_provisioning_probe(tmp_path: Path):
    (tmp_path / "atlas-login.json").write_text(
        json.dumps({"internet": False, "internet_probe_url": "https://pypi.org"})
    )
    (tmp_path / "babel-login.json").write_text(json.dumps({"internet": True}))
    (tmp_path / "kappa-login.json").write_text(json.dumps({"internet": None}))
    settings = {
        "atlas-login": "auto",
        "babel-login": "auto",
        "kappa-login": "auto",
        "gamma-login": "auto",  # never provisioned
        "delta-login": False,
        "echo-login": True,
    }
    hosts = handoff.handoff_hosts(settings, tmp_path)
    assert set(hosts) == {"atlas-login", "delta-login"}
    assert "pypi.org" in hosts["atlas-login"] and hosts["delta-login"] == "compute_internet: false"
    # an explicit setting wins over the probe
    assert handoff.handoff_hosts({"atlas-login": True}, tmp_path) == {}


def _run(sweep: Path, run_id: str, state: str, *, data: bool = True, ts: str = "20240101_000000"):
    (sweep / "runs").mkdir(parents=True, exist_ok=True)
    (sweep / "runs" / f"{run_id}.json").write_text(json.dumps({"id": run_id, "state": state}))
    if data:
        d = sweep / "wandb" / f"offline-run-{ts}-{run_id}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"run-{run_id}.wandb").write_bytes(b":W&B")
        return d
    return None


def test_pending_runs_lists_done_unsynced_runs(tmp_path: Path):
    sweep = tmp_path / "sw1"
    _run(sweep, "r1", "finished")
    _run(sweep, "r2", "failed")
    _run(sweep, "r3", "running")
    _run(sweep, "r4", "preempted")
    _run(sweep, "r5", "finished", data=False)
    _run(sweep, "r6", "stopped")
    # r1 was re-run after a preemption: the newest directory is the one that ended
    newest = _run(sweep, "r1", "finished", ts="20240102_000000")
    (sweep / "wandb" / "offline-run-20240101_000000-r6" / "run-r6.wandb.synced").touch()
    found = handoff.pending_runs(sweep)
    assert found["runs"] == [
        {"run_id": "r1", "dir": f"wandb/{newest.name}", "state": "finished"},
        {"run_id": "r2", "dir": "wandb/offline-run-20240101_000000-r2", "state": "failed"},
    ]
    assert (found["synced"], found["unfinished"], found["no_data"]) == (1, 2, ["r5"])


def test_pending_runs_of_a_missing_sweep_is_empty(tmp_path: Path):
    assert handoff.pending_runs(tmp_path / "nope")["runs"] == []


def test_mark_synced_once_with_wandbs_marker(tmp_path: Path):
    sweep = tmp_path / "sw1"
    d = _run(sweep, "r1", "finished")
    assert d is not None
    assert handoff.mark_synced(sweep, f"wandb/{d.name}", "r1", {"url": "u"})
    assert json.loads((d / "run-r1.wandb.synced").read_text())["url"] == "u"
    assert not handoff.mark_synced(sweep, f"wandb/{d.name}", "r1", {"url": "u"})
    assert handoff.pending_runs(sweep)["runs"] == [] and handoff.pending_runs(sweep)["synced"] == 1
    with pytest.raises(ValueError):
        handoff.mark_synced(sweep, "../../etc", "r1", {})
