"""Tests for sweepops.runtime.wandbfile against run logs written by the real wandb SDK.

All real runs are made once per module (in parallel) by ``programs/wandb_run.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sweepops.runtime.wandbfile import RunLog, find_run_file, read_run, read_run_file

PROGRAM = Path(__file__).parent / "programs" / "wandb_run.py"
REPO = Path(__file__).resolve().parents[2]

CONFIG = {
    "lr": 0.001,
    "model": {"layers": [64, 32], "act": {"name": "relu", "slope": 0.5}},
    "name": "baseline",
    "flag": True,
    "nothing": None,
}
STEPS = [
    {"loss": 1.0 / (i + 1), "acc": 0.1 * i, "tag": f"s{i}", "nested": {"x": i, "y": [i, i]}}
    for i in range(6)
]
SUMMARY = {"best": 0.9, "loss": -1.5, "deep": {"a": {"b": 2}}}
KILL_STEPS = [{"i": i, "pad": "x" * 200} for i in range(400)]  # > 2 blocks of 32 KiB


@dataclass
class Runs:
    """Where the module's real runs were written."""

    full: Path
    raised: Path
    exited: Path
    killed: Path


def _env(run_id: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "SLURM_"))}
    env.update(
        WANDB_MODE="offline",
        WANDB_SILENT="true",
        WANDB_ERROR_REPORTING="false",
        WANDB_API_KEY="x" * 40,
        WANDB_RUN_ID=run_id,
        PYTHONPATH=str(REPO),
    )
    env.update(extra)
    return env


