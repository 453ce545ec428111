# ruff: noqa: F811  (the fixtures job_env and lab are imported from test_sbatch)
"""Containers that really run (issue 15): charliecloud from Debian's packages on the test cluster.

The container role (tests/playbooks/container.yml: cluster_facts + container, as provision.yml
runs them) builds a charliecloud image from Debian's packages with debootstrap on the
workstation, copies the tarball to the cluster, unpacks it there and runs the sanity command
in it as the cluster user. Jobs (roles/sbatch, as a deploy submits them) then run the agent and
its runs inside it with ch-run, the env bound in by reference at its own path.

What it costs is paid once: the image is one session-scoped fixture (built, copied and
unpacked once per test session, whatever tests use it), and the debootstrap base under it is
cached in tests/cluster/.state/rootfs-cache ($SWEEPOPS_TEST_ROOTFS_CACHE), which outlives the
session: a clean machine fetches Debian's packages once (about 2 to 6 minutes, the mirror's
speed), a later session only runs the definition on the cached base and packs it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sweepops.records import ledger
from sweepops.runtime.offline_sweep import FINISHED, PREEMPTED
from tests.clusterlib import Cluster
from tests.conftest import REPO, agent_env
from tests.integration.test_cluster_results import finished, sweepops
from tests.integration.test_sbatch import (  # noqa: F401  (fixtures)
    BIN,
    ENV_PREFIX,
    Lab,
    job_env,
    job_ids,
    lab,
    recap,
    wait_until,
)

pytestmark = [pytest.mark.cluster, pytest.mark.integration]
ROOTFS_CACHE = Path(
    os.environ.get("SWEEPOPS_TEST_ROOTFS_CACHE") or REPO / "tests" / "cluster" / ".state" / "rootfs-cache"
)
MARKER = "/etc/sweepops-test-marker"


def container_playbook(
    cluster: Cluster, build_dir: Path, image: str, *args: str
) -> subprocess.CompletedProcess[str]:
    variables: dict[str, Any] = {
        "clusters": cluster.name,
        "container_image": image,
        "container_runtime": "charliecloud",
        "container_env_prefix": ENV_PREFIX,
        "container_env_is_conda": False,
        "container_build_dir": str(build_dir),
        "container_rootfs_cache": str(ROOTFS_CACHE),
        "container_post_commands": [f"echo built-by-the-definition > {MARKER}"],
        "container_sanity_command": ["python", "-c", "import sys; print('SANITY', sys.prefix)"],
        "cluster_facts_local_dir": str(build_dir / "facts"),
    }
    vars_file = build_dir / "vars.json"
    vars_file.write_text(json.dumps(variables))
    return subprocess.run(
        [
            str(BIN / "ansible-playbook"),
            "-i",
            str(cluster.inventory),
            "tests/playbooks/container.yml",
            "-e",
            f"@{vars_file}",
            *args,
        ],
        cwd=REPO,
        env=agent_env(ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0"),
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="session")
def image(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Provision the container once per session (the first test asserts on how it went)."""
    build_dir = tmp_path_factory.mktemp("container")
    name = f"ch-{uuid.uuid4().hex[:8]}"
    remote = f"{cluster.lab}/containers/{name}.tar.gz"
    base_cached = any(ROOTFS_CACHE.glob("debootstrap-*.tar"))
    started = time.monotonic()
    first = container_playbook(cluster, build_dir, remote)
    build_seconds = time.monotonic() - started
    info: dict[str, Any] = {
        "remote": remote,
        "local": cluster.cluster_lab / "containers" / f"{name}.tar.gz",
        "unpacked": cluster.cluster_lab / "containers" / name,
        "build_dir": build_dir,
        "first": first,
        "build_seconds": build_seconds,
        "base_cached": base_cached,
        "name": name,
    }
    yield info
    for path in (info["unpacked"], info["local"]):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists():
            path.unlink()
    for extra in info["local"].parent.glob(f"{name}.tar.gz*"):
        extra.unlink()


