"""No run lost, none run twice, no deploy submitted twice — on the real Slurm test cluster.

Counts come from the run records on the cluster's disk, from the program's own log of every
start and completion (tests/programs/counted.py, ``count.log`` in the sweep directory) and
from Slurm (jobs carrying the deploy's comment).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.clusterlib import Cluster
from tests.conftest import agent_env, git, run_sweepops
from tests.conftest import executions as count_log

pytestmark = [pytest.mark.cluster, pytest.mark.integration]


def sweepops(repo: Path, cluster: Cluster, *args: str, timeout: float = 600):
    return run_sweepops(repo, *args, clusters=[cluster], timeout=timeout)


def start_sweepops(repo: Path, cluster: Cluster, *args: str) -> subprocess.Popen:
    env = agent_env(ANSIBLE_NOCOLOR="1", SWEEPOPS_INVENTORY=str(cluster.inventory))
    return subprocess.Popen(
        [sys.executable, "-m", "sweepops", *args],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def ledger_lines(repo: Path) -> list[dict]:
    path = repo / ".sweepops" / "ledger.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def add_experiment(repo: Path, name: str, body: str) -> None:
    (repo / "experiments" / f"{name}.yml").write_text(body)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", f"experiment {name}")


def records(cluster: Cluster, sweep_id: str) -> list[dict]:
    runs = cluster.cluster_lab / "sweeps" / sweep_id / "runs"
    return [json.loads(p.read_text()) for p in runs.glob("*.json")]


def executions(cluster: Cluster, sweep_id: str) -> tuple[Counter, Counter]:
    return count_log(cluster.cluster_lab / "sweeps" / sweep_id / "count.log")


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def jobs_with_comment(cluster: Cluster, comment: str) -> set[str]:
    rows = cluster.ssh("squeue --me -h -t all -o '%F|%k'").stdout.split()
    return {row.split("|")[0] for row in rows if row.split("|", 1)[1:] == [comment]}


COUNTED = """program: tests/programs/counted.py
method: grid
parameters:
  x: [a, b, c]
  sleep: 1
_num_nodes: 2
"""


def test_one_deploy_id_from_two_shells_submits_once(repo, cluster):
    add_experiment(repo, "counted", COUNTED)
    args = ("deploy", "counted", "-e", f"clusters={cluster.name}", "-e", "deploy_id=twice-1")
    shells = [start_sweepops(repo, cluster, *args) for _ in range(2)]
    outs = [p.communicate(timeout=900)[0] for p in shells]
    for p, out in zip(shells, outs, strict=True):
        assert p.returncode == 0, out[-4000:]
    deploys = [r for r in ledger_lines(repo) if "sweeps" in r]
    assert [d["deploy_id"] for d in deploys] == ["twice-1"]  # one record, one set of sweeps
    (sweep,) = deploys[0]["sweeps"]
    jobs = {
        job
        for r in ledger_lines(repo)
        if r.get("event") == "submitted"
        for info in r["clusters"].values()
        for job in info["jobs"].values()
    }
    assert len(jobs) == 1
    assert jobs_with_comment(cluster, f"sweepops:twice-1:{sweep['id']}") == jobs  # 1 job
    wait_for(
        lambda: sum(r["state"] == "finished" for r in records(cluster, sweep["id"])) == 3,
        600,
        "the 3 runs to finish",
    )
    starts, ends = executions(cluster, sweep["id"])
    assert ends == Counter({"a": 1, "b": 1, "c": 1})  # expected 3, none twice
    assert sum(starts.values()) == 3
    assert len(records(cluster, sweep["id"])) == 3  # lost 0
    # no .incoming-* left behind by the two syncs
    assert not list((cluster.cluster_lab / "code").glob(".incoming-*"))
    assert not list((cluster.cluster_lab / "agent").glob(".incoming-*"))
    # A record truncated on the cluster after a fetch: results keep the good cached copy.
    first = sweepops(repo, cluster, "results", "counted", "--json")
    assert first.returncode == 0, first.stderr
    assert sorted(r["state"] for r in json.loads(first.stdout)) == ["finished"] * 3
    victim = next((cluster.cluster_lab / "sweeps" / sweep["id"] / "runs").glob("*.json"))
    victim.write_text(victim.read_text()[:30])
    second = sweepops(repo, cluster, "results", "counted", "--json")
    assert second.returncode == 0, second.stderr
    assert sorted(r["state"] for r in json.loads(second.stdout)) == ["finished"] * 3
    assert f"{victim.name} cannot be read on the cluster" in second.stderr
    assert "keeping the last good copy" in second.stderr
    # The same commit and experiment again, without an id: refused, naming the deploy.
    again = sweepops(repo, cluster, "deploy", "counted", "-e", f"clusters={cluster.name}")
    assert again.returncode != 0
    assert "deploy twice-1" in again.stdout + again.stderr
    assert "allow_duplicate=true" in again.stdout + again.stderr
    assert [r["deploy_id"] for r in ledger_lines(repo) if "sweeps" in r] == ["twice-1"]


STRANDED = """program: tests/programs/counted.py
method: grid
parameters:
  x: [a, b]
  sleep: 20
