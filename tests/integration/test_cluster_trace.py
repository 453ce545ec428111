"""Traceability on the real Slurm test cluster: a deploy records the env fingerprint (and the
container image's sha256) per cluster; `sweepops reproduce` refuses when either changed on
the cluster, and rebuilds a deleted code snapshot from the recorded commit + stored diff.

The env is a private venv under the lab root (a namespaced path: the cluster's copy is
another directory than the workstation's, so it can change on the cluster side alone). It
holds no packages itself: a .pth file points at the shared test env (tests/cluster/make-env).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sweepops.artifacts import envsync
from sweepops.records import ledger
from tests.clusterlib import Cluster
from tests.conftest import git
from tests.integration.test_cluster_results import finished, sweepops

pytestmark = [pytest.mark.cluster, pytest.mark.integration]

SHARED_ENV = Path("/opt/sweepops-research-env")  # tests/cluster/make-env


@pytest.fixture
def private_env(cluster: Cluster) -> Iterator[Path]:
    """A venv at LAB/test-env-XXXX on the workstation, copied (mtimes kept) to the same path
    on the cluster; removed from both afterwards."""
    prefix = cluster.lab / f"test-env-{uuid.uuid4().hex[:8]}"
    theirs = cluster.cluster_lab / prefix.name
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", str(prefix)], check=True)
    (site,) = (prefix / "lib").glob("python3*/site-packages")
    (shared,) = (SHARED_ENV / "lib").glob("python3*/site-packages")
    (site / "shared-test-env.pth").write_text(f"{shared}\n")
    subprocess.run(["chmod", "-R", "a+rX", str(prefix)], check=True)
    subprocess.run(["cp", "-a", str(prefix), str(theirs)], check=True)
    try:
        yield prefix
    finally:
        shutil.rmtree(prefix, ignore_errors=True)
        shutil.rmtree(theirs, ignore_errors=True)


def _wait_finished(cluster: Cluster, sweep_id: str, n: int) -> None:
    deadline = time.monotonic() + 300
    while finished(cluster, sweep_id) < n:
        assert time.monotonic() < deadline, "the runs did not finish in time"
        time.sleep(1)


def test_reproduce_rebuilds_a_gone_snapshot_and_refuses_a_changed_env(
    repo: Path, cluster: Cluster, private_env: Path
) -> None:
    host = f"{cluster.name}-login"
    # An allow_dirty deploy: a tracked file changed and an untracked one added.
    (repo / "README.md").write_text((repo / "README.md").read_text() + "\nlocal edit\n")
    (repo / "scratch_note.txt").write_text("not committed\n")
    proc = sweepops(
        repo,
        [cluster],
        "deploy",
        "base",
        "-e",
        f"clusters={cluster.name}",
        "-e",
        "allow_dirty=true",
        "-e",
        f"env_prefix={private_env}",
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
    (deploy,) = [r for r in ledger.records(repo) if "sweeps" in r]
    assert set(deploy["dirty_files"]) >= {"README.md", "scratch_note.txt"}
    sub = ledger.submissions(repo, deploy["deploy_id"])[host]
    # The deploy recorded the fingerprint the drift check computed: the env's manifest digest.
    assert sub["env_path"] == str(private_env)
    assert sub["env_digest"] == envsync.digest(envsync.manifest(private_env))
    assert sub["container_image"] == "" and sub["container_digest"] == ""
    key = Path(sub["snapshot_dir"]).name

    (sweep,) = deploy["sweeps"]
    _wait_finished(cluster, sweep["id"], 6)
    res = sweepops(repo, [cluster], "results", "base", "--json")
    assert res.returncode == 0, res.stderr
    run = json.loads(res.stdout)[1]

    # The snapshot is garbage-collected on the cluster; the work tree moves on meanwhile.
    shutil.rmtree(cluster.cluster_lab / "code" / key)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "later work")
    (repo / "experiments" / "train.py").write_text("raise SystemExit('not this code')\n")
    git(repo, "commit", "-qam", "broken")

    proc = sweepops(repo, [cluster], "reproduce", run["run_id"], "--wait", "--json", timeout=400)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"the snapshot {key} was gone from {host}: rebuilt from commit" in proc.stderr
    out = json.loads(proc.stdout.splitlines()[-1])
    assert out["state"] == "finished" and out["same"] and out["original"] == run["metric"], out
    rebuilt = cluster.cluster_lab / "code" / key
    assert (rebuilt / "scratch_note.txt").read_text() == "not committed\n"
    assert (rebuilt / "README.md").read_text().endswith("\nlocal edit\n")
    (repro,) = [r for r in ledger.records(repo) if r.get("reproduces")]
    repro_sub = ledger.submissions(repo, repro["deploy_id"])[host]
    assert repro_sub["snapshot_dir"] == sub["snapshot_dir"] and repro_sub["rebuilt"] in (
        True,
        "True",
    )
    assert repro_sub["env_digest"] == sub["env_digest"]

    # The cluster's copy of the env changes (one file added): refused, saying what and why.
    (site,) = (cluster.cluster_lab / private_env.name / "lib").glob("python3*/site-packages")
    (site / "hotfix.py").write_text("X = 1\n")
    jobs_before = cluster.ssh("squeue -h -t all -o %i").stdout.split()
    refused = sweepops(repo, [cluster], "reproduce", run["run_id"])
    assert refused.returncode == 2, refused.stdout[-2000:] + refused.stderr
    assert f"the env {private_env} on {host} changed since deploy {deploy['deploy_id']}" in (
        refused.stderr
    ), refused.stderr
    assert sub["env_digest"][:12] in refused.stderr and "provision" in refused.stderr
    # the workstation's copy is still the deployed one, so the changed file is named
    assert "1 only on the cluster: lib/python" in refused.stderr and "hotfix.py" in refused.stderr
    # no job was submitted (finished jobs may age out of squeue meanwhile: MinJobAge)
    assert set(cluster.ssh("squeue -h -t all -o %i").stdout.split()) <= set(jobs_before)
    assert len([r for r in ledger.records(repo) if r.get("reproduces")]) == 1


@pytest.fixture
def container_cluster(cluster: Cluster) -> Iterator[Path]:
    """The cluster with container_image set to a small file on its side (no apptainer exists
    here: the jobs are submitted held, `--hold`, and cancelled, so the container runtime is
    never started). The cluster's group_vars are restored afterwards."""
    image = cluster.lab / "containers" / f"test-{uuid.uuid4().hex[:8]}.sif"
    theirs = cluster.cluster_lab / image.relative_to(cluster.lab)
    theirs.parent.mkdir(parents=True, exist_ok=True)
    theirs.write_bytes(b"not a real image, but a real file\n" * 100)
    theirs.chmod(0o644)
    group_vars = cluster.inventory.parent / "group_vars" / f"{cluster.name}.yml"
    before = group_vars.read_text()
    group_vars.write_text(before + f"container_image: {image}\nextra_directives: ['--hold']\n")
    try:
        yield image
    finally:
        group_vars.write_text(before)
        theirs.unlink(missing_ok=True)
        Path(f"{theirs}.sha256.json").unlink(missing_ok=True)


