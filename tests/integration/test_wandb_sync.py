"""`sweepops sync` on this machine: real offline runs (the real `sweepops agent` and wandb SDK)
uploaded with the real `wandb sync` to the wandb double, each once, attached to its sweep.

The cluster side (playbooks/sync.yml: the sweepops_handoff module and rsync) is replaced by
a function that does the same on a local "cluster" directory; tests/integration/
test_cluster_handoff.py runs the real thing on the Slurm test cluster.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sweepops.core.errors import SweepopsError
from sweepops.core.progress import Progress
from sweepops.ops.create_sweeps import create_sweeps
from sweepops.records import ledger
from sweepops.remote import handoff
from sweepops.results import sync as wandb_sync
from sweepops.runtime.offline_sweep import OfflineSweep
from tests.conftest import REPO, agent_env, git
from tests.wandb_double import WandbDouble

pytestmark = pytest.mark.integration

EXPERIMENT = """\
program: experiments/train.py
method: grid
metric: {name: val_loss, goal: minimize}
parameters:
  epochs: 2
  subtests:
    "a": {lr: [0.1]}
    "b,slow": {lr: [0.2, 0.3]}
_num_nodes: 1
"""
HOST = "fake-login"


class FakeCluster:
    """What playbooks/sync.yml does on a cluster, on a local lab root (same module code)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, root: Path, extravars: dict[str, Any]) -> dict[str, dict[str, Any]]:
        self.calls.append(extravars)
        out = {}
        for host, t in extravars["sweepops_targets"].items():
            dirs = {sid: Path(t["lab_root"]) / "sweeps" / sid for sid in t["sweep_ids"]}
            if "mark" in t:
                marked = [
                    m["run_id"]
                    for m in t["mark"]
                    if handoff.mark_synced(dirs[m["sweep_id"]], m["dir"], m["run_id"], m)
                ]
                out[host] = {"marked": marked}
                continue
            sweeps = {sid: handoff.pending_runs(d) for sid, d in dirs.items()}
            for sid, found in sweeps.items():
                for run in found["runs"]:
                    shutil.copytree(
                        dirs[sid] / run["dir"],
                        Path(t["dest"]) / sid / run["dir"],
                        dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("*.synced"),
                    )
            out[host] = {"sweeps": sweeps, "live_jobs": 0}
        return out


