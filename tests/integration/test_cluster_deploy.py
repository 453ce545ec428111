"""Deploying experiments to the real Slurm test cluster, end to end.

`sweepops deploy EXP -e clusters=atlas` from a private clean copy of the repository: the
code snapshot, the sweep directories and the jobs land on the cluster's side of the shared
path; the runs run on the cluster's nodes; retries submit nothing twice; bad input fails
before anything is submitted.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.clusterlib import Cluster
from tests.conftest import agent_env, composite_of, git, run_sweepops

pytestmark = [pytest.mark.cluster, pytest.mark.integration]


def sweepops(repo: Path, cluster: Cluster, *args: str, timeout: float = 300):
    return run_sweepops(repo, *args, clusters=[cluster], timeout=timeout)


def deploys(repo: Path) -> list[dict]:
    path = repo / ".sweepops" / "ledger.jsonl"
    if not path.exists():
        return []
    return [r for r in map(json.loads, path.read_text().splitlines()) if "event" not in r]


def submitted_jobs(repo: Path, deploy_id: str) -> dict[str, str]:
    path = repo / ".sweepops" / "ledger.jsonl"
    jobs: dict[str, str] = {}
    for rec in map(json.loads, path.read_text().splitlines()):
        if rec.get("event") == "submitted" and rec["deploy_id"] == deploy_id:
            for info in rec["clusters"].values():
                jobs.update(info["jobs"])
    return jobs


def my_jobs(cluster: Cluster) -> set[str]:
    out = cluster.ssh("squeue --me -h -t all -o %A").stdout.split()
    return set(out)


def wait_sweeps_done(cluster: Cluster, sweep_ids: list[str], expected: dict[str, int], timeout=240):
    """Poll the cluster-side run records until each sweep has its expected finished runs."""
    deadline = time.monotonic() + timeout
    while True:
        counts = {}
        for sid in sweep_ids:
            runs = [
                json.loads(p.read_text())
                for p in (cluster.cluster_lab / "sweeps" / sid / "runs").glob("*.json")
            ]
            counts[sid] = sum(r["state"] == "finished" for r in runs)
        if counts == expected:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"runs finished {counts}, expected {expected}")
        time.sleep(1)


def run_records(cluster: Cluster, sweep_id: str) -> list[dict]:
    runs_dir = cluster.cluster_lab / "sweeps" / sweep_id / "runs"
    return [json.loads(p.read_text()) for p in runs_dir.glob("*.json")]


def test_composite_runs_on_the_cluster_nodes_only(repo, cluster):
    proc = sweepops(repo, cluster, "deploy", "composite", "-e", f"clusters={cluster.name}")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
    (deploy,) = deploys(repo)
    ids = {s["name"]: s["id"] for s in deploy["sweeps"]}
    assert set(ids) == {"composite_clean", "composite_noisy-regularised"}
    jobs = submitted_jobs(repo, deploy["deploy_id"])
    assert set(jobs) == set(ids.values())
    # the short view: one line per stage and host, what each did, then the summary
    host = f"[{cluster.name}-login]"
    lines = proc.stdout.splitlines()
    checks = next(x for x in lines if x.startswith("✓ Check the clusters") and host in x)
    start = next(x for x in lines if x.startswith("✓ Start the agents") and host in x)
    # the code is sent, or (the test cluster's lab outlives a test) was there already
    assert "file(s) sent" in start or "already there: code" in checks, (checks, start)
    assert all(job in start for job in jobs.values()), start
    assert checks and "2 sweep(s), offline" in proc.stdout
    assert "progress: sweepops status composite" in proc.stdout
    assert "TASK [" not in proc.stdout and "PLAY RECAP" not in proc.stdout
    log = repo / ".sweepops" / "deploys" / deploy["deploy_id"] / "ansible.log"
    assert "PLAY RECAP" in log.read_text()
    wait_sweeps_done(
        cluster,
        list(ids.values()),
        {ids["composite_clean"]: 2, ids["composite_noisy-regularised"]: 4},
    )
    nodes = {f"{cluster.name}-node01", f"{cluster.name}-node02"}
    for sid in ids.values():
        for rec in run_records(cluster, sid):
            # Ran on a compute node, in a Slurm job (the test nodes share the login's hostname).
            assert rec["agent"]["slurm"]["node"] in nodes
            assert rec["agent"]["slurm"]["job_id"]
            assert rec["summary"]["val_loss"] > 0  # the real wandb program, read back
        # Outputs exist on the cluster's side of the shared path only.
        assert list((cluster.cluster_lab / "sweeps" / sid / "wandb").glob("offline-run-*"))
        assert not (cluster.lab / "sweeps" / sid).exists()
    status = sweepops(repo, cluster, "status", "composite")
    assert status.returncode == 0, status.stderr
    assert f"{cluster.name}-login" in status.stdout and "left 0" in status.stdout
    # A second deploy with the same id changes nothing and submits nothing.
    before = my_jobs(cluster)
    again = sweepops(
        repo,
        cluster,
        "deploy",
        "composite",
        "-e",
        f"clusters={cluster.name}",
        "-e",
        f"deploy_id={deploy['deploy_id']}",
    )
    assert again.returncode == 0, again.stdout[-3000:]
    recap = re.search(rf"^changed: .*\b{cluster.name}-login 0\b", again.stdout, re.M)
    assert recap, again.stdout[-3000:]
    assert my_jobs(cluster) - before == set()  # nothing new submitted (old jobs age out)


SLOW_PROGRAM = """
import json, os, sys, time
from version import VERSION
time.sleep(float(next(a for a in sys.argv if a.startswith('--sleep=')).split('=')[1]))
out = os.path.join(os.environ['SWEEPOPS_SWEEP_DIR'], 'versions')
os.makedirs(out, exist_ok=True)
open(os.path.join(out, os.environ['WANDB_RUN_ID']), 'w').write(VERSION)
"""


def test_queued_jobs_keep_their_code_after_an_edit(repo, cluster):
    (repo / "slow").mkdir()
    (repo / "slow" / "run.py").write_text(SLOW_PROGRAM)
    (repo / "slow" / "version.py").write_text("VERSION = 'first'\n")
    (repo / "experiments" / "slow.yml").write_text(
        "program: slow/run.py\nmethod: grid\nparameters:\n  sleep: 8\n  x: [1, 2]\n_num_nodes: 1\n"
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "slow experiment")
    first = sweepops(repo, cluster, "deploy", "slow", "-e", f"clusters={cluster.name}")
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr
    # Edit and deploy again while the first deploy's single agent is still busy.
    (repo / "slow" / "version.py").write_text("VERSION = 'second'\n")
    git(repo, "commit", "-qam", "edit")
    second = sweepops(repo, cluster, "deploy", "slow", "-e", f"clusters={cluster.name}")
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr
    d1, d2 = deploys(repo)
    s1, s2 = d1["sweeps"][0]["id"], d2["sweeps"][0]["id"]
    wait_sweeps_done(cluster, [s1, s2], {s1: 2, s2: 2})
    for sid, version in ((s1, "first"), (s2, "second")):
        versions = {
            p.read_text() for p in (cluster.cluster_lab / "sweeps" / sid / "versions").iterdir()
        }
        assert versions == {version}
    snapshots = []
    for d in (d1, d2):
        path = cluster.cluster_lab / "code" / snapshot_key(repo, d["deploy_id"])
        assert path.is_dir()
        snapshots.append(path)
    assert snapshots[0] != snapshots[1]  # the edit made a new snapshot; the old one stays
    assert (snapshots[0] / "slow" / "version.py").read_text() == "VERSION = 'first'\n"
    # The unchanged program file is one file on disk in both snapshots (rsync --link-dest).
    assert (
        os.stat(snapshots[0] / "slow" / "run.py").st_ino
        == os.stat(snapshots[1] / "slow" / "run.py").st_ino
    )


def snapshot_key(repo: Path, deploy_id: str) -> str:
    path = repo / ".sweepops" / "ledger.jsonl"
    for rec in map(json.loads, path.read_text().splitlines()):
        if rec.get("event") == "submitted" and rec["deploy_id"] == deploy_id:
            (info,) = rec["clusters"].values()
            return Path(info["snapshot_dir"]).name
    raise AssertionError(f"no submission recorded for {deploy_id}")


def test_retry_after_losing_the_submission_record_adopts_the_job(repo, cluster):
    proc = sweepops(
        repo, cluster, "deploy", "base", "-e", f"clusters={cluster.name}", "-e", "deploy_id=retry-1"
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
    jobs = submitted_jobs(repo, "retry-1")
    (sweep_id,) = jobs
    # The deploy "crashed" right after sbatch: the intent is there, the record of it is not.
    record_dir = cluster.cluster_lab / "deploys" / "retry-1"
    (record_dir / f"{sweep_id}.submitted.json").unlink()
    assert (record_dir / f"{sweep_id}.intent.json").exists()
    again = sweepops(
        repo, cluster, "deploy", "base", "-e", f"clusters={cluster.name}", "-e", "deploy_id=retry-1"
    )
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr
    assert submitted_jobs(repo, "retry-1") == jobs  # the same job, adopted
    rows = cluster.ssh("squeue --me -h -t all -o '%F|%k'").stdout.split()
    arrays = {row.split("|")[0] for row in rows if row.endswith(f"|sweepops:retry-1:{sweep_id}")}
    assert arrays == {jobs[sweep_id]}  # one job array (of two tasks), submitted once


def lab_listing(root: Path) -> list[str]:
    """Entries two levels deep (code/KEY, agent/HASH, sweeps/ID, deploys/ID, ...): what a
    deploy adds. Deeper files change while earlier tests' jobs still run."""
    parts = ("code", "agent", "sweeps", "deploys", "lab")  # not runner/: Ansible scratch
    return sorted(str(p.relative_to(root)) for part in parts for p in root.glob(f"{part}/*"))


