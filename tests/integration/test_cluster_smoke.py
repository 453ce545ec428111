"""Smoke tests of the real Slurm test cluster started by tests/cluster/up.

The cluster lives in its own mount + UTS + network namespace: its /srv/sweepops-lab is
.state/NAME/lab, not the workstation's /srv/sweepops-lab, and it is reached over ssh at
10.203.N.2 only. See tests/cluster/lib.sh.

Run:  pytest -m cluster tests/integration/test_cluster_smoke.py   (as root)
SWEEPOPS_TEST_CLUSTER_NAME picks the cluster (default atlas).
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.clusterlib import CLUSTER_DIR, Cluster, parse_exports, wait_for_job

pytestmark = [pytest.mark.cluster, pytest.mark.integration]


@pytest.fixture(scope="session")
def gpu_job(cluster: Cluster) -> dict[str, str]:
    """One job submitted over ssh as the researcher, asking for a GPU; waited for."""
    token = uuid.uuid4().hex[:12]
    rel = f"smoke/{token}.txt"
    script = (
        "#!/bin/bash\n"
        f"echo CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES > {cluster.lab}/{rel}\n"
        f"echo SLURMD_NODENAME=$SLURMD_NODENAME >> {cluster.lab}/{rel}\n"
        f"echo USER=$(id -un) >> {cluster.lab}/{rel}\n"
    )
    submit = (
        f"mkdir -p {cluster.lab}/smoke && cd {cluster.lab}/smoke && "
        f"sbatch --parsable -p gpu --gres=gpu:1 -c 1 --mem=1G -t 00:05:00 "
        f"-J smoke-{token} -o {cluster.lab}/smoke/%j.out <<'EOF'\n{script}EOF"
    )
    job_id = cluster.ssh(submit).stdout.strip().split(";")[0]
    assert job_id.isdigit(), job_id
    state = wait_for_job(cluster, job_id)
    return {"id": job_id, "state": state, "rel": rel}


def test_sinfo_shows_two_idle_nodes(cluster: Cluster) -> None:
    deadline = time.monotonic() + 20
    while True:
        out = cluster.ssh("sinfo -h -N -p gpu -o '%N %T'").stdout.split("\n")
        rows = sorted(line.split() for line in out if line.strip())
        expected = [[f"{cluster.name}-node01", "idle"], [f"{cluster.name}-node02", "idle"]]
        if rows == expected or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert rows == expected
    partitions = cluster.ssh("sinfo -h -o %P").stdout.split()
    assert partitions == ["gpu*", "cpu"]


def test_gpu_job_writes_to_cluster_lab_only(cluster: Cluster, gpu_job: dict[str, str]) -> None:
    assert gpu_job["state"] == "COMPLETED"
    on_cluster = cluster.cluster_lab / gpu_job["rel"]
    assert on_cluster.is_file(), f"{on_cluster} missing"
    lines = dict(line.split("=", 1) for line in on_cluster.read_text().splitlines())
    assert lines["CUDA_VISIBLE_DEVICES"] in {"0", "1"}
    assert lines["SLURMD_NODENAME"] in {f"{cluster.name}-node01", f"{cluster.name}-node02"}
    assert lines["USER"] == cluster.user
    assert not (cluster.lab / gpu_job["rel"]).exists(), "job output leaked to the workstation"


def test_sacct_shows_job_completed(cluster: Cluster, gpu_job: dict[str, str]) -> None:
    deadline = time.monotonic() + 30
    row = ""
    while time.monotonic() < deadline:
        row = cluster.ssh(
            f"sacct -n -X -P -j {gpu_job['id']} -o JobID,State,AllocTRES"
        ).stdout.strip()
        if "|COMPLETED|" in row:
            break
        time.sleep(1)
    assert "|COMPLETED|" in row, f"sacct row: {row!r}"
    assert "gres/gpu=1" in row


def test_rsync_lands_on_cluster_side_only(cluster: Cluster, tmp_path: Path) -> None:
    token = uuid.uuid4().hex[:12]
    src = tmp_path / "payload"
    src.mkdir()
    (src / "hello.txt").write_text(token)
    dest = f"{cluster.lab}/rsync-{token}/"
    rsh = shlex.join(["ssh", *cluster.ssh_opts()])
    subprocess.run(
        ["rsync", "-a", "-e", rsh, f"{src}/", f"{cluster.user}@{cluster.host}:{dest}"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (cluster.cluster_lab / f"rsync-{token}" / "hello.txt").read_text() == token
    assert not (cluster.lab / f"rsync-{token}").exists()
    assert cluster.ssh(f"cat {dest}hello.txt").stdout == token


def test_password_login(cluster: Cluster) -> None:
    proc = subprocess.run(
        [
            "sshpass",
            "-e",
            "ssh",
            *cluster.ssh_opts(key=False),
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "PreferredAuthentications=password",
            f"{cluster.user}@{cluster.host}",
            "id -un",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SSHPASS": cluster.password},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == cluster.user


def test_cluster_has_a_python_for_the_researcher(cluster: Cluster) -> None:
    out = cluster.ssh("python3 -c 'import sys, venv; print(sys.executable)'").stdout.strip()
    assert out.startswith("/usr/bin/python3")


def test_cluster_cannot_reach_workstation_loopback(cluster: Cluster) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        # sanity: reachable from the workstation itself
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        probe = (
            "timeout 3 bash -c 'echo > /dev/tcp/127.0.0.1/{}' 2>/dev/null"
            " && echo open || echo closed"
        )
        # the cluster's own loopback works (its sshd listens there) ...
        assert cluster.ssh(probe.format(cluster.port)).stdout.strip() == "open"
        # ... but the workstation's 127.0.0.1 is a different host from there
        assert cluster.ssh(probe.format(port)).stdout.strip() == "closed"
    assert cluster.ssh("ip -4 route show default").stdout.strip() == ""


def test_two_node_job_runs_srun_on_both_nodes(cluster: Cluster) -> None:
    out = f"{cluster.lab}/smoke/two-node-%j.out"
    job_id = cluster.ssh(
        f"mkdir -p {cluster.lab}/smoke && cd {cluster.lab}/smoke && "
        f"sbatch --parsable -p cpu -N 2 -o {out} --wrap 'srun bash -c \"echo \\$SLURMD_NODENAME\"'"
    ).stdout.strip()
    assert wait_for_job(cluster, job_id) == "COMPLETED"
    text = (cluster.cluster_lab / "smoke" / f"two-node-{job_id}.out").read_text()
    assert sorted(text.split()) == [f"{cluster.name}-node01", f"{cluster.name}-node02"]


def test_impossible_gres_request_is_refused(cluster: Cluster) -> None:
    proc = cluster.ssh("sbatch --gres=gpu:3 --wrap true", check=False)
    assert proc.returncode != 0
    assert "not available" in proc.stderr


def test_up_again_prints_the_same_exports(cluster: Cluster) -> None:
    again = subprocess.run(
        [CLUSTER_DIR / "up", cluster.name], capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stderr
    env = parse_exports(again.stdout)
    assert env["SWEEPOPS_TEST_LOGIN_HOST"] == cluster.host
    assert env["SWEEPOPS_TEST_STATE"] == str(cluster.state)
