"""`sweepops gc` on the real test cluster: old snapshots go, LATEST, the newest and every
snapshot a live job's batch script names stay; --check removes nothing."""

from __future__ import annotations

import re
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.clusterlib import Cluster
from tests.conftest import run_sweepops

pytestmark = [pytest.mark.cluster, pytest.mark.integration]


def sweepops(repo: Path, cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return run_sweepops(repo, *args, clusters=[cluster])


def test_gc_keeps_latest_newest_and_what_live_jobs_run(repo: Path, cluster: Cluster) -> None:
    # A lab root of its own (the shared one holds other tests' snapshots).
    lab = f"{cluster.lab}/gc-{uuid.uuid4().hex[:8]}"
    keys = [f"{i:02d}" + uuid.uuid4().hex[:38] for i in range(5)]  # oldest first
    made = " && ".join(
        f"mkdir -p {lab}/code/{key}/src && echo x > {lab}/code/{key}/src/f.py"
        f" && touch -d '-{60 - i} min' {lab}/code/{key}"
        for i, key in enumerate(keys)
    )
    script = f"{lab}/deploys/d1/s1.sbatch"
    cluster.ssh(
        f"{made} && mkdir -p {lab}/agent/aaaaaaaaaaaaaaaa {lab}/deploys/d1 {lab}/code/not-a-snapshot"
        f" && echo {keys[2]} > {lab}/code/LATEST"
        f" && printf '#!/bin/bash\\n#SBATCH --partition=gpu\\ncd {lab}/code/{keys[0]} && true\\n'"
        f" > {script}"
    )
    job = cluster.ssh(f"sbatch --hold --parsable {script}").stdout.strip().split(";")[0]
    try:
        extra = ["-e", f"lab_root={lab}"]
        dry = sweepops(repo, cluster, "gc", cluster.name, "--keep", "1", "--check")
        assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr
        assert "would remove" in dry.stdout
        # --check (and the default lab root) first: the test's lab is not the inventory's
        checked = sweepops(repo, cluster, "gc", cluster.name, "--keep", "1", "--check", *extra)
        assert checked.returncode == 0, checked.stdout[-3000:]
        assert f"would remove 2 snapshot(s): {keys[1]}, {keys[3]}" in checked.stdout, checked.stdout
        on_cluster = cluster.cluster_lab / lab.removeprefix(f"{cluster.lab}/")
        assert all((on_cluster / "code" / key).is_dir() for key in keys)  # nothing removed

        done = sweepops(repo, cluster, "gc", cluster.name, "--keep", "1", *extra)
        assert done.returncode == 0, done.stdout[-3000:]
        left = sorted(p.name for p in (on_cluster / "code").iterdir())
        # keys[0]: the held job runs it; keys[2]: LATEST; keys[4]: the newest
        assert left == sorted([keys[0], keys[2], keys[4], "LATEST", "not-a-snapshot"])
        assert (on_cluster / "agent" / "aaaaaaaaaaaaaaaa").is_dir()  # LATEST-less kind: newest
        again = sweepops(repo, cluster, "gc", cluster.name, "--keep", "1", *extra)
        assert "removed 0 snapshot(s)" in again.stdout, again.stdout
        assert re.search(rf"^changed: .*\b{cluster.name}-login 0\b", again.stdout, re.M), again.stdout
    finally:
        cluster.ssh(f"scancel {job}", check=False)
