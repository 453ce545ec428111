"""Resume instead of restart, on the real Slurm test cluster: a checkpointing program
(tests/programs/checkpointed.py) whose job is requeued with ``scontrol requeue`` mid-run
finishes with the same run id, its step counter continuing from its checkpoint in
$SWEEPOPS_RUN_DIR, under WANDB_RESUME=allow; 0 runs lost, 0 points finished twice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.clusterlib import Cluster
from tests.integration.test_cluster_no_run_lost import (
    add_experiment,
    ledger_lines,
    records,
    sweepops,
    wait_for,
)

pytestmark = [pytest.mark.cluster, pytest.mark.integration]

CHECKPOINTED = """program: tests/programs/checkpointed.py
method: grid
parameters:
  steps: 40
  sleep: 1
  x: [1]
"""


def steps_log(cluster: Cluster, sweep_id: str, run_id: str) -> list[list[str]]:
    path = cluster.cluster_lab / "sweeps" / sweep_id / "checkpoints" / run_id / "steps.log"
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def checkpoint(cluster: Cluster, sweep_id: str) -> int:
    for ckpt in (cluster.cluster_lab / "sweeps" / sweep_id / "checkpoints").glob("*/ckpt.json"):
        try:
            return int(json.loads(ckpt.read_text())["step"])
        except (OSError, ValueError):
            return 0
    return 0


def test_a_requeued_checkpointing_run_continues_from_its_checkpoint(repo: Path, cluster: Cluster):
    add_experiment(repo, "ckpt", CHECKPOINTED)
    proc = sweepops(
        repo, cluster, "deploy", "ckpt", "-e", f"clusters={cluster.name}", "-e", "deploy_id=ckpt-1"
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
    (deploy,) = [r for r in ledger_lines(repo) if "sweeps" in r]
    (sweep,) = deploy["sweeps"]
    (job,) = {
        j
        for r in ledger_lines(repo)
        if r.get("event") == "submitted"
        for info in r["clusters"].values()
        for j in info["jobs"].values()
    }
    wait_for(lambda: checkpoint(cluster, sweep["id"]) >= 5, 300, "5 steps checkpointed")
    cluster.ssh(f"scontrol requeue {job}")
    wait_for(
        lambda: any(r["state"] == "finished" for r in records(cluster, sweep["id"])),
        600,
        "the requeued run to finish",
    )
    (run,) = records(cluster, sweep["id"])  # one run: 0 lost, no second one for the point
    assert run["state"] == "finished" and run["attempt"] == 2, run
    (before,) = run["history_of_attempts"]
    assert before["state"] == "preempted" and before["attempt"] == 1
    log = steps_log(cluster, sweep["id"], run["id"])
    starts = [x for x in log if x[0] == "start"]
    ends = [x for x in log if x[0] == "end"]
    assert [s[1] for s in starts] == [run["id"], run["id"]]  # the same run id
    assert [s[2] for s in starts] == ["1", "2"]
    assert starts[0][3] == "0" and int(starts[1][3]) >= 5  # continued from the checkpoint
    assert {s[4] for s in starts} == {"allow"}
    assert ends == [["end", run["id"], "2", "40"]]  # finished once
    status = sweepops(repo, cluster, "status", "ckpt")
    assert "done 1" in status.stdout, status.stdout


LONG = """program: tests/programs/checkpointed.py
method: grid
parameters:
  steps: 60
  sleep: 1
  x: [1]
"""


def test_a_checkpointing_run_past_its_time_limit_is_resumed_in_the_requeued_job(
    repo: Path, cluster: Cluster
):
    # time 2 min, the warning 60 s before it: the run (60 s of steps) is cut at its time
    # limit's warning, its job requeued (max_requeues), and it goes on from its checkpoint
    add_experiment(repo, "late", LONG.replace("x: [1]", "x: [2]"))
    proc = sweepops(
        repo, cluster, "deploy", "late", "-e", f"clusters={cluster.name}",
        "-e", "time=00:02:00", "-e", "preempt_signal_seconds=60", "-e", "max_requeues=6",
        "-e", "deploy_id=late-1",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
    (deploy,) = [r for r in ledger_lines(repo) if "sweeps" in r]
    (sweep,) = deploy["sweeps"]
    wait_for(
        lambda: any(r["state"] == "finished" for r in records(cluster, sweep["id"])),
        900,
        "the run cut at its time limit to finish",
    )
    (run,) = records(cluster, sweep["id"])  # one run: 0 lost, no second one for the point
    assert run["state"] == "finished" and run["attempt"] >= 2, run
    assert {a["state"] for a in run["history_of_attempts"]} == {"preempted"}
    log = steps_log(cluster, sweep["id"], run["id"])
    starts = [x for x in log if x[0] == "start"]
    ends = [x for x in log if x[0] == "end"]
    assert {s[1] for s in starts} == {run["id"]} and len(starts) == run["attempt"]
    assert starts[0][3] == "0" and all(int(s[3]) > 0 for s in starts[1:]), starts
    assert ends == [["end", run["id"], str(run["attempt"]), "60"]]  # finished once
    status = sweepops(repo, cluster, "status", "late")
    assert "done 1" in status.stdout and "attempt(s) resumed" in status.stdout, status.stdout