def test_provision_builds_copies_unpacks_and_checks_then_changes_nothing(
    cluster: Cluster, image: dict[str, Any]
) -> None:
    first = image["first"]
    out = first.stdout + first.stderr
    assert first.returncode == 0, out[-5000:]
    base = "cached" if image["base_cached"] else "built now"
    print(f"container build+copy+unpack: {image['build_seconds']:.1f} s (debootstrap base {base})")
    assert recap(first)["changed"] > 0
    local_image = image["build_dir"] / f"{image['name']}.tar.gz"
    assert local_image.exists() and image["local"].exists()  # built here, copied there
    assert local_image.read_bytes() == image["local"].read_bytes()
    unpacked: Path = image["unpacked"]
    assert (unpacked / "etc" / "os-release").exists()
    assert (unpacked / MARKER.lstrip("/")).read_text() == "built-by-the-definition\n"
    assert (unpacked / ENV_PREFIX.lstrip("/")).is_dir()  # the bind point of the env
    assert (unpacked / str(cluster.lab).lstrip("/")).is_dir()  # and of the lab root
    # the sanity command ran in the container, as the cluster user, with the env bound in
    assert f"SANITY {ENV_PREFIX}" in out
    # a second provision changes nothing (no build, no copy, no unpack)
    second = container_playbook(cluster, image["build_dir"], image["remote"])
    assert second.returncode == 0, (second.stdout + second.stderr)[-5000:]
    assert recap(second)["changed"] == 0, second.stdout[-5000:]
    # check mode too
    check = container_playbook(cluster, image["build_dir"], image["remote"], "--check")
    assert check.returncode == 0 and recap(check)["changed"] == 0, check.stdout[-5000:]


