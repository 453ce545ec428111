"""Bad nodes, on the real Slurm test cluster (issue 13; sweepops.remote.bad_nodes):

- a node taken down mid-run (``scontrol update nodename=... state=down``, as an administrator
  or a dying node would): Slurm ends the job there with NODE_FAIL and requeues it; the run
  it ran is resumed on the other node from its checkpoint, and the requeued job's agent
  excludes the failed node from the sweep;
- a node where every run fails (marked broken: its tasks cannot import wandb, as on a node
  whose software image lost a library; tests/cluster/lib.sh): after 3 failures in a row there,
  while runs finish on the other node, it is excluded, its failed runs run again on the other
  node, and ``status`` names it.

In both: 0 runs lost and 0 grid points finished twice (counted). Each job takes a whole node
(``cpus_per_task=4``), so the sweep's two agents run one on each node.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from tests.clusterlib import CLUSTER_DIR, Cluster
from tests.conftest import REPO, git
from tests.integration.test_cluster_no_run_lost import (
    add_experiment,
    ledger_lines,
    records,
    sweepops,
    wait_for,
)

pytestmark = [pytest.mark.cluster, pytest.mark.integration]

WHOLE_NODES = ("-e", "cpus_per_task=4", "-e", "agents_per_sweep=2")


def admin(cluster: Cluster, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """A command as the cluster's administrator (root inside its namespaces)."""
    proc = subprocess.run(
        [str(CLUSTER_DIR / "admin"), cluster.name, *argv], capture_output=True, text=True
    )
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def node(cluster: Cluster, n: int) -> str:
    return f"{cluster.name}-node0{n}"


def excluded(cluster: Cluster, sweep_id: str) -> dict[str, str]:
    path = cluster.cluster_lab / "sweeps" / sweep_id / "excluded_nodes"
    if not path.exists():
        return {}
    return {line.split("\t")[0]: line.split("\t")[2] for line in path.read_text().splitlines()}


def ran_on(run: dict) -> str:
    return run["agent"]["slurm"]["node"]


def deployed(repo: Path) -> tuple[dict, dict[str, str]]:
    (deploy,) = [r for r in ledger_lines(repo) if "sweeps" in r]
    jobs = {
        sid: j
        for r in ledger_lines(repo)
        if r.get("event") == "submitted"
        for info in r["clusters"].values()
        for sid, j in info["jobs"].items()
    }
    return deploy, jobs


# ---------------------------------------------------------------- a node taken down mid-run

CHECKPOINTED = """program: tests/programs/checkpointed.py
method: grid
parameters:
  steps: 30
  sleep: 1
  x: [1, 2]
"""


def steps(cluster: Cluster, sweep_id: str, run_id: str) -> list[list[str]]:
    path = cluster.cluster_lab / "sweeps" / sweep_id / "checkpoints" / run_id / "steps.log"
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def test_a_node_taken_down_mid_run_its_run_resumes_elsewhere_and_the_node_is_excluded(
    repo: Path, cluster: Cluster
):
    add_experiment(repo, "down", CHECKPOINTED)
    proc = sweepops(repo, cluster, "deploy", "down", "-e", f"clusters={cluster.name}",
                    *WHOLE_NODES, "-e", "deploy_id=down-1")  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
    deploy, jobs = deployed(repo)
    (sweep,) = deploy["sweeps"]
    sid, job = sweep["id"], jobs[sweep["id"]]

    def victim() -> dict | None:
        for run in records(cluster, sid):
            if run["state"] == "running" and ran_on(run) == node(cluster, 1):
                done = [s for s in steps(cluster, sid, run["id"]) if s[0] == "start"]
                ckpt = cluster.cluster_lab / "sweeps" / sid / "checkpoints" / run["id"]
                with contextlib.suppress(OSError, ValueError, KeyError):
                    step = json.loads((ckpt / "ckpt.json").read_text())["step"]
                    if done and step >= 5:
                        return run
        return None

    run = wait_for(victim, 300, f"a run on {node(cluster, 1)} with 5 steps checkpointed")
    try:
        admin(cluster, "scontrol", "update", f"nodename={node(cluster, 1)}", "state=down",
              "reason=sweepops-test")  # fmt: skip

        def node_failed() -> str | None:
            out = cluster.ssh(f"sacct -j {job} -D -X -n -P -o JobID,State", check=False).stdout
            rows = [line.split("|") for line in out.splitlines()]
            return next((r[0] for r in rows if r[1:] == ["NODE_FAIL"]), None)

        task = wait_for(node_failed, 120, "Slurm to end the job on the node with NODE_FAIL")
        # requeued after a node failure, a job waits (BeginTime) two minutes: now, please
        wait_for(
            lambda: cluster.ssh(f"scontrol update jobid={task} StartTime=now", check=False)
            .returncode == 0,
            60,
            f"{task} to be pending again",
        )
        wait_for(
            lambda: sum(r["state"] == "finished" for r in records(cluster, sid)) == 2,
            600,
            "both runs to finish",
        )
        wait_for(lambda: excluded(cluster, sid), 120, "the requeued job to exclude the node")
    finally:
        admin(cluster, "scontrol", "update", f"nodename={node(cluster, 1)}", "state=resume",
              check=False)  # fmt: skip
    runs = records(cluster, sid)
    points = Counter(r["params"]["x"]["value"] for r in runs)
    assert points == {1: 1, 2: 1}  # 0 lost, none finished twice
    moved = next(r for r in runs if r["id"] == run["id"])
    assert moved["state"] == "finished" and moved["attempt"] == 2, moved
    assert ran_on(moved) == node(cluster, 2)
    assert [a["state"] for a in moved["history_of_attempts"]] in (["preempted"], ["lost"])
    starts = [s for s in steps(cluster, sid, moved["id"]) if s[0] == "start"]
    assert [s[1] for s in starts] == [moved["id"]] * 2 and int(starts[1][3]) >= 5, starts
    assert [s for s in steps(cluster, sid, moved["id"]) if s[0] == "end"] == [
        ["end", moved["id"], "2", "30"]
    ]
    why = excluded(cluster, sid)
    assert list(why) == [node(cluster, 1)] and why[node(cluster, 1)].startswith("NODE_FAIL")
    status = sweepops(repo, cluster, "status", "down")
    assert f"node {node(cluster, 1)} excluded: NODE_FAIL" in status.stdout, status.stdout


