"""Shared test helpers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
PROBE = REPO / "tests" / "programs" / "probe.py"


def agent_env(**extra: str) -> dict[str, str]:
    """The environment of an agent started from a test: this Python's env first on PATH."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["WANDB_ERROR_REPORTING"] = "false"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def executions(log: Path) -> tuple[Counter, Counter]:
    """(starts, completions) per grid point, from the log the counted test program appends
    to on every execution (``start|end RUN ATTEMPT POINT`` lines)."""
    starts: Counter = Counter()
    ends: Counter = Counter()
    if log.exists():
        for line in log.read_text().splitlines():
            what, _run, _attempt, point = line.split(" ", 3)
            (starts if what == "start" else ends)[point] += 1
    return starts, ends


def run_sweepops(
    repo: Path,
    *args: str,
    clusters: Sequence[Any] = (),
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """``python -m sweepops ARGS`` in ``repo``: this Python's env first on PATH, no colour,
    the test ``clusters``' inventories in SWEEPOPS_INVENTORY, and ``env`` on top."""
    extra = {"ANSIBLE_NOCOLOR": "1", **(env or {})}
    if clusters:
        extra["SWEEPOPS_INVENTORY"] = os.pathsep.join(str(c.inventory) for c in clusters)
    return subprocess.run(
        [sys.executable, "-m", "sweepops", *args],
        cwd=repo,
        env=agent_env(**extra),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_agent(
    sweep_dir: Path, *args: str, env: dict[str, str] | None = None, log: Path | None = None
) -> subprocess.Popen:
    out = open(log, "ab") if log else subprocess.PIPE  # noqa: SIM115 - closed by the caller's process end
    return subprocess.Popen(
        [sys.executable, "-m", "sweepops", "agent", str(sweep_dir), "--code-dir", str(REPO), *args],
        env=env or agent_env(),
        stdout=out,
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )


def copy_repo(dest: Path) -> Path:
    """A private copy of the repository's files (tracked and untracked-not-ignored), committed
    as its own git repo: a clean tree to deploy from, with its own ledger."""
    files = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (f.decode() for f in files)):
        src = REPO / name
        if src.is_symlink():  # as git checks it out (module_utils/sweepops_remote: a directory)
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            (dest / name).unlink(missing_ok=True)
            (dest / name).symlink_to(os.readlink(src))
        elif src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-qm", "copy of the sweepops repository")
    return dest


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@pytest.fixture
def mini_repo(tmp_path: Path) -> Path:
    """A git repository holding one small grid experiment (experiments/base.yml, 3 points)
    and its program, committed."""
    repo = tmp_path / "repo"
    (repo / "experiments").mkdir(parents=True)
    (repo / "ansible.cfg").write_text("")
    (repo / "train.py").write_text("print('hi')\n")
    (repo / "experiments" / "base.yml").write_text(
        "program: train.py\nmethod: grid\nparameters:\n  x: [1, 2, 3]\n"
    )
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    return repo


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return copy_repo(tmp_path / "repo")


@pytest.fixture
def probe_out(tmp_path: Path) -> Path:
    out = tmp_path / "probe-out"
    out.mkdir()
    return out


@pytest.fixture(scope="session", autouse=True)
def runtime_cache(tmp_path_factory):
    """One cache of built agent runtimes for the session's deploys (each test's repository
    would otherwise build its own): sweepops.artifacts.agent_runtime.CACHE_ENV, unless set already."""
    from sweepops.artifacts.agent_runtime import CACHE_ENV

    if not os.environ.get(CACHE_ENV):
        os.environ[CACHE_ENV] = str(tmp_path_factory.mktemp("runtimes"))
    yield os.environ[CACHE_ENV]


@pytest.fixture(scope="session")
def cluster():
    """The real Slurm test cluster (tests/cluster/up), started once per session."""
    from tests.clusterlib import start_cluster

    yield from start_cluster(os.environ.get("SWEEPOPS_TEST_CLUSTER_NAME", "atlas"))


@pytest.fixture(scope="session")
def cluster2(cluster):
    """A second, independent test cluster (babel): its own namespaces, disk and Slurm.

    SWEEPOPS_TEST_CLUSTER_NAME / SWEEPOPS_TEST_CLUSTER2_NAME rename both, so that two
    checkouts can run the cluster tests at the same time."""
    from tests.clusterlib import start_cluster

    yield from start_cluster(os.environ.get("SWEEPOPS_TEST_CLUSTER2_NAME", "babel"))


@pytest.fixture
def double(monkeypatch):
    """The wandb double, with this process's environment pointing the SDK at it."""
    from tests.wandb_double import WandbDouble

    with WandbDouble() as w:
        for k, v in w.env().items():
            monkeypatch.setenv(k, v)
        monkeypatch.delenv("WANDB_ENTITY", raising=False)
        yield w


def composite_of(repo: Path, name: str, sweeps: int) -> None:
    """``experiments/NAME.yml``: a composite of ``sweeps`` one-point subtests, committed."""
    subtests = "".join(f'    "s{i:02d}":\n      noise: {i / 100}\n' for i in range(sweeps))
    (repo / "experiments" / f"{name}.yml").write_text(
        "program: experiments/train.py\nmethod: grid\n"
        "metric:\n  name: val_loss\n  goal: minimize\n"
        "parameters:\n  epochs: 1\n  lr: 0.1\n  subtests:\n"
        + subtests
        + "_num_nodes: 1\n_time_per_run: 30s\n_gpus_per_run: 0\n"
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", f"a {sweeps}-sweep composite")