def _cancel(cluster: Cluster, jobs: list[str]) -> None:
    if jobs:
        cluster.ssh("scancel " + " ".join(jobs), check=False)


def test_container_digest_recorded_and_a_changed_image_refused(
    repo: Path, cluster: Cluster, container_cluster: Path
) -> None:
    host = f"{cluster.name}-login"
    theirs = cluster.cluster_lab / container_cluster.relative_to(cluster.lab)
    jobs: list[str] = []
    try:
        proc = sweepops(repo, [cluster], "deploy", "base", "-e", f"clusters={cluster.name}")
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
        (deploy,) = [r for r in ledger.records(repo) if "sweeps" in r]
        sub = ledger.submissions(repo, deploy["deploy_id"])[host]
        jobs += [str(j) for j in sub["jobs"].values()]
        assert sub["container_image"] == str(container_cluster)
        assert sub["container_digest"] == hashlib.sha256(theirs.read_bytes()).hexdigest()
        assert sub["env_digest"]  # the shared test env's fingerprint
        (sweep,) = deploy["sweeps"]
        script = cluster.cluster_lab / "deploys" / deploy["deploy_id"] / f"{sweep['id']}.sbatch"
        assert (
            "apptainer exec" in script.read_text() and str(container_cluster) in script.read_text()
        )
        reason = cluster.ssh(f"squeue -h -j {jobs[0]} -o %r").stdout.split()
        assert reason and set(reason) == {"JobHeldUser"}, reason

        # A finished run as the agent in the container would have recorded it (no runtime
        # here to run it for real).
        run_id = "ctr0run1"
        record = {
            "id": run_id,
            "state": "finished",
            "params": {"lr": {"value": 0.1}, "batch_size": {"value": 16}, "epochs": {"value": 8}},
            "summary": {"val_loss": 0.25},
            "attempt": 1,
            "exit_code": 0,
            "duration": 2.0,
            "host": host,
        }
        runs = cluster.cluster_lab / "sweeps" / sweep["id"] / "runs"
        (runs / f"{run_id}.json").write_text(json.dumps(record))
        res = sweepops(repo, [cluster], "results", "base", "--json")
        assert res.returncode == 0, res.stderr
        assert [r["run_id"] for r in json.loads(res.stdout)] == [run_id]

        # Same image: the reproduction is submitted (held), with the same image.
        ok = sweepops(repo, [cluster], "reproduce", run_id)
        assert ok.returncode == 0, ok.stdout[-3000:] + ok.stderr[-3000:]
        (repro,) = [r for r in ledger.records(repo) if r.get("reproduces")]
        repro_sub = ledger.submissions(repo, repro["deploy_id"])[host]
        jobs += [str(j) for j in repro_sub["jobs"].values()]
        assert repro_sub["container_digest"] == sub["container_digest"]
        repro_script = next((cluster.cluster_lab / "deploys" / repro["deploy_id"]).glob("*.sbatch"))
        assert str(container_cluster) in repro_script.read_text()

        # The image file changes on the cluster: refused, saying so; nothing submitted.
        with open(theirs, "ab") as fh:
            fh.write(b"one more byte")
        queued = cluster.ssh("squeue -h -t all -o %i").stdout.split()
        refused = sweepops(repo, [cluster], "reproduce", run_id)
        assert refused.returncode == 2, refused.stdout[-2000:] + refused.stderr
        assert f"the container image {container_cluster} on {host} changed since deploy" in (
            refused.stderr
        ), refused.stderr
        assert sub["container_digest"][:12] in refused.stderr
        assert hashlib.sha256(theirs.read_bytes()).hexdigest()[:12] in refused.stderr
        # nothing submitted (finished jobs may age out of squeue meanwhile: MinJobAge)
        assert set(cluster.ssh("squeue -h -t all -o %i").stdout.split()) <= set(queued)
    finally:
        _cancel(cluster, jobs)