# ---------------------------------------------------------------- a node where runs keep failing

BAD_NODE = """# wandb's example program, with more points
program: train.py
method: grid
metric:
  name: loss
  goal: minimize
parameters:
  learning_rate: [0.1, 0.05, 0.02, 0.01]
  optimizer: [adam, sgd]
"""


def test_a_node_where_runs_keep_failing_is_excluded_and_its_runs_finish_elsewhere(
    repo: Path, cluster: Cluster
):
    folder = repo / "examples" / "sweeps-basic"
    shutil.copytree(REPO / "tests" / "programs" / "wandb_example", folder)
    (folder / "eight.yaml").write_text(BAD_NODE)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a wandb example with eight points")
    exp = "examples/sweeps-basic/eight.yaml"
    broken = cluster.state / "cluster" / "broken" / node(cluster, 1)
    broken.touch()  # the administrator's view: node01 is broken (tests/cluster/lib.sh)
    try:
        proc = sweepops(repo, cluster, "deploy", exp, "-e", f"clusters={cluster.name}",
                        *WHOLE_NODES, "-e", "deploy_id=bad-1")  # fmt: skip
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
        deploy, _ = deployed(repo)
        (sweep,) = deploy["sweeps"]
        sid = sweep["id"]
        wait_for(
            lambda: sum(r["state"] == "finished" for r in records(cluster, sid)) == 8,
            900,
            "all eight points to finish",
        )
    finally:
        broken.unlink()
    runs = records(cluster, sid)
    points = Counter((r["params"]["learning_rate"]["value"], r["params"]["optimizer"]["value"])
                     for r in runs)  # fmt: skip
    assert len(points) == 8 and set(points.values()) == {1}  # 0 lost, none finished twice
    assert {ran_on(r) for r in runs} == {node(cluster, 2)}  # every finished attempt
    again = [r for r in runs if r["attempt"] > 1]
    assert len(again) >= 3, [(r["id"], r["attempt"]) for r in runs]
    for run in again:
        (before,) = run["history_of_attempts"]
        assert before["state"] == "failed" and ran_on(before) == node(cluster, 1)
        assert "libstdc++.so.6: cannot open shared object file" in before["reason"]
        assert before["requeued_because"].startswith(f"node {node(cluster, 1)} excluded")
    why = excluded(cluster, sid)
    assert list(why) == [node(cluster, 1)]
    assert why[node(cluster, 1)].startswith("3 runs failed in a row there")
    status = sweepops(repo, cluster, "status", exp)  # exit 1: node01's job failed, truly
    assert f"node {node(cluster, 1)} excluded: 3 runs failed in a row" in status.stdout
    assert "done 8" in status.stdout, status.stdout
