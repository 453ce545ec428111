"""The hand-off end to end on the real Slurm test cluster: compute nodes without internet.

The wandb double listens on 127.0.0.1 only, which the cluster's network namespace cannot
reach. The workstation creates the wandb sweeps there; the cluster (``compute_internet:
false``) runs the offline agent against sweep directories with the same ids; `sweepops sync
--watch` pulls the finished runs and uploads them with the real `wandb sync`, each once,
attached to its sweep; a second sync uploads nothing.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.clusterlib import Cluster
from tests.conftest import git
from tests.integration.test_cluster_wandb import (
    _contains,
    _files,
    deploy_records,
    job_exit_codes,
    jobs_of,
    sweepops,
    veth_host,
)
from tests.wandb_double import WandbDouble

pytestmark = [pytest.mark.cluster, pytest.mark.integration]

UPLOADS = ("UpsertBucket", "POST file_stream", "CreateRunFiles", "PUT /storage")


def _reachable(cluster: Cluster, host: str, port: int) -> bool:
    probe = f"timeout 3 bash -c 'exec 3<>/dev/tcp/{host}/{port}' 2>/dev/null && echo yes || echo no"
    return cluster.ssh(probe).stdout.strip() == "yes"


def test_handoff_runs_offline_and_sync_uploads_each_run_once(repo, cluster):
    commit = git(repo, "rev-parse", "HEAD").strip()
    with WandbDouble() as w:  # 127.0.0.1 only
        assert not _reachable(cluster, "127.0.0.1", w.port)
        assert not _reachable(cluster, veth_host(cluster), w.port)
        env = {"WANDB_API_KEY": w.api_key, "WANDB_BASE_URL": w.base_url}
        common = ["-e", f"clusters={cluster.name}", "-e", "sweep_backend=wandb"]
        common += ["-e", "wandb_project=proj", "-e", "compute_internet=false"]
        common += ["-e", "wandb_job_env={WANDB_ERROR_REPORTING: 'false'}"]
        proc = sweepops(repo, cluster, env, "deploy", "composite", *common)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
        (deploy,) = deploy_records(repo)
        host = f"{cluster.name}-login"
        assert deploy["backend"] == "wandb" and set(deploy["handoff"]) == {host}
        assert "sweepops sync composite" in proc.stdout
        sweeps = {s["id"]: s for s in deploy["sweeps"]}
        assert set(sweeps) <= set(w.sweeps)  # real wandb sweeps: the dashboard exists

        # The jobs run the offline agent on sweep directories with the wandb sweeps' ids.
        deploy_dir = cluster.cluster_lab / "deploys" / deploy["deploy_id"]
        for sid in sweeps:
            script = (deploy_dir / f"{sid}.sbatch").read_text()
            # (from its runtime: LAB/agent/KEY, synced since these jobs run it)
            assert f"python -s {cluster.lab}/agent/" in script and "wandb agent" not in script
            meta = json.loads((cluster.cluster_lab / "sweeps" / sid / "sweep.json").read_text())
            assert meta["id"] == sid and meta["config"]["method"] == "grid"

        # Sync while the jobs run, until none is left.
        started = time.monotonic()
        synced = sweepops(repo, cluster, env, "sync", "composite", "--watch", "5")
        print(
            f"\nsync --watch 5: {time.monotonic() - started:.1f} s\n{synced.stdout}{synced.stderr}"
        )
        assert synced.returncode == 0, synced.stdout[-4000:] + synced.stderr[-4000:]
        assert "no job of the experiment is left" in synced.stdout
        for job in jobs_of(repo, deploy["deploy_id"]).values():
            assert all(r == "COMPLETED|0:0" for r in job_exit_codes(cluster, job)), job

        # Every run of every sweep is in wandb once, attached to its sweep, with the parameters
        # the cluster's offline engine gave it and the run metadata of the online path.
        expected = 0
        for sid, spec in sweeps.items():
            records = [
                json.loads(p.read_text())
                for p in (cluster.cluster_lab / "sweeps" / sid / "runs").glob("*.json")
            ]
            assert records and all(r["state"] == "finished" for r in records)
            expected += len(records)
            for rec in records:
                run = w.runs[rec["id"]]
                assert (run.entity, run.project) == (w.entity, "proj")
                assert run.sweep == sid and run.state == "finished" and run.completions == 1
                params = {k: v["value"] for k, v in rec["params"].items()}
                assert {k: run.config[k] for k in params} == params
                assert sorted(run.tags) == sorted(spec["tags"])
                assert run.group == deploy["deploy_id"] and run.commit == commit
        assert len(w.runs) == expected == 6
        assert not w.unknown
        markers = [
            m
            for sid in sweeps
            for m in (cluster.cluster_lab / "sweeps" / sid).glob("wandb/offline-run-*/*.synced")
        ]
        assert len(markers) == expected

        # A second sync uploads nothing.
        before = len(w.calls)
        started = time.monotonic()
        again = sweepops(repo, cluster, env, "sync", "composite")
        print(f"second sync: {time.monotonic() - started:.1f} s\n{again.stdout}{again.stderr}")
        assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-4000:]
        assert "uploaded 0 run(s)" in again.stdout and "6 synced before" in again.stdout
        # the short view's line of the playbook's stage; its whole log kept
        stage = f"✓ Hand the offline runs of wandb sweeps over to the workstation [{cluster.name}"
        assert stage in again.stdout, again.stdout
        assert list((repo / ".sweepops" / "logs").glob("sync-*.log"))
        assert [c.operation for c in w.calls[before:] if c.operation.startswith(UPLOADS)] == []

        # The key is in no file on either side (the cluster never needed it), nor in ps.
        home = cluster.state / "home" / cluster.user
        roots = [repo / ".sweepops", cluster.cluster_lab, home]
        assert [p for root in roots for p in _files(root) if _contains(p, w.api_key)] == []
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        assert w.api_key not in ps
        outputs = proc.stdout + proc.stderr + synced.stdout + synced.stderr + again.stdout
        assert w.api_key not in outputs
