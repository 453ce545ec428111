"""The real Slurm test cluster (tests/cluster/up) as seen from Python tests."""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

CLUSTER_DIR = Path(__file__).resolve().parent / "cluster"


@dataclass(frozen=True)
class Cluster:
    name: str
    host: str
    port: int
    user: str
    password: str
    key: Path
    lab: Path
    state: Path
    inventory: Path

    @property
    def cluster_lab(self) -> Path:
        """The cluster's copy of the lab root, as seen from the workstation."""
        return self.state / "lab"

    def ssh_opts(self, *, key: bool = True) -> list[str]:
        opts = [
            "-p",
            str(self.port),
            "-o",
            f"UserKnownHostsFile={self.state / 'known_hosts'}",
            "-o",
            "StrictHostKeyChecking=accept-new",
            "-o",
            "ControlMaster=no",
            "-o",
            "ConnectTimeout=10",
        ]
        if key:
            opts += ["-i", str(self.key), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes"]
        return opts

    def ssh(
        self,
        command: str,
        *,
        check: bool = True,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["ssh", *self.ssh_opts(), f"{self.user}@{self.host}", command],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"ssh {command!r} exited {proc.returncode}\nstdout: {proc.stdout}\n"
                f"stderr: {proc.stderr}"
            )
        return proc


def parse_exports(text: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in text.splitlines():
        words = shlex.split(line)
        assert len(words) == 2 and words[0] == "export", f"unexpected line from up: {line!r}"
        key, _, value = words[1].partition("=")
        env[key] = value
    return env


def cluster_from_exports(env: dict[str, str]) -> Cluster:
    """The cluster described by the export lines of tests/cluster/up (parse_exports)."""
    return Cluster(
        name=env["SWEEPOPS_TEST_CLUSTER"],
        host=env["SWEEPOPS_TEST_LOGIN_HOST"],
        port=int(env["SWEEPOPS_TEST_SSH_PORT"]),
        user=env["SWEEPOPS_TEST_USER"],
        password=env["SWEEPOPS_TEST_PASSWORD"],
        key=Path(env["SWEEPOPS_TEST_KEY"]),
        lab=Path(env["SWEEPOPS_TEST_LAB"]),
        state=Path(env["SWEEPOPS_TEST_STATE"]),
        inventory=Path(env["SWEEPOPS_TEST_INVENTORY"]),
    )


def start_cluster(name: str) -> Iterator[Cluster]:
    """Start (or reuse) cluster NAME; stop it afterwards only if this started it."""
    if os.geteuid() != 0:
        pytest.skip("the test cluster needs root (namespaces, daemons, apt); run as root")
    was_up = (
        subprocess.run([CLUSTER_DIR / "status", name], capture_output=True, text=True).returncode
        == 0
    )
    up = subprocess.run([CLUSTER_DIR / "up", name], capture_output=True, text=True, timeout=900)
    if up.returncode != 0:
        if not was_up:
            subprocess.run([CLUSTER_DIR / "down", name], capture_output=True, timeout=120)
        pytest.fail(f"tests/cluster/up {name} failed ({up.returncode}):\n{up.stderr[-4000:]}")
    env = parse_exports(up.stdout)
    c = cluster_from_exports(env)
    prepare_env(c)
    yield c
    if not was_up:
        subprocess.run([CLUSTER_DIR / "down", name], capture_output=True, text=True, timeout=120)


def wait_for_job(cluster: Cluster, job_id: str, timeout: float = 60) -> str:
    """Poll squeue (sbatch --wait lags ~8 s) until the job reaches a final state."""
    final = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"}
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        state = cluster.ssh(f"squeue -h -j {job_id} -t all -o %T").stdout.strip()
        if state in final:
            return state
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} still {state or 'unknown'} after {timeout}s")


def prepare_env(c: Cluster) -> str:
    """The same-path Python env the cluster's jobs use, named in the cluster's group_vars
    (next to the inventory file that tests/cluster/up wrote, where Ansible finds it)."""
    made = subprocess.run([CLUSTER_DIR / "make-env"], capture_output=True, text=True, timeout=900)
    if made.returncode != 0:
        pytest.fail(f"tests/cluster/make-env failed:\n{made.stderr[-4000:]}")
    prefix = made.stdout.strip().splitlines()[-1]
    group_vars = c.inventory.parent / "group_vars"
    group_vars.mkdir(exist_ok=True)
    (group_vars / f"{c.name}.yml").write_text(f"env_prefix: {prefix}\n")
    return prefix


def runtime_on_cluster(c: Cluster, env_prefix: str) -> str:
    """The agent's runtime for the interpreter of ``env_prefix``, as a deploy builds it
    (sweepops.artifacts.agent_runtime, the workstation's runtime cache), put at LAB/agent/KEY on the cluster
    if missing; returns that path (the cluster's view) for jobs made without a deploy."""
    from sweepops.artifacts import agent_runtime as runtime
    from sweepops.remote import interpreter

    info = interpreter.probe(
        activate=interpreter.activation([], "", env_prefix), python="python", check_wandb=False
    )
    assert "target" in info, info
    built, _ = runtime.build(info["target"], runtime.cache_dir(Path.cwd()))
    theirs = c.cluster_lab / "agent" / built.name
    if not theirs.is_dir():
        tmp = theirs.with_name(f".incoming-{built.name}-test")
        subprocess.run(["rm", "-rf", str(tmp)], check=True)
        if not tmp.parent.is_dir():  # the researcher's, as a deploy would make it
            tmp.parent.mkdir(parents=True)
            subprocess.run(["chown", f"{c.user}:", str(tmp.parent)], check=True)
        subprocess.run(["cp", "-a", str(built), str(tmp)], check=True)
        subprocess.run(["chmod", "-R", "a+rX", str(tmp)], check=True)
        subprocess.run(["chown", "-R", f"{c.user}:", str(tmp)], check=True)
        os.rename(tmp, theirs)
    return str(c.lab / "agent" / built.name)
