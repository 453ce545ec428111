"""Results from two real Slurm clusters: one deploy split over atlas and babel, fetched over
ssh into one table with the clusters' names and their Slurm accounting; fetching again only
transfers the records that changed."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.clusterlib import Cluster
from tests.conftest import run_sweepops

pytestmark = [pytest.mark.cluster, pytest.mark.integration]


def sweepops(repo: Path, clusters: list[Cluster], *args: str, timeout: float = 300):
    return run_sweepops(repo, *args, clusters=clusters, timeout=timeout)


def finished(cluster: Cluster, sweep_id: str) -> int:
    runs = (cluster.cluster_lab / "sweeps" / sweep_id / "runs").glob("*.json")
    return sum(json.loads(p.read_text())["state"] == "finished" for p in runs)


def cached(repo: Path) -> dict[str, int]:
    """Inode of every cached run record: rsync writes a transferred file anew."""
    root = repo / ".sweepops" / "cache"
    return {str(p.relative_to(root)): p.stat().st_ino for p in root.glob("*/*/runs/*.json")}


def test_results_from_two_clusters_with_accounting(repo, cluster, cluster2):
    both = [cluster, cluster2]
    proc = sweepops(repo, both, "deploy", "base", "-e", f"clusters={cluster.name},{cluster2.name}")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
    deploy = next(
        r
        for r in map(json.loads, (repo / ".sweepops" / "ledger.jsonl").read_text().splitlines())
        if "event" not in r
    )
    (sweep,) = deploy["sweeps"]
    deadline = time.monotonic() + 300
    while (finished(cluster, sweep["id"]), finished(cluster2, sweep["id"])) != (3, 3):
        assert time.monotonic() < deadline, "the six runs did not finish in time"
        time.sleep(1)

    # sacct rows lag the jobs' ends by a few seconds: ask until every row has them.
    deadline = time.monotonic() + 90
    while True:
        res = sweepops(repo, both, "results", "base", "--json")
        assert res.returncode == 0, res.stderr
        rows = json.loads(res.stdout)
        if all(r.get("job_elapsed") is not None for r in rows) or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert len(rows) == 6 and {r["state"] for r in rows} == {"finished"}
    assert {r["cluster"] for r in rows} == {f"{cluster.name}-login", f"{cluster2.name}-login"}
    assert sum(r["cluster"] == f"{cluster.name}-login" for r in rows) == 3
    for row in rows:
        assert row["commit"] == deploy["commit"]
        assert row["job"].startswith(str(row["slurm"]["array_job_id"]) + "_")
        assert row["job_state"] == "COMPLETED" and row["job_exit_code"] == "0:0"
        assert row["job_elapsed"] >= 0 and row["requeues"] == 0
        assert row["gpus"] == 1  # gres gpu:1 per agent in the test clusters' settings
        assert row["gpu_hours"] == pytest.approx(row["duration"] / 3600)
    metrics = [r["metric"] for r in rows]
    assert metrics == sorted(metrics) and rows[0]["best"]
    # The table and the CSV carry the same.
    table = sweepops(repo, both, "results", "base")
    assert f"{cluster.name}-login" in table.stdout and f"{cluster2.name}-login" in table.stdout
    assert "GPU-h" in table.stdout, table.stdout
    csv = sweepops(repo, both, "export", "base", "--no-journal")
    header = csv.stdout.splitlines()[0].split(",")
    assert {"cluster", "commit", "job_elapsed", "gpu_hours", "requeues"} <= set(header)

    # Fetching again transfers nothing; after one record changed, exactly that one.
    before = cached(repo)
    assert len(before) == 6
    again = sweepops(repo, both, "results", "base", "--json")
    assert again.returncode == 0, again.stderr
    assert cached(repo) == before
    assert f"{cluster.name}-login: 0 record(s) transferred" in again.stderr, again.stderr
    assert f"{cluster2.name}-login: 0 record(s) transferred" in again.stderr
    record = next((cluster.cluster_lab / "sweeps" / sweep["id"] / "runs").glob("*.json"))
    data = json.loads(record.read_text())
    data["summary"]["note"] = "changed"
    record.write_text(json.dumps(data))
    third = sweepops(repo, both, "results", "base", "--json")
    assert f"{cluster.name}-login: 1 record(s) transferred" in third.stderr, third.stderr
    after = cached(repo)
    assert [k for k in after if after[k] != before[k]] == [
        f"{cluster.name}-login/{sweep['id']}/runs/{record.name}"
    ]
    changed = next(r for r in json.loads(third.stdout) if r["run_id"] == data["id"])
    assert changed["summary"]["note"] == "changed"


def test_sacct_max_rss_of_short_jobs(repo, cluster):
    """The test cluster samples jobs every second (JobAcctGatherFrequency=task=1 in
    tests/cluster/lib.sh), so even agents of a few seconds get a MaxRSS: the table's max RSS
    column has values."""
    proc = sweepops(repo, [cluster], "deploy", "base", "-e", f"clusters={cluster.name}")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
    deploy = next(
        r
        for r in map(json.loads, (repo / ".sweepops" / "ledger.jsonl").read_text().splitlines())
        if "event" not in r
    )
    (sweep,) = deploy["sweeps"]
    deadline = time.monotonic() + 300
    while finished(cluster, sweep["id"]) < 6:
        assert time.monotonic() < deadline, "the runs did not finish in time"
        time.sleep(1)
    deadline = time.monotonic() + 90
    while True:
        res = sweepops(repo, [cluster], "results", "base", "--json")
        assert res.returncode == 0, res.stderr
        rows = json.loads(res.stdout)
        if all(r.get("job_max_rss") is not None for r in rows) or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert len(rows) == 6
    # a Python agent plus numpy and wandb: well over 10 MB, well under the 4000 MB of a node
    for row in rows:
        assert 10 * 1024**2 < row["job_max_rss"] < 4000 * 1024**2, row
    from sweepops.results.rows import format_bytes

    table = sweepops(repo, [cluster], "results", "base").stdout
    assert "max RSS" in table.splitlines()[1], table
    for row in rows:
        assert f" {format_bytes(row['job_max_rss'])} " in table, table