def container_run(lab: Lab, image: dict[str, Any], parameters: dict[str, Any], read: str):
    sweep = lab.sweep(parameters)
    proc = lab.playbook(
        [lab.sweep_item(sweep, agents=1)],
        sbatch_container_image=image["remote"],
        sbatch_container_runtime="charliecloud",
        sbatch_extra_directives=[f"--export=ALL,PROBE_OUT={lab.remote / 'out'},PROBE_READ={read}"],
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return sweep, job_ids(proc)[sweep.id]


def test_runs_execute_inside_the_container_with_the_env_by_reference(
    lab: Lab, image: dict[str, Any]
) -> None:
    assert image["first"].returncode == 0
    (lab.local / "out").mkdir(parents=True, exist_ok=True)
    lab.chown()
    env_file = Path(ENV_PREFIX) / f"container-test-{lab.token}.txt"
    sha_before = image["local"].read_bytes()
    try:
        for text in ("first", "second"):  # the env changes on the cluster, the image does not
            env_file.write_text(text)
            sweep, job = container_run(lab, image, {"x": {"values": [1]}}, str(env_file))
            wait_until(
                lambda s=sweep: [r for r in s.runs() if r["state"] == FINISHED],
                240,
                "the run in the container to finish",
            )
            ((run,),) = [sweep.runs()]
            run_id = run.get("run_id") or run["id"]
            rec = json.loads((lab.local / "out" / f"{run_id}.1.json").read_text())
            assert rec["ch_running"], rec  # charliecloud's ch-run set it: inside the container
            assert rec["image_file"] and f"env_prefix={ENV_PREFIX}" in rec["image_file"]
            assert rec["read"] == text  # the env's file as it is now, without a rebuild
            log = (lab.deploy_dir / "logs" / f"probe-{job}_1.out").read_text()
            assert "(charliecloud)" in log
    finally:
        env_file.unlink(missing_ok=True)
    assert image["local"].read_bytes() == sha_before


def test_a_preempted_run_in_the_container_is_requeued(lab: Lab, image: dict[str, Any]) -> None:
    assert image["first"].returncode == 0
    (lab.local / "out").mkdir(parents=True, exist_ok=True)
    lab.chown()
    sweep, job_id = container_run(
        lab, image, {"x": {"values": [1]}, "sleep_first": {"value": 600}}, "/etc/os-release"
    )
    out = lab.local / "out"
    started = wait_until(lambda: list(out.glob("*.1.json")), 180, "the run to start")
    run_id = started[0].name.split(".")[0]
    assert json.loads(started[0].read_text())["ch_running"]
    time.sleep(1)  # let the program install its SIGTERM handler
    lab.cluster.ssh(f"scancel --signal=USR1 --batch {job_id}_1")
    # the signal went through ch-run to the agent, which stopped the run ...
    wait_until(lambda: (out / f"{run_id}.1.term").exists(), 60, "the run to get SIGTERM")
    # ... and the array task was requeued, ran again in the container and finished the run
    wait_until(
        lambda: lab.cluster.ssh(f"squeue -h -j {job_id}_1 -o %T").stdout.strip() == "PENDING",
        60,
        "the task to be pending again",
    )
    lab.cluster.ssh(f"scontrol update JobId={job_id}_1 StartTime=now", check=False)
    wait_until(
        lambda: sweep.read_run(run_id)["state"] == FINISHED, 300, "the requeued run to finish"
    )
    rec = sweep.read_run(run_id)
    assert rec["attempt"] == 2
    assert [a["state"] for a in rec["history_of_attempts"]] == [PREEMPTED]
    assert json.loads((out / f"{run_id}.2.json").read_text())["ch_running"]
    log = (lab.deploy_dir / "logs" / f"probe-{job_id}_1.out").read_text()
    assert "got SIGUSR1" in log and "requeueing" in log and "restart 1" in log


def test_a_deploy_enters_the_container_and_records_its_digest(
    repo: Path, cluster: Cluster, image: dict[str, Any]
) -> None:
    """`sweepops deploy` with the cluster's group_vars naming the charliecloud image: the
    preflight runs the activation inside it on the login host, the jobs run the agent in it,
    the ledger records the tarball's sha256 (what reproduce checks)."""
    assert image["first"].returncode == 0
    host = f"{cluster.name}-login"
    group_vars = cluster.inventory.parent / "group_vars" / f"{cluster.name}.yml"
    before = group_vars.read_text()
    group_vars.write_text(
        before + f"container_image: {image['remote']}\ncontainer_runtime: charliecloud\n"
    )
    jobs: list[str] = []
    try:
        proc = sweepops(repo, [cluster], "deploy", "base", "-e", f"clusters={cluster.name}", "-vv")
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
        # the preflight's probe (-vv: Ansible's -v, the results) asked the interpreter inside the image
        assert f"the login host, in the container {image['remote']}" in proc.stdout, [
            line[:3000] for line in proc.stdout.splitlines() if "interpreter" in line
        ]
        (deploy,) = [r for r in ledger.records(repo) if "sweeps" in r]
        sub = ledger.submissions(repo, deploy["deploy_id"])[host]
        jobs += [str(j) for j in sub["jobs"].values()]
        assert sub["container_image"] == image["remote"]
        assert sub["container_digest"] == hashlib.sha256(image["local"].read_bytes()).hexdigest()
        (sweep,) = deploy["sweeps"]
        deploy_dir = cluster.cluster_lab / "deploys" / deploy["deploy_id"]
        script = (deploy_dir / f"{sweep['id']}.sbatch").read_text()
        assert f" {cluster.lab}/containers/{image['name']} -- " in script and "ch-run -b" in script
        deadline = time.monotonic() + 300
        while finished(cluster, sweep["id"]) < 6:
            assert time.monotonic() < deadline, "the runs in the container did not finish in time"
            time.sleep(1)
        logs = [p.read_text() for p in (deploy_dir / "logs").glob("*.out")]
        assert logs and all("(charliecloud)" in text for text in logs), logs
    finally:
        group_vars.write_text(before)
        if jobs:
            cluster.ssh("scancel " + " ".join(jobs), check=False)
