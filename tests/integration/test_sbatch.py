"""roles/sbatch + sweepops_sbatch on the real Slurm test cluster (tests/cluster/up).

Each test creates an offline sweep in the cluster's lab (written through its backing dir on
the workstation, then chowned to the job user), copies the sweepops package and
tests/programs/probe.py there, and runs tests/playbooks/sbatch.yml against the cluster.
Jobs run with the same-path env of tests/cluster/make-env. Polls with timeouts only.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sweepops.runtime.offline_sweep import FINISHED, PREEMPTED, OfflineSweep
from tests.clusterlib import Cluster, runtime_on_cluster
from tests.conftest import PROBE, REPO, agent_env

pytestmark = [pytest.mark.cluster, pytest.mark.integration]
BIN = Path(sys.executable).parent
ENV_PREFIX = "/opt/sweepops-research-env"


@pytest.fixture(scope="session")
def job_env() -> str:
    proc = subprocess.run(
        [str(REPO / "tests" / "cluster" / "make-env"), ENV_PREFIX],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip()


@dataclass
class Lab:
    """One test's corner of the cluster's lab: LAB/sbatch-tests/TOKEN."""

    cluster: Cluster
    token: str
    agent_dir: str = ""  # the agent's runtime on the cluster (LAB/agent/KEY)

    @property
    def local(self) -> Path:  # as seen from the workstation
        return self.cluster.cluster_lab / "sbatch-tests" / self.token

    @property
    def remote(self) -> Path:  # as seen on the cluster
        return self.cluster.lab / "sbatch-tests" / self.token

    @property
    def deploy_id(self) -> str:
        return f"t{self.token}"

    @property
    def deploy_dir(self) -> Path:  # local view of LAB/deploys/DEPLOY_ID
        return self.cluster.cluster_lab / "deploys" / self.deploy_id

    def sweep(self, parameters: dict[str, Any], name: str = "probe") -> OfflineSweep:
        config = {"program": "probe.py", "method": "grid", "parameters": parameters}
        sweep = OfflineSweep.create(self.local / "sweeps", config=config, name=name)
        self.chown()
        return sweep

    def chown(self) -> None:
        subprocess.run(["chown", "-R", f"{self.cluster.user}:", str(self.local)], check=True)

    def sweep_item(self, sweep: OfflineSweep, agents: int) -> dict[str, Any]:
        return {
            "id": sweep.id,
            "name": sweep.meta["name"],
            "agents": agents,
            "dir": str(self.remote / "sweeps" / sweep.id),
        }

    def playbook(
        self, sweeps: list[dict[str, Any]], *args: str, **extra: Any
    ) -> subprocess.CompletedProcess[str]:
        variables = {
            "clusters": self.cluster.name,  # the playbook's default is atlas
            "sbatch_deploy_id": self.deploy_id,
            "sbatch_sweeps": sweeps,
            "sbatch_snapshot_dir": str(self.remote / "code"),
            "sbatch_agent_dir": self.agent_dir,
            "sbatch_env_prefix": ENV_PREFIX,
            "sbatch_extra_directives": [f"--export=ALL,PROBE_OUT={self.remote / 'out'}"],
            **extra,
        }
        vars_file = self.local.parent / f"{self.token}.vars.json"
        vars_file.write_text(json.dumps(variables))
        return subprocess.run(
            [
                str(BIN / "ansible-playbook"),
                "-i",
                str(self.cluster.inventory),
                "tests/playbooks/sbatch.yml",
                "-e",
                f"@{vars_file}",
                "-e",
                f"clusters={self.cluster.name}",  # the playbook's default is atlas
                *args,
            ],
            cwd=REPO,
            env=agent_env(ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0"),
            capture_output=True,
            text=True,
            timeout=300,
        )

    def jobs_with_comment(self, sweep_id: str) -> set[str]:
        comment = f"sweepops:{self.deploy_id}:{sweep_id}"
        out = self.cluster.ssh(
            "squeue --me -h -t all -o '%F|%k'; sacct -X -n -P -S now-1days -o JobID,Comment"
        ).stdout
        return {
            line.split("|")[0].split("_")[0]
            for line in out.splitlines()
            if line.split("|", 1)[-1] == comment
        }

    def sacct(self, job_id: str) -> dict[str, str]:
        out = self.cluster.ssh(f"sacct -X -n -P -o JobID,State,ExitCode -j {job_id}").stdout
        return {
            row.split("|")[0]: row.split("|")[1] for row in out.splitlines() if row.count("|") == 2
        }


@pytest.fixture
def lab(cluster: Cluster, job_env: str) -> Lab:
    lab = Lab(cluster, uuid.uuid4().hex[:8], runtime_on_cluster(cluster, job_env))
    for sub in ("sweeps", "code", "out"):
        (lab.local / sub).mkdir(parents=True)
    shutil.copy(PROBE, lab.local / "code" / "probe.py")
    lab.chown()
    return lab


def recap(proc: subprocess.CompletedProcess[str]) -> dict[str, int]:
    line = next(ln for ln in proc.stdout.splitlines() if "ok=" in ln and "changed=" in ln)
    return {k: int(v) for k, v in (w.split("=") for w in line.split(":", 1)[1].split())}


def job_ids(proc: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """sbatch_jobs as shown by the playbook's last play (yaml callback)."""
    lines = proc.stdout.splitlines()
    start = next(i for i, ln in enumerate(lines) if "sbatch_jobs:" in ln)
    out = {}
    for ln in lines[start + 1 :]:
        if ":" not in ln or not ln.startswith("        "):
            break
        key, value = ln.strip().split(":", 1)
        out[key] = value.strip().strip("'\"")
    return out


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def final_states(lab: Lab, job_id: str, tasks: int) -> dict[str, str]:
    final = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"}

    def done() -> dict[str, str] | None:
        rows = lab.sacct(job_id)
        tasks_rows = {k: v for k, v in rows.items() if "[" not in k}
        if len(tasks_rows) == tasks and all(v.split()[0] in final for v in tasks_rows.values()):
            return tasks_rows
        return None

    return wait_until(done, 240, f"job {job_id} to end in sacct")


