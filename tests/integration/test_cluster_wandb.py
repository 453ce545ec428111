"""The wandb backend end to end on the real Slurm test cluster, against the wandb double.

The double listens on the cluster's side of the veth (10.203.N.1), so the workstation creates
the sweeps there with the SDK and the jobs' real `wandb agent` polls it for runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.clusterlib import Cluster
from tests.conftest import git, run_sweepops
from tests.wandb_double import WandbDouble

pytestmark = [pytest.mark.cluster, pytest.mark.integration]

FAILING = """\
program: experiments/fail.py
method: grid
parameters:
  lr: [0.1, 0.2]
_num_nodes: 1
_gpus_per_run: 0
"""


def veth_host(cluster: Cluster) -> str:
    # the workstation's end of the cluster's veth: the login host's address with .1
    return cluster.host.rsplit(".", 1)[0] + ".1"


def sweepops(repo: Path, cluster: Cluster, env: dict[str, str], *args: str):
    return run_sweepops(repo, *args, clusters=[cluster], env=env, timeout=400)


def deploy_records(repo: Path) -> list[dict]:
    lines = (repo / ".sweepops" / "ledger.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if "event" not in r]


def jobs_of(repo: Path, deploy_id: str) -> dict[str, str]:
    jobs: dict[str, str] = {}
    for rec in map(json.loads, (repo / ".sweepops" / "ledger.jsonl").read_text().splitlines()):
        if rec.get("event") == "submitted" and rec["deploy_id"] == deploy_id:
            for info in rec["clusters"].values():
                jobs.update(info["jobs"])
    return jobs


def job_exit_codes(cluster: Cluster, job_id: str, timeout: float = 240) -> list[str]:
    """Each array task's final State|ExitCode from sacct, once all are final."""
    deadline = time.monotonic() + timeout
    rows: list[str] = []
    while time.monotonic() < deadline:
        out = cluster.ssh(f"sacct -n -X -P -j {job_id} -o State,ExitCode", check=False).stdout
        rows = [r for r in out.split() if r]
        if rows and all(r.split("|")[0] in ("COMPLETED", "FAILED") for r in rows):
            return rows
        time.sleep(2)
    raise AssertionError(f"job {job_id} not final after {timeout}s: {rows}")


def test_wandb_sweeps_and_real_agents_on_the_cluster(repo, cluster):
    (repo / "experiments" / "fail.py").write_text("import sys\nsys.exit(3)\n")
    (repo / "experiments" / "failing.yml").write_text(FAILING)
    git(repo, "add", "experiments")
    git(repo, "commit", "-q", "-m", "a failing experiment")
    commit = git(repo, "rev-parse", "HEAD").strip()
    host = veth_host(cluster)
    with WandbDouble(extra_hosts=(host,)) as w:
        url = w.url_for(host)
        env = {"WANDB_API_KEY": w.api_key, "WANDB_BASE_URL": url}
        common = [
            "-e",
            f"clusters={cluster.name}",
            "-e",
            "sweep_backend=wandb",
            "-e",
            "wandb_project=proj",
        ]
        common += ["-e", "wandb_job_env={WANDB_ERROR_REPORTING: 'false'}"]
        proc = sweepops(repo, cluster, env, "deploy", "composite", *common)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
        failing = sweepops(repo, cluster, env, "deploy", "failing", *common)
        assert failing.returncode == 0, failing.stdout[-4000:] + failing.stderr
        deploy, bad = deploy_records(repo)
        assert deploy["backend"] == "wandb" and deploy["entity"] == w.entity
        sweeps = {s["name"]: s for s in deploy["sweeps"]}
        assert set(sweeps) == {"composite_clean", "composite_noisy-regularised"}
        for s in sweeps.values():
            assert s["id"] in w.sweeps and s["url"] in proc.stdout
        # The jobs run the real wandb agent; each sweep's runs all finish on the double.
        expected = {
            sweeps["composite_clean"]["id"]: 2,
            sweeps["composite_noisy-regularised"]["id"]: 4,
        }
        jobs = jobs_of(repo, deploy["deploy_id"])
        assert set(jobs) == set(expected)
        for job in jobs.values():
            assert all(r == "COMPLETED|0:0" for r in job_exit_codes(cluster, job)), job
        for sid, n in expected.items():
            runs = [r for r in w.runs.values() if r.sweep == sid]
            assert len(runs) == n and all(r.state == "finished" for r in runs)
            handed = w.handed_out(sid)
            tags = sweeps[[k for k, s in sweeps.items() if s["id"] == sid][0]]["tags"]
            for r in runs:
                assert handed[r.name] == {k: r.config[k] for k in handed[r.name]}
                assert r.commit == commit
                assert sorted(r.tags) == sorted(tags)
                assert r.group == deploy["deploy_id"]
        # A job whose runs all fail exits non-zero although wandb agent exits 0.
        (bad_job,) = jobs_of(repo, bad["deploy_id"]).values()
        assert [r.split("|")[0] for r in job_exit_codes(cluster, bad_job)] == ["FAILED"]
        bad_runs = [r for r in w.runs.values() if r.sweep == bad["sweeps"][0]["id"]]
        assert len(bad_runs) == 2

        # `sweepops results` reads the runs back through wandb's public API: one table.
        res = sweepops(repo, cluster, env, "results", "composite", "--json")
        assert res.returncode == 0, res.stderr
        rows = json.loads(res.stdout)
        assert len(rows) == 6 and {r["source"] for r in rows} == {"wandb"}, rows
        assert {r["cluster"] for r in rows} == {f"{cluster.name}-login"}
        assert {r["subtest"] for r in rows} == {"clean", "noisy,regularised"}
        for row in rows:
            assert row["params"] == w.handed_out(row["sweep_id"])[row["run_id"]]
            assert row["commit"] == commit and row["state"] == "finished"
            assert row["metric"] == w.runs[row["run_id"]].summary["val_loss"]

        # The key is in the cluster's ~/.netrc (mode 600) and nowhere else the deploys wrote.
        home = cluster.state / "home" / cluster.user
        netrc = home / ".netrc"
        assert oct(netrc.stat().st_mode & 0o777) == "0o600" and w.api_key in netrc.read_text()
        roots = [repo / ".sweepops", cluster.cluster_lab, home]
        leaks = [
            p for root in roots for p in _files(root) if p != netrc and _contains(p, w.api_key)
        ]
        assert leaks == []
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        assert w.api_key not in ps
        assert w.api_key not in proc.stdout + proc.stderr + failing.stdout + failing.stderr


