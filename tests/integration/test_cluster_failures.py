"""Failures explain themselves, on the real Slurm test cluster.

A job whose runs die of an import error, one killed for memory (slurm.conf has
``JobAcctGatherParams=OverMemoryKill``) and one past its time limit: ``status`` names each
reason (Slurm's state and the log's last error line); ``logs`` shows the logs; ``deploy
--wait`` stops as soon as every job of a sweep has failed. Resources the partition cannot give
(``time`` above MaxTime, memory, CPUs, GRES) are refused before anything is made, naming the
value and the limit; a held job shows Slurm's pending reason.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from tests.clusterlib import Cluster
from tests.conftest import git, run_sweepops

pytestmark = [pytest.mark.cluster, pytest.mark.integration]

IMPORT_ERROR = "import nosuchmodule_sweepops_test\n"
HOG = """
import time
hog = b"x" * (900 * 1024 * 1024)  # written, so resident: 900 MB against --mem=400M
time.sleep(60)
"""
SLEEPER = "import time\ntime.sleep(600)\n"
MIXED = """
import sys, time
args = dict(a.lstrip("-").split("=", 1) for a in sys.argv[1:])
if args["fail"] == "1":
    import nosuchmodule_sweepops_test
time.sleep(float(args["sleep"]))
"""


def sweepops(repo: Path, cluster: Cluster, *args: str, timeout: float = 300):
    return run_sweepops(repo, *args, clusters=[cluster], timeout=timeout)


def experiment(repo: Path, name: str, program: str, body: str) -> None:
    (repo / "fail").mkdir(exist_ok=True)
    (repo / "fail" / f"{name}.py").write_text(program)
    (repo / "experiments" / f"{name}.yml").write_text(f"program: fail/{name}.py\n{body}")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", f"experiment {name}")


def deploys(repo: Path) -> list[dict]:
    path = repo / ".sweepops" / "ledger.jsonl"
    if not path.exists():
        return []
    return [r for r in map(json.loads, path.read_text().splitlines()) if "event" not in r]


def jobs_of(repo: Path, deploy_id: str) -> dict[str, str]:
    jobs: dict[str, str] = {}
    for rec in map(json.loads, (repo / ".sweepops" / "ledger.jsonl").read_text().splitlines()):
        if rec.get("event") == "submitted" and rec["deploy_id"] == deploy_id:
            for info in rec["clusters"].values():
                jobs.update(info["jobs"])
    return jobs


def wait_final(cluster: Cluster, job: str, timeout: float) -> set[str]:
    final = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"}
    deadline = time.monotonic() + timeout
    while True:
        states = set(cluster.ssh(f"sacct -X -n -P -j {job} -o State").stdout.split())
        states = {s for s in states if s != "by"} - {s for s in states if s.isdigit()}
        if states and states <= final:
            return states
        assert time.monotonic() < deadline, f"job {job} still {states} after {timeout}s"
        time.sleep(3)


# A 1-minute limit, without the preemption warning (USR1 120 s before the end, which would
# requeue the run and the task at once: a job is then never past its limit).
LATE = ["-e", "time=1", "-e", "preempt_signal_seconds=0"]


def test_status_and_logs_name_each_failure(repo, cluster):
    experiment(repo, "imperr", IMPORT_ERROR, "method: grid\nparameters:\n  x: [1, 2]\n_num_nodes: 1\n")
    experiment(repo, "hog", HOG, "method: grid\nparameters:\n  x: [1]\n_num_nodes: 1\n")
    experiment(repo, "late", SLEEPER, "method: grid\nparameters:\n  x: [1]\n_num_nodes: 1\n")
    on = f"clusters={cluster.name}"
    for name, extra in (("imperr", []), ("hog", ["-e", "mem=400M"]), ("late", LATE)):
        proc = sweepops(repo, cluster, "deploy", name, "-e", on, *extra)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    by_name = {d["experiment"]: d for d in deploys(repo)}
    job = {name: next(iter(jobs_of(repo, d["deploy_id"]).values())) for name, d in by_name.items()}
    assert wait_final(cluster, job["imperr"], 240) == {"FAILED"}
    # OverMemoryKill (no cgroups here) ends the job FAILED; cgroups would say OUT_OF_MEMORY
    assert wait_final(cluster, job["hog"], 240) & {"FAILED", "OUT_OF_MEMORY"}
    assert wait_final(cluster, job["late"], 300) == {"TIMEOUT"}

    # status: per failed run and job one line of reason; every run failed: exit 3.
    status = sweepops(repo, cluster, "status", "imperr")
    assert status.returncode == 3, status.stdout + status.stderr
    why = "ModuleNotFoundError: No module named 'nosuchmodule_sweepops_test'"
    # the same error on both points: said once, with the two runs
    run_lines = [ln for ln in status.stdout.splitlines() if ln.strip().startswith("2 runs (")]
    assert len(run_lines) == 1 and "failed (exit 1); " + why in run_lines[0], status.stdout
    assert f"job {job['imperr']}_1: FAILED (exit 1:0)" in status.stdout, status.stdout
    status = sweepops(repo, cluster, "status", "hog")
    line = next(ln for ln in status.stdout.splitlines() if f"job {job['hog']}_1:" in ln)
    assert ": killed for using more memory than `mem`" in line, status.stdout
    assert "memory limit" in line.split(";", 1)[1], line  # slurmstepd's line from the job log
    # what it used, from slurmstepd's figures (sacct -X has no MaxRSS here), and a mem to give
    assert re.search(
        r"it used \d+M: give it more, `sweepops retry hog --failed -e mem=\d+[MG]`$", line
    ), line
    status = sweepops(repo, cluster, "status", "late")
    line = next(ln for ln in status.stdout.splitlines() if f"job {job['late']}_1:" in ln)
    assert "TIMEOUT: killed at its time limit (`time`)" in line and "TIME LIMIT" in line, line
    as_json = json.loads(sweepops(repo, cluster, "status", "late", "--json").stdout)
    (host,) = as_json[0]["clusters"].values()
    assert host["jobs"][f"{job['late']}_1"]["state"] == "TIMEOUT"

    # logs: the listing, a run's log (the traceback) and a job's log, from the cluster.
    listing = sweepops(repo, cluster, "logs", "imperr")
    assert listing.returncode == 0, listing.stderr
    run_ids = [ln.split()[2] for ln in listing.stdout.splitlines() if " run " in ln]
    assert len(run_ids) == 2 and f"{job['imperr']}_1" in listing.stdout, listing.stdout
    log = sweepops(repo, cluster, "logs", "imperr", run_ids[0])
    assert log.returncode == 0, log.stderr
    assert "Traceback (most recent call last)" in log.stdout and why in log.stdout
    assert f"{cluster.name}-login:" in log.stderr and "(run " in log.stderr
    log = sweepops(repo, cluster, "logs", "late", job["late"], "-f")  # ended: -f returns
    assert log.returncode == 0 and "[sweepops]" in log.stdout and "TIME LIMIT" in log.stdout
    missing = sweepops(repo, cluster, "logs", "late", "nosuchrun")
    assert missing.returncode == 2 and "has no run or job 'nosuchrun'" in missing.stderr

    # The deploy recorded its inventory: without SWEEPOPS_INVENTORY status still finds it.
    alone = run_sweepops(repo, "status", "imperr")
    assert alone.returncode == 3 and why in alone.stdout, alone.stdout + alone.stderr


def test_wait_stops_when_every_job_of_a_sweep_failed(repo, cluster):
    experiment(
        repo,
        "mixed",
        MIXED,
        "method: grid\nparameters:\n  sleep: 600\n  subtests:\n"
        "    bad: {fail: 1, x: [1, 2]}\n    good: {fail: 0}\n_num_nodes: 1\n",
    )
    proc = sweepops(
        repo, cluster, "deploy", "mixed", "-e", f"clusters={cluster.name}", "--wait",
        "--timeout", "500", timeout=600,
    )
    try:
        assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr
        assert "every job of mixed_bad failed; stopped waiting" in proc.stderr, proc.stderr
        assert "No module named 'nosuchmodule_sweepops_test'" in proc.stderr, proc.stderr
        (deploy,) = deploys(repo)
        jobs = jobs_of(repo, deploy["deploy_id"])
        good = next(j for s, j in jobs.items() if s == deploy["sweeps"][1]["id"])
        # The other sweep's job is still at work: --wait did not wait for it.
        assert cluster.ssh(f"squeue -h -j {good} -o %T").stdout.split() == ["RUNNING"]
    finally:
        sweepops(repo, cluster, "cancel", "mixed")


def test_resources_the_partition_cannot_give_are_refused_first(repo, cluster):
    before = cluster.ssh("squeue --me -h -t all -o %A").stdout.split()
    sweeps_before = sorted((cluster.cluster_lab / "sweeps").glob("*"))
    proc = sweepops(
        repo, cluster, "deploy", "base", "-e", f"clusters={cluster.name}", "-e", "partition=cpu",
        "-e", "time=2-00:00:00", "-e", "mem=8G", "-e", "cpus_per_task=16", "-e", "gres=gpu:3",
    )
    assert proc.returncode != 0
    err = proc.stderr
    assert "time 2-00:00:00 is above the MaxTime of partition cpu (1-00:00:00)" in err, err
    assert "mem 8G is more than any node of partition cpu has (4000M)" in err, err
    assert "cpus_per_task 16 is more than any node of partition cpu has (4)" in err, err
    assert "gres gpu:3 asks for 3 gpu per job; the nodes of partition cpu have at most 2" in err
    assert "Nothing was created" in err and "deploy_id" not in err, err
    # nothing new submitted (ended jobs may age out of squeue meanwhile)
    after = cluster.ssh("squeue --me -h -t all -o %A").stdout.split()
    assert deploys(repo) == [] and set(after) - set(before) == set()
    assert sorted((cluster.cluster_lab / "sweeps").glob("*")) == sweeps_before


def test_pending_job_shows_slurms_reason(repo, cluster):
    proc = sweepops(
        repo, cluster, "deploy", "base", "-e", f"clusters={cluster.name}",
        "-e", 'extra_directives=["--hold"]',
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    try:
        (deploy,) = deploys(repo)
        (job,) = jobs_of(repo, deploy["deploy_id"]).values()
        status = sweepops(repo, cluster, "status", "base")
        assert status.returncode == 0, status.stdout + status.stderr
        assert "PENDING (JobHeldUser)" in status.stdout, status.stdout
        assert f"job {job}_[1-2]: PENDING (JobHeldUser)" in status.stdout, status.stdout
    finally:
        sweepops(repo, cluster, "cancel", "base")