def test_check_mode_changes_nothing_on_either_side(repo, cluster, tmp_path):
    # A commit of its own, so the code snapshot would be new: check mode must not make it.
    (repo / "unique.txt").write_text(str(tmp_path))
    git(repo, "add", "unique.txt")
    git(repo, "commit", "-qm", "unique")
    before = (lab_listing(cluster.cluster_lab), lab_listing(repo / ".sweepops"), my_jobs(cluster))
    proc = sweepops(
        repo, cluster, "deploy", "base", "-e", f"clusters={cluster.name}", "--check", "--diff"
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
    after = (lab_listing(cluster.cluster_lab), lab_listing(repo / ".sweepops"), my_jobs(cluster))
    lab_b, state_b, jobs_b = before
    lab_a, state_a, jobs_a = after
    assert (lab_a, state_a) == (lab_b, state_b)
    assert jobs_a - jobs_b == set()  # nothing submitted (finished jobs may age out meanwhile)
    assert deploys(repo) == []
    assert "would" in proc.stdout.lower() or "changed:" in proc.stdout  # it did show the plan


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["-e", "clusters=nowhere"], "unknown cluster(s): nowhere"),
        (["-e", "clusters={cluster}", "-e", "partition=nope"], "unknown partition 'nope'"),
        (
            ["-e", "clusters={cluster}", "-e", "lab_root=/srv/no-such-lab"],
            "the lab root /srv/no-such-lab does not exist",
        ),
        # the preflight of the jobs' interpreter, in the same probe
        (
            ["-e", "clusters={cluster}", "-e", "env_prefix=/opt/no-such-env"],
            "{cluster}: env_prefix /opt/no-such-env does not exist on the cluster, so the jobs "
            "would not run in your env; copy it there with `sweepops provision {cluster}`, "
            "or set env_prefix in inventory/group_vars/{cluster}.yml",
        ),
        (
            ["-e", "clusters={cluster}", "-e", "agent_python=nopython"],
            "{cluster}: the jobs' activation (env_prefix=/opt/sweepops-research-env, "
            "agent_python=nopython) gives no working Python on the login host: `nopython` is "
            "not on PATH after the activation; set env_prefix in "
            "inventory/group_vars/{cluster}.yml",
        ),
    ],
)
def test_bad_input_fails_before_anything_is_made(repo, cluster, extra, expected):
    (repo / "unique.txt").write_text(repo.as_posix())  # a snapshot no other test made
    git(repo, "add", "unique.txt")
    git(repo, "commit", "-qm", "unique")
    before = my_jobs(cluster)
    lab_before = lab_listing(cluster.cluster_lab)
    extra = [arg.format(cluster=cluster.name) for arg in extra]
    proc = sweepops(repo, cluster, "deploy", "base", *extra)
    assert proc.returncode != 0
    out = " ".join((proc.stdout + proc.stderr).split())  # Ansible wraps long messages
    assert expected.format(cluster=cluster.name) in out, out[-3000:]
    assert deploys(repo) == []  # no sweep was created
    assert my_jobs(cluster) - before == set()  # nothing new submitted (old jobs age out)
    assert lab_listing(cluster.cluster_lab) == lab_before  # no snapshot, runtime or sweep