@pytest.fixture
def handed_off(repo: Path, double: WandbDouble, tmp_path: Path) -> dict[str, Any]:
    """A deploy of a two-sweep experiment to a cluster without internet, its runs done by the
    real offline agent on the 'cluster' disk."""
    (repo / "experiments" / "handoff.yml").write_text(EXPERIMENT)
    git(repo, "add", "experiments")
    git(repo, "commit", "-qm", "handoff experiment")
    deploy, _ = create_sweeps(
        "handoff",
        root=repo,
        clusters=(HOST,),
        backend="wandb",
        project="proj",
        compute_internet={HOST: False},
    )
    assert set(deploy["handoff"]) == {HOST} and "sweepops sync handoff" in deploy["backend_reason"]
    lab = tmp_path / "cluster-lab"
    env = agent_env()
    for key in [k for k in env if k.startswith("WANDB_")]:
        env.pop(key)  # the compute nodes know no server and no key
    env.update(WANDB_ERROR_REPORTING="false", WANDB_SILENT="true", HOME=str(tmp_path))
    for s in deploy["sweeps"]:
        sweep = OfflineSweep.create_from_meta(lab / "sweeps", s["meta"])
        assert sweep.id == s["id"]  # the wandb sweep's id
        agent = subprocess.run(
            [sys.executable, "-m", "sweepops", "agent", str(sweep.path), "--code-dir", str(repo)],
            env=env,
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert agent.returncode == 0, agent.stdout[-3000:] + agent.stderr[-3000:]
    ledger.record_submission(repo, deploy["deploy_id"], {HOST: {"lab_root": str(lab), "jobs": {}}})
    assert not double.runs  # nothing reached the server from the "compute nodes"
    return {"deploy": deploy, "lab": lab}


def test_sync_uploads_each_finished_run_once_attached_to_its_sweep(
    repo: Path, double: WandbDouble, handed_off: dict[str, Any]
):
    deploy, lab = handed_off["deploy"], handed_off["lab"]
    commit = git(repo, "rev-parse", "HEAD").strip()
    ids = {s["id"]: s for s in deploy["sweeps"]}
    # one run is still running: left for later
    late_sweep = deploy["sweeps"][1]["id"]
    (late_record,) = sorted((lab / "sweeps" / late_sweep / "runs").glob("*.json"))[:1]
    done_text = late_record.read_text()
    late_record.write_text(done_text.replace('"state": "finished"', '"state": "running"'))

    cluster = FakeCluster()
    stream = io.StringIO()
    report = wandb_sync.sync_once(
        repo, [deploy], playbook=cluster, progress=Progress("sync", stream=stream, tty=False)
    )
    assert report.ok, report.lines()
    assert (len(report.uploaded), report.unfinished, report.already) == (2, 1, 0)
    assert "0/2 run(s) pulled from fake-login" in stream.getvalue()
    assert "2/2 uploaded to sweepops-test/proj" in stream.getvalue()
    for run in double.runs.values():
        assert run.sweep in ids and run.state == "finished" and run.completions == 1
        spec = ids[run.sweep]
        assert sorted(run.tags) == sorted(spec["tags"])
        assert run.group == deploy["deploy_id"] and run.commit == commit
        assert run.entity == double.entity and run.project == "proj"
        assert "val_loss" in run.summary
    assert sorted(double.runs) == sorted(report.uploaded)
    # marked on the cluster with wandb's own marker
    assert sorted(p.name for p in lab.glob("sweeps/*/wandb/offline-run-*/*.synced")) == sorted(
        f"run-{r}.wandb.synced" for r in report.uploaded
    )

    # the late run finishes; the next sync uploads it and only it
    late_record.write_text(done_text)
    report = wandb_sync.sync_once(repo, [deploy], playbook=cluster)
    assert report.ok and len(report.uploaded) == 1 and report.already == 2
    assert len(double.runs) == 3 and all(r.completions == 1 for r in double.runs.values())

    # a sync whose marking on the cluster was lost marks it then, uploading nothing again
    (marker,) = lab.glob(f"sweeps/*/wandb/offline-run-*/run-{report.uploaded[0]}.wandb.synced")
    marker.unlink()
    before = [c.operation for c in double.calls]
    report = wandb_sync.sync_once(repo, [deploy], playbook=cluster)
    assert report.ok and report.uploaded == [] and len(report.marked_only) == 1
    assert marker.exists()
    after = [c.operation for c in double.calls][len(before) :]
    assert after == ["Viewer"]  # only the reachability check: nothing uploaded

    # and once everything is marked, nothing is pulled or uploaded
    report = wandb_sync.sync_once(repo, [deploy], playbook=cluster)
    assert (report.uploaded, report.marked_only, report.already) == ([], [], 3)
    assert report.finished
    for path in [*(repo / ".sweepops").rglob("*"), *lab.rglob("*")]:
        if path.is_file():
            assert double.api_key.encode() not in path.read_bytes(), path


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _elsewhere(deploy: dict[str, Any], url: str) -> dict[str, Any]:
    sweeps = [{**s, "base_url": url} for s in deploy["sweeps"]]
    return {**deploy, "base_url": url, "sweeps": sweeps}


def test_sync_with_the_server_unreachable_uploads_and_marks_nothing(
    repo: Path, double: WandbDouble, handed_off: dict[str, Any], monkeypatch
):
    url = f"http://127.0.0.1:{_closed_port()}"
    cluster = FakeCluster()
    with pytest.raises(SweepopsError, match="unreachable.*nothing was uploaded and no run"):
        wandb_sync.sync_once(repo, [_elsewhere(handed_off["deploy"], url)], playbook=cluster)
    assert cluster.calls == [] and not double.runs
    assert not list(handed_off["lab"].glob("sweeps/*/wandb/offline-run-*/*.synced"))

    monkeypatch.delenv("WANDB_API_KEY")
    monkeypatch.setenv("NETRC", str(repo / "no-netrc"))
    with pytest.raises(SweepopsError, match="needs an API key"):
        wandb_sync.sync_once(repo, [handed_off["deploy"]], playbook=cluster)
    assert cluster.calls == [] and not double.runs


def test_sweep_creation_with_the_server_unreachable_creates_nothing(repo: Path, double):
    url = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(SweepopsError, match="unreachable.*no sweep was created, no job"):
        create_sweeps("composite", root=repo, clusters=("atlas",), backend="wandb", base_url=url)
    assert not (repo / ".sweepops" / "ledger.jsonl").exists()


def test_sync_command_says_when_there_is_nothing_to_sync(repo: Path, double):
    create_sweeps("composite", root=repo, clusters=("atlas",), backend="wandb", project="p")
    proc = subprocess.run(
        [sys.executable, "-m", "sweepops", "sync", "composite"],
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "nothing to sync" in proc.stdout


def test_auto_follows_what_provisioning_found(repo: Path, double):
    facts = repo / ".sweepops" / "facts"
    facts.mkdir(parents=True)
    (facts / "atlas-login.json").write_text('{"internet": false}')
    (facts / "babel-login.json").write_text('{"internet": true}')
    record, _ = create_sweeps(
        "composite",
        root=repo,
        clusters=("atlas",),
        backend="wandb",
        dry_run=True,
        compute_internet={"atlas-login": "auto"},
    )
    assert list(record["handoff"]) == ["atlas-login"]
    assert "provisioning found" in record["handoff"]["atlas-login"]
    record, _ = create_sweeps(
        "composite",
        root=repo,
        clusters=("babel",),
        backend="wandb",
        dry_run=True,
        compute_internet={"babel-login": "auto"},
    )
    assert record["handoff"] == {}
    # both in one wandb deploy: refused (the online one would run the offline one's points)
    with pytest.raises(SweepopsError, match="cannot mix clusters"):
        create_sweeps(
            "composite",
            root=repo,
            clusters=("atlas", "babel"),
            backend="wandb",
            dry_run=True,
            compute_internet={"atlas-login": "auto", "babel-login": "auto"},
        )