def _files(root: Path) -> list[Path]:
    """Every regular file under root (others write there concurrently: vanished dirs skipped)."""
    out = []
    for dirpath, _dirs, names in os.walk(root):
        out += [Path(dirpath, n) for n in names if not Path(dirpath, n).is_symlink()]
    return out


def _contains(path: Path, secret: str) -> bool:
    try:
        return secret.encode() in path.read_bytes()
    except OSError:
        return False


def test_wandb_sweep_into_an_env_without_wandb_is_refused_before_anything_is_made(repo, cluster):
    """The probe asks the jobs' interpreter for wandb; a wandb sweep is refused without it,
    naming the cluster and what to do, and no sweep (here or on the server) nor job is made."""
    import uuid

    prefix = cluster.lab / f"test-env-nowandb-{uuid.uuid4().hex[:8]}"
    theirs = cluster.cluster_lab / prefix.name
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", str(prefix)], check=True)
    subprocess.run(["chmod", "-R", "a+rX", str(prefix)], check=True)
    subprocess.run(["cp", "-a", str(prefix), str(theirs)], check=True)
    host = veth_host(cluster)
    try:
        with WandbDouble(extra_hosts=(host,)) as w:
            env = {"WANDB_API_KEY": w.api_key, "WANDB_BASE_URL": w.url_for(host)}
            before = cluster.ssh("squeue --me -h -t all -o %A").stdout.split()
            args = ["-e", f"clusters={cluster.name}", "-e", "sweep_backend=wandb"]
            proc = sweepops(
                repo, cluster, env, "deploy", "base", *args, "-e", f"env_prefix={prefix}"
            )
            out = " ".join((proc.stdout + proc.stderr).split())
            assert proc.returncode != 0
            assert (
                f"{cluster.name}: wandb is not importable by the jobs' python "
                "(ModuleNotFoundError: No module named 'wandb'), and a wandb sweep runs "
                f"`wandb agent` from your env (env_prefix={prefix}); install wandb there "
                f"(pip install wandb), or set env_prefix in inventory/group_vars/{cluster.name}.yml"
            ) in out, out[-3000:]
            assert "nothing was created" in out
            assert w.sweeps == {}  # no sweep on the server
            ledger = repo / ".sweepops" / "ledger.jsonl"
            assert not ledger.exists() or deploy_records(repo) == []
            after = cluster.ssh("squeue --me -h -t all -o %A").stdout.split()
            assert set(after) - set(before) == set()
    finally:
        subprocess.run(["rm", "-rf", str(prefix), str(theirs)], check=True)