def test_gres_the_cluster_refuses_is_reported_and_nothing_submitted(repo, cluster):
    before = my_jobs(cluster)
    proc = sweepops(
        repo, cluster, "deploy", "base", "-e", f"clusters={cluster.name}", "-e", "gres=gpu:9"
    )
    assert proc.returncode != 0
    # the probe's own check (sinfo's GRES) names the value and the limit, before sbatch's
    assert (
        "gres gpu:9 asks for 9 gpu per job; the nodes of partition gpu have at most 2"
        in proc.stderr
    ), proc.stdout[-3000:] + proc.stderr
    assert deploys(repo) == []  # found in the checks: no sweep was created
    assert my_jobs(cluster) - before == set()  # nothing new submitted (old jobs age out)


def test_unreachable_cluster_is_a_clear_error(repo, cluster, tmp_path):
    inventory = tmp_path / "dead.yml"
    inventory.write_text(
        "all:\n  children:\n    dead:\n      hosts:\n        dead-login:\n"
        "          ansible_host: 127.0.0.1\n          ansible_port: 1\n"
        "      vars:\n        lab_root: /srv/sweepops-lab\n"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sweepops",
            "deploy",
            "base",
            "-i",
            str(inventory),
            "-e",
            "clusters=dead",
        ],
        cwd=repo,
        env=agent_env(ANSIBLE_NOCOLOR="1"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    # the short view names the host and why, on its stage's line
    line = next(x for x in proc.stdout.splitlines() if x.startswith("✗ ") and "[dead-login]" in x)
    assert "unreachable: " in line, proc.stdout
    assert deploys(repo) == []


def test_dirty_tree_is_refused_with_the_file_list(repo, cluster):
    (repo / "experiments" / "train.py").write_text("# edited\n")
    proc = sweepops(repo, cluster, "deploy", "base", "-e", f"clusters={cluster.name}")
    assert proc.returncode != 0
    assert "experiments/train.py" in proc.stdout + proc.stderr
    assert "allow_dirty" in proc.stdout + proc.stderr
    assert deploys(repo) == []


def test_one_deploy_on_two_clusters_splits_the_sweep(repo, cluster, cluster2):
    env = agent_env(
        SWEEPOPS_INVENTORY=f"{cluster.inventory}:{cluster2.inventory}", ANSIBLE_NOCOLOR="1"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sweepops",
            "deploy",
            "base",
            "-e",
            f"clusters={cluster.name},{cluster2.name}",
        ],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
    (deploy,) = deploys(repo)
    (sweep,) = deploy["sweeps"]
    shares = []
    for c in (cluster, cluster2):
        deadline = time.monotonic() + 240
        while True:
            runs = run_records(c, sweep["id"])
            if len(runs) == 3 and all(r["state"] == "finished" for r in runs):
                break
            assert time.monotonic() < deadline, f"{c.name}: {[r['state'] for r in runs]}"
            time.sleep(1)
        shares.append({json.dumps(r["params"], sort_keys=True) for r in runs})
        assert {r["agent"]["slurm"]["node"] for r in runs} <= {
            f"{c.name}-node01",
            f"{c.name}-node02",
        }
    assert len(shares[0] | shares[1]) == 6 and not shares[0] & shares[1]


def test_cancel_stops_the_jobs_and_the_sweep(repo, cluster):
    (repo / "experiments" / "long.yml").write_text(
        "program: tests/programs/probe.py\nmethod: grid\nparameters:\n  sleep: 300\n  x: [1, 2, 3]\n_num_nodes: 2\n"
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "long experiment")
    proc = sweepops(repo, cluster, "deploy", "long", "-e", f"clusters={cluster.name}")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
    (deploy,) = deploys(repo)
    (sweep_id,) = submitted_jobs(repo, deploy["deploy_id"])
    job = submitted_jobs(repo, deploy["deploy_id"])[sweep_id]
    deadline = time.monotonic() + 120
    while sum(r["state"] == "running" for r in run_records(cluster, sweep_id)) < 2:
        assert time.monotonic() < deadline, "the agents never started their runs"
        time.sleep(1)
    cancel = sweepops(repo, cluster, "cancel", "long")
    assert cancel.returncode == 0, cancel.stdout + cancel.stderr
    assert f"cancelled on {cluster.name}-login" in cancel.stdout
    assert (cluster.cluster_lab / "sweeps" / sweep_id / "cancelled").exists()
    deadline = time.monotonic() + 120
    while True:
        states = set(cluster.ssh(f"squeue -h -t all -j {job} -o %T").stdout.split())
        if states and states <= {"CANCELLED", "COMPLETED", "FAILED"}:
            break
        assert time.monotonic() < deadline, states
        time.sleep(1)
    status = sweepops(repo, cluster, "status", "long")
    assert "CANCELLED" in status.stdout
    # The third point was never started; nothing was marked finished that did not finish.
    assert not any(r["state"] == "finished" for r in run_records(cluster, sweep_id))


def test_deploy_wait_waits_for_the_cluster_and_prints_its_runs(repo, cluster):
    proc = sweepops(
        repo,
        cluster,
        "deploy",
        "base",
        "-e",
        f"clusters={cluster.name}",
        "--wait",
        "--timeout",
        "300",
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
    assert "waiting for the clusters" in proc.stdout
    lines = proc.stdout.splitlines()
    header = next(
        i for i, line in enumerate(lines) if line.startswith("run ") and "val_loss" in line
    )
    rows = lines[header + 2 : header + 8]
    assert len(rows) == 6 and all("finished" in row.split() for row in rows)
    assert all(f"{cluster.name}-login" in row for row in rows)


def test_composite_of_20_sweeps_is_one_submission_and_a_retry_submits_nothing_twice(repo, cluster):
    composite_of(repo, "many", 20)
    deploy_id = "many-1"
    args = ("deploy", "many", "-e", f"clusters={cluster.name}", "-e", f"deploy_id={deploy_id}")
    proc = sweepops(repo, cluster, *args)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
    jobs = submitted_jobs(repo, deploy_id)
    assert len(jobs) == 20 and len(set(jobs.values())) == 20
    record_dir = cluster.cluster_lab / "deploys" / deploy_id
    try:
        # every sweep's intent was written (before its sbatch) by one process on the login
        # node: one module call, i.e. one ssh round trip, submitted all 20
        intents = [json.loads((record_dir / f"{s}.intent.json").read_text()) for s in jobs]
        assert len({i["pid"] for i in intents}) == 1, sorted({i["pid"] for i in intents})
        # the deploy "crashed" after the sbatch calls, before their records: the retry adopts
        # each job; nothing is submitted twice
        for sweep_id in list(jobs)[:12]:
            (record_dir / f"{sweep_id}.submitted.json").unlink()
        again = sweepops(repo, cluster, *args)
        assert again.returncode == 0, again.stdout[-4000:] + again.stderr
        assert submitted_jobs(repo, deploy_id) == jobs
        rows = cluster.ssh("squeue --me -h -t all -o '%F|%k'").stdout.split()
        arrays: dict[str, set[str]] = {}
        for row in rows:
            array, _, comment = row.partition("|")
            if comment.startswith(f"sweepops:{deploy_id}:"):
                arrays.setdefault(comment.rsplit(":", 1)[1], set()).add(array)
        assert arrays == {s: {j} for s, j in jobs.items()}
    finally:
        cluster.ssh(f"scancel {' '.join(jobs.values())}", check=False)