_num_nodes: 1
"""


def _slurmctld_pid(cluster: Cluster) -> int:
    pid = int((cluster.state / "pids" / "slurmctld.pid").read_text().split()[0])
    ns = (cluster.state / "mntns.id").read_text().strip()
    assert os.readlink(f"/proc/{pid}/ns/mnt") == ns or ns in os.readlink(f"/proc/{pid}/ns/mnt")
    return pid


def test_a_run_stranded_by_a_killed_job_is_named_and_finished_by_the_printed_command(repo, cluster):
    add_experiment(repo, "stranded", STRANDED)
    proc = sweepops(
        repo,
        cluster,
        "deploy",
        "stranded",
        "-e",
        f"clusters={cluster.name}",
        "-e",
        "deploy_id=strand-1",
        "-e",
        "agent_lease_seconds=5",
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
    (deploy,) = [r for r in ledger_lines(repo) if "sweeps" in r]
    (sweep,) = deploy["sweeps"]
    (by_hand,) = [line for line in proc.stdout.splitlines() if "by hand: ssh" in line]
    assert f"{cluster.user}@{cluster.host}" in by_hand  # the deploy's own login, not root
    command = f"bash {cluster.lab}/deploys/strand-1/{sweep['id']}.sbatch"
    assert command in by_hand
    wait_for(lambda: sum(executions(cluster, sweep["id"])[0].values()) == 1, 300, "a start")
    # The job's agent and run die with SIGKILL (as a node's OOM killer would): Slurm does
    # not requeue it, and no other agent is left.
    (job,) = {
        j
        for r in ledger_lines(repo)
        if r.get("event") == "submitted"
        for info in r["clusters"].values()
        for j in info["jobs"].values()
    }
    cluster.ssh(f"scancel --signal=KILL --full {job}")
    wait_for(
        lambda: not cluster.ssh(f"squeue -h -j {job} -o %T", check=False).stdout.strip(),
        120,
        "the job to end",
    )
    time.sleep(6)  # the run's 5 s lease lapses
    status = sweepops(repo, cluster, "status", "stranded")
    # exit 1: the SIGKILLed job counts as failed (issue 16's exit codes), a run still waits
    assert status.returncode == 1, status.stdout + status.stderr
    (line,) = [x for x in status.stdout.splitlines() if "STRANDED" in x]
    assert "1 run(s)" in line and command in line and f"{cluster.user}@{cluster.host}" in line
    # slurmctld stopped: status warns that job states may be stale
    pid = _slurmctld_pid(cluster)
    os.kill(pid, signal.SIGSTOP)
    try:
        stale = sweepops(repo, cluster, "status", "stranded", timeout=300)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert "the Slurm controller did not answer" in stale.stdout, stale.stdout + stale.stderr
    # The printed command (the job's own script, run by hand) finishes the stranded run.
    done = cluster.ssh(command, timeout=600)
    assert "nothing left to run" in done.stdout + done.stderr, done.stdout + done.stderr
    runs = records(cluster, sweep["id"])
    starts, ends = executions(cluster, sweep["id"])
    assert len(runs) == 2 and all(r["state"] == "finished" for r in runs)  # expected 2, lost 0
    assert ends == Counter({"a": 1, "b": 1})  # none twice
    final = sweepops(repo, cluster, "status", "stranded")
    assert "STRANDED" not in final.stdout and "done 2" in final.stdout, final.stdout


def _deploy_dirs(cluster: Cluster) -> set[str]:
    deploys = cluster.cluster_lab / "deploys"
    return {d.name for d in deploys.iterdir()} if deploys.is_dir() else set()


def test_time_within_the_preemption_warning_is_refused_before_anything_is_made(repo, cluster):
    add_experiment(repo, "counted", COUNTED)
    before = _deploy_dirs(cluster)
    proc = sweepops(
        repo, cluster, "deploy", "counted", "-e", f"clusters={cluster.name}", "-e", "time=00:02:00"
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "time 00:02:00 (120 s) leaves 0 s" in out and "preempt_signal_seconds 120" in out
    assert "nothing was created" in out
    path = repo / ".sweepops" / "ledger.jsonl"
    assert not path.exists() or not [r for r in ledger_lines(repo) if "sweeps" in r]
    assert _deploy_dirs(cluster) == before  # nothing submitted


def test_deploy_with_the_controller_stopped_says_so_and_submits_nothing(repo, cluster):
    add_experiment(repo, "counted", COUNTED)
    before = set(cluster.ssh("squeue --me -h -t all -o %A", check=False).stdout.split())
    pid = _slurmctld_pid(cluster)
    os.kill(pid, signal.SIGSTOP)
    try:
        proc = sweepops(repo, cluster, "deploy", "counted", "-e", f"clusters={cluster.name}")
    finally:
        os.kill(pid, signal.SIGCONT)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "the Slurm controller (slurmctld) does not answer" in out, out[-3000:]
    assert "is this the login host" not in out
    assert "Slurm refuses" not in out and "would refuse" not in out
    path = repo / ".sweepops" / "ledger.jsonl"
    assert not path.exists() or not [r for r in ledger_lines(repo) if "sweeps" in r]
    after = wait_for(
        lambda: cluster.ssh("squeue --me -h -t all -o %A", check=False),
        60,
        "squeue to answer again",
    )
    # No job submitted: no id that was not there before (jobs of earlier tests may have
    # aged out of squeue's list meanwhile, MinJobAge, so the sets need not be equal).
    assert not set(after.stdout.split()) - before


def _agent_pids(sweep_id: str) -> list[int]:
    """The ``sweepops agent`` processes of a sweep (the cluster shares this machine's pids)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"agent" in argv and any(a.endswith(f"/sweeps/{sweep_id}".encode()) for a in argv):
            pids.append(int(proc.name))
    return sorted(pids)


BIG_GRID = """program: tests/programs/counted.py
method: grid
parameters:
  x:
    values: [{points}]
_num_nodes: 16
"""


def test_sixteen_agents_two_killed_midway_every_point_of_a_512_point_grid_finishes_once(
    repo, cluster
):
    # Issue 17: 16 agents (an array of 16) claim through the run index; two agents are
    # killed -9 midway; their runs' leases lapse and are run again: every point once.
    points = [f"p{i:03d}" for i in range(512)]
    add_experiment(repo, "big", BIG_GRID.format(points=", ".join(points)))
    proc = sweepops(
        repo, cluster, "deploy", "big", "-e", f"clusters={cluster.name}",
        "-e", "deploy_id=big-1", "-e", "agent_lease_seconds=5",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
    (deploy,) = [r for r in ledger_lines(repo) if "sweeps" in r]
    (sweep,) = deploy["sweeps"]
    wait_for(lambda: sum(executions(cluster, sweep["id"])[1].values()) >= 120, 900, "120 runs")
    victims = wait_for(lambda: _agent_pids(sweep["id"])[:2], 120, "two agents")
    assert len(victims) == 2
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    wait_for(
        lambda: sum(r["state"] == "finished" for r in records(cluster, sweep["id"])) >= 512,
        1800,
        "the 512 runs to finish",
    )
    wait_for(lambda: not _agent_pids(sweep["id"]), 300, "the agents to exit")
    runs = records(cluster, sweep["id"])
    finished = Counter(r["params"]["x"]["value"] for r in runs if r["state"] == "finished")
    assert len(runs) == 512 and finished == Counter(points)  # each point once, none lost
    starts, ends = executions(cluster, sweep["id"])
    assert set(ends) == set(points)
    assert sum(starts.values()) - 512 <= 2  # only the killed agents' runs started again
    assert (cluster.cluster_lab / "sweeps" / sweep["id"] / "index.jsonl").exists()
