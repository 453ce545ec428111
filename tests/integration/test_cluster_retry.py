"""``sweepops retry`` on the real Slurm test cluster: a program that fails on some points once;
``retry --failed -e time=…`` marks exactly those on the cluster's disk, submits the sweep's
job script again (its job ended), and the runs finish as second attempts of the same runs.
0 runs lost and 0 grid points finished twice, counted from the run records, the program's own
log of every start and end, and Slurm."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from tests.integration.test_cluster_no_run_lost import (
    add_experiment,
    executions,
    ledger_lines,
    records,
    sweepops,
)

pytestmark = [pytest.mark.cluster, pytest.mark.integration]

FAILS_ONCE = """program: tests/programs/counted.py
method: grid
parameters:
  x: [a, b, c, d]
  fail_first: "a,c"
_num_nodes: 2
"""


def jobs_of(repo) -> list[dict]:
    return [
        info["jobs"]
        for r in ledger_lines(repo)
        if r.get("event") == "submitted"
        for info in r["clusters"].values()
    ]


def test_retry_failed_resubmits_and_reruns_exactly_the_failed_points(repo, cluster):
    add_experiment(repo, "fails", FAILS_ONCE)
    first = sweepops(
        repo, cluster, "deploy", "fails", "-e", f"clusters={cluster.name}", "--wait",
        "--timeout", "600",
    )  # fmt: skip
    assert first.returncode == 1, first.stdout[-3000:] + first.stderr  # a and c failed
    (deploy,) = [r for r in ledger_lines(repo) if "sweeps" in r]
    (sweep,) = deploy["sweeps"]
    before = records(cluster, sweep["id"])
    assert Counter(r["state"] for r in before) == {"finished": 2, "failed": 2}
    failed = {r["id"] for r in before if r["state"] == "failed"}
    (old_job,) = jobs_of(repo)[-1].values()

    bad = sweepops(repo, cluster, "retry", "fails", "--failed", "-e", "memory=1G")
    assert bad.returncode == 1 and "not an sbatch resource setting: memory" in bad.stderr
    again = sweepops(
        repo, cluster, "retry", "fails", "--failed", "-e", "time=00:09:00", "--wait",
        "--timeout", "600",
    )  # fmt: skip
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr
    assert "2 run(s) to run again" in again.stdout
    (new_job,) = jobs_of(repo)[-1].values()
    assert new_job != old_job and "submitted" in again.stdout and new_job in again.stdout
    limit = cluster.ssh(f"sacct -n -X -j {new_job} -o timelimit | head -1").stdout.strip()
    assert limit == "00:09:00"  # -e time reached the resubmitted job

    after = {r["id"]: r for r in records(cluster, sweep["id"])}
    assert len(after) == 4  # 0 runs lost, no new run
    assert Counter(r["state"] for r in after.values()) == {"finished": 4}
    assert {i for i, r in after.items() if r["attempt"] == 2} == failed
    assert {r["attempt"] for i, r in after.items() if i not in failed} == {1}
    for run_id in failed:
        (earlier,) = after[run_id]["history_of_attempts"]
        assert earlier["state"] == "failed" and earlier["exit_code"] == 3
        assert after[run_id]["agent"]["slurm"]["array_job_id"] == new_job
    starts, ends = executions(cluster, sweep["id"])
    assert ends == Counter({"a": 1, "b": 1, "c": 1, "d": 1})  # 0 points finished twice
    assert starts == Counter({"a": 2, "b": 1, "c": 2, "d": 1})
    rows = json.loads(sweepops(repo, cluster, "results", "fails", "--json").stdout)
    assert len(rows) == 4 and {r["state"] for r in rows} == {"finished"}
    status = sweepops(repo, cluster, "status", "fails")
    assert status.returncode == 0, status.stdout + status.stderr

    nothing = sweepops(repo, cluster, "retry", "fails", "--failed")
    assert nothing.returncode == 0 and "no run to retry" in nothing.stdout
    assert len(jobs_of(repo)) == 2  # nothing submitted for nothing