def _start(tmp: Path, run_id: str, spec: dict[str, Any], **env: str) -> subprocess.Popen[str]:
    spec = {"dir": str(tmp / run_id), **spec}
    (tmp / run_id).mkdir()
    env.setdefault("WANDB_CONFIG_DIR", str(tmp / run_id / "config"))
    return subprocess.Popen(
        [sys.executable, str(PROGRAM), json.dumps(spec)],
        env=_env(run_id, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """Make four real offline runs in parallel: finished, raised, sys.exit(3), killed."""
    tmp = tmp_path_factory.mktemp("wandbruns")
    full = _start(
        tmp,
        "full1",
        {
            "config": CONFIG,
            "config_update": {"extra": 5},
            "tags": ["t1", "t2"],
            "group": "g1",
            "steps": STEPS,
            "summary": SUMMARY,
        },
        WANDB_SWEEP_ID="swp123",
        WANDB_GIT_COMMIT="0123456789abcdef0123456789abcdef01234567",
        WANDB_GIT_REMOTE_URL="https://example.com/repo.git",
        SLURM_JOB_ID="777",
    )
    raised = _start(tmp, "raise1", {"steps": STEPS[:2], "end": "raise"})
    exited = _start(tmp, "exit1", {"steps": STEPS[:1], "end": "exit:3"})
    killed = _start(tmp, "kill1", {"steps": KILL_STEPS, "end": "sleep"})
    try:
        assert killed.stdout is not None
        assert killed.stdout.readline().strip() == "LOGGED", killed.stderr
        # wandb-core writes whole 32 KiB blocks; wait until some history is on disk.
        deadline = time.monotonic() + 30
        while True:
            path = find_run_file(tmp / "kill1", "kill1")
            if path is not None and read_run_file(path).history:
                break
            assert time.monotonic() < deadline, "killed run wrote no history"
            time.sleep(0.1)
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait(10)
        for proc in (full, raised, exited):
            _, err = proc.communicate(timeout=60)
            assert proc.returncode in (0, 1, 3), err
    finally:
        for proc in (full, raised, exited, killed):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    time.sleep(0.5)  # let the killed run's wandb-core notice and exit
    return Runs(tmp / "full1", tmp / "raise1", tmp / "exit1", tmp / "kill1")


def _user(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not k.startswith("_")}


def _read(wandb_dir: Path) -> RunLog:
    log = read_run(wandb_dir, wandb_dir.name)
    assert log is not None
    return log


def test_full_run_reads_back_exactly(runs: Runs) -> None:
    log = _read(runs.full)
    assert log.run_id == "full1"
    assert log.complete is True
    assert log.exit_code == 0
    assert log.config == {**CONFIG, "extra": 5}
    assert [_user(row) for row in log.history] == STEPS
    assert [row["_step"] for row in log.history] == list(range(len(STEPS)))
    expected_summary = {**STEPS[-1], **SUMMARY}
    assert _user(log.summary) == expected_summary
    assert log.summary["_step"] == len(STEPS) - 1
    assert "_runtime" in log.summary and "_timestamp" not in log.summary
    assert "_wandb" not in log.summary
    assert log.tags == ["t1", "t2"]
    assert log.group == "g1"
    assert log.sweep_id == "swp123"
    assert log.git_commit == "0123456789abcdef0123456789abcdef01234567"
    assert log.git_remote == "https://example.com/repo.git"
    assert log.host
    assert log.start_time is not None and abs(log.start_time - time.time()) < 600


def test_max_history_keeps_last_rows(runs: Runs) -> None:
    path = find_run_file(runs.full, "full1")
    assert path is not None
    assert [_user(r) for r in read_run_file(path, max_history=2).history] == STEPS[-2:]
    none = read_run_file(path, max_history=0)
    assert none.history == [] and _user(none.summary) == {**STEPS[-1], **SUMMARY}


def test_failed_runs_exit_code(runs: Runs) -> None:
    raised = _read(runs.raised)
    assert raised.exit_code == 1
    assert [_user(r) for r in raised.history] == STEPS[:2]
    exited = _read(runs.exited)
    assert exited.exit_code == 3
    assert exited.complete is True


def test_killed_run_gives_history_so_far(runs: Runs) -> None:
    log = _read(runs.killed)
    assert log.exit_code is None
    # wandb-core writes whole 32 KiB blocks, so usually only a prefix is on disk
    # (sometimes everything, when it flushed just before the kill).
    assert 0 < len(log.history) <= len(KILL_STEPS)
    assert [_user(r) for r in log.history] == KILL_STEPS[: len(log.history)]
    # The summary update for a step is written just before its history record.
    assert log.summary["i"] in (len(log.history) - 1, len(log.history))


def test_every_truncation_is_tolerated(runs: Runs, tmp_path: Path) -> None:
    path = find_run_file(runs.full, "full1")
    assert path is not None
    data = path.read_bytes()
    full = read_run_file(path)
    cut = tmp_path / "run-cut.wandb"
    previous = 0
    incomplete = 0
    sizes = sorted(
        {*range(0, len(data), max(1, len(data) // 500)), *range(len(data) - 80, len(data))}
    )
    for size in sizes:
        cut.write_bytes(data[:size])
        log = read_run_file(cut)
        incomplete += not log.complete
        assert previous <= len(log.history) <= len(full.history)
        previous = len(log.history)
        assert log.history == full.history[: len(log.history)]
    assert incomplete > len(sizes) * 0.9  # almost every cut point is mid-record
    cut.write_bytes(data[:-3])
    log = read_run_file(cut)
    assert log.complete is False and log.exit_code is None and log.run_id == "full1"


def test_corrupt_byte_stops_reading(runs: Runs, tmp_path: Path) -> None:
    path = find_run_file(runs.full, "full1")
    assert path is not None
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad = tmp_path / "run-bad.wandb"
    bad.write_bytes(bytes(data))
    log = read_run_file(bad)
    assert log.complete is False and log.exit_code is None


def test_not_a_wandb_file(tmp_path: Path) -> None:
    path = tmp_path / "run-x.wandb"
    path.write_bytes(b"hello, this is not a wandb file at all")
    with pytest.raises(ValueError, match="run-x.wandb"):
        read_run_file(path)
    path.write_bytes(b"")  # created, header not written yet
    assert read_run_file(path).complete is False


def test_find_run_file_picks_newest(runs: Runs, tmp_path: Path) -> None:
    source = find_run_file(runs.full, "full1")
    assert source is not None
    inner = tmp_path / "wandb"
    for name in (
        "offline-run-20240101_120000-abc",
        "offline-run-20250101_000000-abc",
        "offline-run-20230101_000000-abc",
        "offline-run-20260101_000000-x-abc",  # run id "x-abc", not "abc"
    ):
        run_id = name.split("-", 3)[3]
        (inner / name).mkdir(parents=True)
        shutil.copy(source, inner / name / f"run-{run_id}.wandb")
    newest = inner / "offline-run-20250101_000000-abc" / "run-abc.wandb"
    assert find_run_file(tmp_path, "abc") == newest
    assert find_run_file(inner, "abc") == newest
    assert find_run_file(tmp_path, "x-abc") is not None
    assert find_run_file(tmp_path, "nope") is None
    assert read_run(tmp_path, "nope") is None
    assert find_run_file(tmp_path / "missing", "abc") is None


def test_reader_does_not_import_wandb(runs: Runs) -> None:
    path = find_run_file(runs.full, "full1")
    code = (
        "import sys; from pathlib import Path; from sweepops.runtime.wandbfile import read_run_file; "
        f"log = read_run_file(Path({str(path)!r})); assert log.history; "
        "assert 'wandb' not in sys.modules, 'wandb imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=30)