def test_job_array_runs_every_point_and_second_run_submits_nothing(lab: Lab):
    sweep = lab.sweep({"x": {"values": [1, 2, 3, 4, 5]}, "sleep": {"value": 0.5}})
    proc = lab.playbook([lab.sweep_item(sweep, agents=2)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    job_id = job_ids(proc)[sweep.id]
    assert job_id.isdigit()
    states = final_states(lab, job_id, tasks=2)
    assert states == {f"{job_id}_1": "COMPLETED", f"{job_id}_2": "COMPLETED"}
    runs = sweep.runs()
    assert sorted(r["params"]["x"]["value"] for r in runs) == [1, 2, 3, 4, 5]
    assert all(r["state"] == FINISHED for r in runs)
    assert len({r["agent"]["pid"] for r in runs}) >= 1
    assert len(list((lab.local / "out").glob("*.1.json"))) == 5  # each point started once
    logs = sorted((lab.deploy_dir / "logs").glob("*.out"))
    assert [p.name for p in logs] == [f"probe-{job_id}_1.out", f"probe-{job_id}_2.out"]
    assert "agent exited 0" in logs[0].read_text()
    # idempotent: the second run changes nothing and submits nothing
    again = lab.playbook([lab.sweep_item(sweep, agents=2)])
    assert again.returncode == 0, again.stdout + again.stderr
    assert recap(again)["changed"] == 0
    assert job_ids(again) == {sweep.id: job_id}
    assert lab.jobs_with_comment(sweep.id) == {job_id}
    # check mode: nothing changes either
    check = lab.playbook([lab.sweep_item(sweep, agents=2)], "--check")
    assert check.returncode == 0 and recap(check)["changed"] == 0, check.stdout


def test_retried_submission_adopts_the_job(lab: Lab):
    sweep = lab.sweep({"x": {"values": [1]}})
    proc = lab.playbook([lab.sweep_item(sweep, agents=1)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    job_id = job_ids(proc)[sweep.id]
    # a crash between sbatch and the record: the intent is there, the record is not
    record = lab.deploy_dir / f"{sweep.id}.submitted.json"
    assert (lab.deploy_dir / f"{sweep.id}.intent.json").exists()
    record.unlink()
    again = lab.playbook([lab.sweep_item(sweep, agents=1)])
    assert again.returncode == 0, again.stdout + again.stderr
    assert job_ids(again) == {sweep.id: job_id}
    assert json.loads(record.read_text())["adopted"] is True
    assert lab.jobs_with_comment(sweep.id) == {job_id}
    final_states(lab, job_id, tasks=1)


def test_failing_runs_make_the_tasks_fail(lab: Lab):
    sweep = lab.sweep({"x": {"values": [1, 2, 3, 4]}, "fail": {"value": 1}})
    proc = lab.playbook([lab.sweep_item(sweep, agents=2)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    job_id = job_ids(proc)[sweep.id]
    states = final_states(lab, job_id, tasks=2)
    assert set(states.values()) == {"FAILED"}, states


def test_a_node_that_differs_from_the_login_host_fails_the_job_fast(lab: Lab):
    """What the deploy's preflight checked on the login host, each job checks on its node:
    no interpreter after the activation (exit 3), or one the agent's runtime was not built
    for (exit 2); the log says so in the preflight's words and no run is claimed."""
    from sweepops.remote import interpreter

    cluster = lab.cluster.name
    sweep = lab.sweep({"x": {"values": [1, 2]}}, name="nopython")
    proc = lab.playbook([lab.sweep_item(sweep, agents=1)], sbatch_python="nopython")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    job_id = job_ids(proc)[sweep.id]
    # the one task failed (asked once: sacct may name the task's row differently while its
    # array record is still being written)
    assert list(final_states(lab, job_id, tasks=1).values()) == ["FAILED"]
    (log,) = (lab.deploy_dir / "logs").glob(f"nopython-{job_id}_*.out")
    text = log.read_text()
    node = re.search(r"host=(\S+)", text).group(1)
    words = interpreter.python_problem(
        cluster, "`nopython` is not on PATH after the activation", env_prefix=ENV_PREFIX,
        conda_root="", modules=[], python="nopython", where=f"node {node}",
    )  # fmt: skip
    assert f"[sweepops] {words}" in text, text
    assert sweep.runs() == []  # the agent never started

    # a runtime built for another Python than this node's
    other = lab.local / "agent-other"
    local_runtime = lab.cluster.cluster_lab / Path(lab.agent_dir).relative_to(lab.cluster.lab)
    shutil.copytree(local_runtime / "sweepops", other / "sweepops")
    shutil.copy(local_runtime / "__main__.py", other / "__main__.py")
    meta = json.loads((local_runtime / "runtime.json").read_text())
    built_for = "cp39-linux-x86_64-glibc2.17"
    (other / "runtime.json").write_text(json.dumps({**meta, "target": built_for}))
    lab.chown()
    sweep = lab.sweep({"x": {"values": [1, 2]}}, name="otherpython")
    lab.agent_dir = str(lab.remote / "agent-other")
    proc = lab.playbook([lab.sweep_item(sweep, agents=1)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    job_id = job_ids(proc)[sweep.id]
    assert set(final_states(lab, job_id, tasks=1).values()) == {"FAILED"}
    (log,) = (lab.deploy_dir / "logs").glob(f"otherpython-{job_id}_*.out")
    text = log.read_text()
    node = re.search(r"host=(\S+)", text).group(1)
    found = interpreter.probe(
        activate=interpreter.activation([], "", ENV_PREFIX), python="python", check_wandb=False
    )["target"]
    words = interpreter.target_problem(cluster, built_for, found, node)
    assert f"[sweepops] {words}" in text and "agent exited 2" in text, text
    assert sweep.runs() == []


def test_bad_partition_is_a_clear_error_and_nothing_is_recorded(lab: Lab):
    sweep = lab.sweep({"x": {"values": [1]}})
    proc = lab.playbook([lab.sweep_item(sweep, agents=1)], sbatch_partition="nope")
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "invalid partition" in out.lower() and "sinfo" in out, out
    assert not (lab.deploy_dir / f"{sweep.id}.submitted.json").exists()
    assert lab.jobs_with_comment(sweep.id) == set()
    # check mode says the same without writing anything
    check = lab.playbook([lab.sweep_item(sweep, agents=1)], "--check", sbatch_partition="nope")
    assert check.returncode != 0 and "invalid partition" in check.stdout.lower()


def test_usr1_requeues_the_run_and_the_task(lab: Lab):
    # one point whose first attempt runs long; the second attempt ends at once
    sweep = lab.sweep({"x": {"values": [1]}, "sleep_first": {"value": 600}})
    proc = lab.playbook([lab.sweep_item(sweep, agents=1)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    job_id = job_ids(proc)[sweep.id]
    out = lab.local / "out"
    started = wait_until(lambda: list(out.glob("*.1.json")), 120, "the run to start")
    run_id = started[0].name.split(".")[0]
    time.sleep(1)  # let the program install its SIGTERM handler
    lab.cluster.ssh(f"scancel --signal=USR1 --batch {job_id}_1")
    # the run got SIGTERM from the agent and went back into the sweep ...
    wait_until(lambda: (out / f"{run_id}.1.term").exists(), 60, "the run to get SIGTERM")
    assert (out / f"{run_id}.1.term").read_text() == "15"
    # ... the array task was requeued (Slurm holds a requeued job ~2 min: BeginTime; the
    # test lets it start now, as an impatient user could) ...
    wait_until(
        lambda: lab.cluster.ssh(f"squeue -h -j {job_id}_1 -o %T").stdout.strip() == "PENDING",
        60,
        "the task to be pending again",
    )
    lab.cluster.ssh(f"scontrol update JobId={job_id}_1 StartTime=now", check=False)
    # ... ran again and finished the run (attempt 2)
    wait_until(
        lambda: sweep.read_run(run_id)["state"] == FINISHED, 300, "the requeued run to finish"
    )
    rec = sweep.read_run(run_id)
    assert rec["attempt"] == 2
    assert [a["state"] for a in rec["history_of_attempts"]] == [PREEMPTED]
    log = (lab.deploy_dir / "logs" / f"probe-{job_id}_1.out").read_text()
    assert "got SIGUSR1" in log and "requeueing" in log
    assert "restart 1" in log  # the same array task ran again (log opened in append mode)
    # After a requeue, sacct names a one-task array's only task "J_1" or just "J" (seen both).
    ((task, state),) = final_states(lab, job_id, tasks=1).items()
    assert task in {f"{job_id}_1", job_id} and state == "COMPLETED"


def test_module_utils_is_configured():
    cfg = (REPO / "ansible.cfg").read_text()
    assert "module_utils = module_utils/" in cfg
    link = REPO / "module_utils" / "sweepops_remote"
    assert os.path.islink(link) and link.resolve() == REPO / "sweepops" / "remote"
