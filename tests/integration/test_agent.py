"""The offline agent against real processes: exactly-once grids, kill -9, SIGTERM, failures."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from sweepops.executors.local import pid_alive
from sweepops.remote.failures import run_reason
from sweepops.runtime.offline_sweep import FAILED, FINISHED, LOST, PREEMPTED, OfflineSweep
from tests.conftest import PROBE, agent_env, start_agent

pytestmark = pytest.mark.integration


def probe_sweep(parent: Path, parameters: dict, **extra) -> OfflineSweep:
    config = {"program": str(PROBE), "method": "grid", "parameters": parameters, **extra}
    return OfflineSweep.create(parent, config=config, name="probe")


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_eight_agents_run_each_of_64_points_exactly_once(tmp_path, probe_out):
    sweep = probe_sweep(
        tmp_path, {"x": {"values": list(range(8))}, "y": {"values": list(range(8))}}
    )
    env = agent_env(PROBE_OUT=str(probe_out))
    agents = [start_agent(sweep.path, env=env, log=tmp_path / f"a{i}.log") for i in range(8)]
    for a in agents:
        assert a.wait(timeout=240) == 0, (tmp_path / "a0.log").read_text()
    runs = sweep.runs()
    assert len(runs) == 64 and all(r["state"] == FINISHED for r in runs)
    points = {(r["params"]["x"]["value"], r["params"]["y"]["value"]) for r in runs}
    assert points == {(x, y) for x in range(8) for y in range(8)}
    starts = sorted(p.name for p in probe_out.glob("*.json"))
    assert len(starts) == 64 and all(s.endswith(".1.json") for s in starts)  # one start per run
    hosts_by_agent = {r["agent"]["pid"] for r in runs}
    assert len(hosts_by_agent) > 1  # the work really was shared


def test_child_gets_wandb_environment_and_flags(tmp_path, probe_out):
    sweep = probe_sweep(tmp_path, {"sleep": {"value": 0}, "x": {"values": ["a"]}})
    proc = start_agent(sweep.path, env=agent_env(PROBE_OUT=str(probe_out)))
    assert proc.wait(timeout=60) == 0
    (start,) = [json.loads(p.read_text()) for p in probe_out.glob("*.json")]
    assert start["argv"] == ["--sleep=0", "--x=a"]
    env = start["env"]
    assert env["WANDB_SWEEP_ID"] == sweep.id and env["WANDB_MODE"] == "offline"
    assert env["WANDB_DIR"] == str(sweep.path)
    params = Path(env["WANDB_SWEEP_PARAM_PATH"]).read_text()
    assert params.startswith("wandb_version: 1") and "value: a" in params


def test_agent_killed_with_minus_9_loses_nothing(tmp_path, probe_out):
    # Two points; attempt 1 of each sleeps long. Agent A takes one and is killed -9 mid-run.
    sweep = probe_sweep(tmp_path, {"x": {"values": [1, 2]}, "sleep_first": {"value": 60}})
    env = agent_env(PROBE_OUT=str(probe_out))
    victim = start_agent(sweep.path, "--lease", "1", "--count", "1", env=env)
    started = wait_for(lambda: list(probe_out.glob("*.1.json")), what="victim's run to start")
    child_pid = json.loads(started[0].read_text())["pid"]
    victim_run = started[0].name.split(".")[0]
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    # The run's child dies with its agent (no orphan holding the GPU).
    wait_for(lambda: not pid_alive(child_pid), 10, "child to die")
    assert sweep.read_run(victim_run)["state"] == "running"  # nobody knows yet
    time.sleep(1.5)  # the lease lapses
    rescuer = start_agent(sweep.path, "--lease", "30", env=env)
    # The rescuer re-runs the lost run first (attempt 2, short), then the other point:
    wait_for(lambda: sweep.read_run(victim_run)["state"] == FINISHED, 60, "lost run re-run")
    rescuer.send_signal(signal.SIGTERM)
    rescuer.wait(timeout=30)
    rec = sweep.read_run(victim_run)
    assert rec["attempt"] == 2
    assert [a["state"] for a in rec["history_of_attempts"]] == [LOST]
    assert (probe_out / f"{victim_run}.2.json").exists()


def test_sigterm_is_forwarded_and_the_run_requeued(tmp_path, probe_out):
    sweep = probe_sweep(tmp_path, {"x": {"values": [1]}, "sleep_first": {"value": 60}})
    env = agent_env(PROBE_OUT=str(probe_out))
    agent = start_agent(sweep.path, env=env)
    started = wait_for(lambda: list(probe_out.glob("*.1.json")), what="run to start")
    run_id = started[0].name.split(".")[0]
    time.sleep(0.5)  # let the child install its handler
    agent.send_signal(signal.SIGTERM)
    assert agent.wait(timeout=30) == 128 + signal.SIGTERM
    assert (probe_out / f"{run_id}.1.term").read_text() == str(int(signal.SIGTERM))
    assert sweep.read_run(run_id)["state"] == PREEMPTED
    # The next agent (the requeued Slurm job) picks the same run up again and finishes it.
    again = start_agent(sweep.path, env=env)
    assert again.wait(timeout=60) == 0
    rec = sweep.read_run(run_id)
    assert rec["state"] == FINISHED and rec["attempt"] == 2
    assert [a["state"] for a in rec["history_of_attempts"]] == [PREEMPTED]


def test_a_run_cut_at_the_time_limit_is_resumed_then_fails_after_max_resumes(tmp_path, probe_out):
    """SIGUSR1 is the job's time-limit warning (the batch script's --signal=B:USR1@N): the run
    waits to be resumed, and the cut after --max-resumes ends it failed, saying TIMEOUT."""
    sweep = probe_sweep(tmp_path, {"x": {"values": [1]}, "sleep": {"value": 60}})
    env = agent_env(PROBE_OUT=str(probe_out))
    for attempt, state in ((1, PREEMPTED), (2, FAILED)):
        agent = start_agent(sweep.path, "--max-resumes", "1", env=env)
        pattern = f"*.{attempt}.json"
        started = wait_for(lambda p=pattern: list(probe_out.glob(p)), what=f"attempt {attempt}")
        run_id = started[0].name.split(".")[0]
        time.sleep(0.5)  # let the child install its handler
        agent.send_signal(signal.SIGUSR1)
        assert agent.wait(timeout=30) == 128 + signal.SIGUSR1
        rec = sweep.read_run(run_id)
        assert (rec["state"], rec["attempt"], rec["time_limit_cuts"]) == (state, attempt, attempt)
    assert "TIMEOUT: cut at the job's time limit 2 times (resumed 1, max_resumes 1)" in rec["error"]
    # status's one line for it is that reason, not a line of the program's log
    log = Path(rec["log"]).read_text()
    assert run_reason(rec, log).split("; ", 1)[1].startswith("TIMEOUT: cut at the job's time")
    assert [a["state"] for a in rec["history_of_attempts"]] == [PREEMPTED]


def test_always_failing_program_makes_the_agent_exit_nonzero(tmp_path, probe_out):
    sweep = probe_sweep(tmp_path, {"x": {"values": list(range(10))}, "fail": {"value": 1}})
    agent = start_agent(
        sweep.path, "--max-consecutive-failures", "3", env=agent_env(PROBE_OUT=str(probe_out))
    )
    out, _ = agent.communicate(timeout=60)
    assert agent.returncode == 3, out.decode()
    runs = sweep.runs()
    assert len(runs) == 3 and all(r["state"] == FAILED and r["exit_code"] == 1 for r in runs)
    assert b"3 runs failed in a row" in out
    # Nothing lost: the seven other points are still there for a fixed program.
    assert sweep.progress()["left"] == 7


def test_some_failures_exit_1_not_0(tmp_path, probe_out):
    sweep = probe_sweep(tmp_path, {"fail": {"values": [0, 1]}})
    agent = start_agent(sweep.path, env=agent_env(PROBE_OUT=str(probe_out)))
    agent.communicate(timeout=60)
    assert agent.returncode == 1
    assert sorted(r["state"] for r in sweep.runs()) == [FAILED, FINISHED]


def test_real_wandb_program_summary_is_read_back(tmp_path):
    config = {
        "program": "experiments/train.py",
        "method": "grid",
        "metric": {"name": "val_loss", "goal": "minimize"},
        "parameters": {"lr": {"values": [0.5]}, "epochs": {"value": 2}},
    }
    sweep = OfflineSweep.create(tmp_path, config=config, name="real")
    agent = start_agent(sweep.path)
    out, _ = agent.communicate(timeout=120)
    assert agent.returncode == 0, out.decode()
    (rec,) = sweep.runs()
    assert rec["summary"]["val_loss"] > 0 and rec["summary"]["epoch"] == 1
    assert len(rec["history"]) == 2
    offline_dirs = list((sweep.path / "wandb").glob(f"offline-run-*-{rec['id']}"))
    assert len(offline_dirs) == 1
    assert os.path.getsize(rec["log"]) > 0
