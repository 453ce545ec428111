"""No run lost, none run twice — with real agent processes on this machine.

Every test counts runs from the run records and from a log of its own that the program
appends to on every start and every completion (tests/programs/counted.py): runs expected,
finished, lost (0), executed twice (0).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from sweepops.runtime.offline_sweep import FINISHED, OfflineSweep
from tests.conftest import REPO, agent_env, executions, start_agent

pytestmark = pytest.mark.integration

COUNTED = REPO / "tests" / "programs" / "counted.py"


def counted_sweep(parent: Path, parameters: dict) -> OfflineSweep:
    config = {"program": str(COUNTED), "method": "grid", "parameters": parameters}
    return OfflineSweep.create(parent, config=config, name="counted")


def wait_for(predicate, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_agent_killed_near_the_end_its_run_is_finished_by_the_other(tmp_path):
    # The case: a 2-point sweep, 2 agents, one killed -9 mid-run. The other finishes
    # its point, finds nothing new to hand out, and must not leave while the killed run's
    # lease can still lapse: it waits, then re-runs the lost run.
    log = tmp_path / "count.log"
    sweep = counted_sweep(tmp_path, {"x": {"values": ["a", "b"]}, "sleep": {"value": 1}})
    env = agent_env(COUNT_LOG=str(log))
    agents = [
        start_agent(sweep.path, "--lease", "5", env=env, log=tmp_path / f"agent{i}.log")
        for i in range(2)
    ]
    wait_for(lambda: sum(executions(log)[0].values()) == 2, what="both runs to start")
    victim, survivor = agents
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    assert survivor.wait(timeout=180) == 0, (tmp_path / "agent1.log").read_text()
    out = (tmp_path / "agent1.log").read_text()
    assert "waiting until they end" in out
    runs = sweep.runs()
    starts, ends = executions(log)
    assert len(runs) == 2  # expected
    assert sum(r["state"] == FINISHED for r in runs) == 2  # finished; lost 0
    assert ends == Counter({"a": 1, "b": 1})  # each point completed once: none twice
    assert sum(starts.values()) == 3  # the killed run was started again, once
    assert sweep.progress()["left"] == 0 and sweep.report()["lapsed"] == []


def test_only_one_idle_agent_stays_to_watch(tmp_path):
    # One long run, three agents: two find nothing; one of them stays as the watcher, the
    # other leaves at once (no allocation is held by more than one idle agent).
    log = tmp_path / "count.log"
    # The run lasts long enough that both idle agents start (Python, on a loaded machine:
    # seconds) while it runs; were it over first, both would rightly leave.
    sweep = counted_sweep(tmp_path, {"x": {"values": ["only"]}, "sleep": {"value": 30}})
    env = agent_env(COUNT_LOG=str(log))
    worker = start_agent(sweep.path, "--lease", "3", env=env, log=tmp_path / "w.log")
    wait_for(lambda: executions(log)[0]["only"] == 1, what="the run to start")
    idle = [
        start_agent(sweep.path, "--lease", "3", env=env, log=tmp_path / f"i{k}.log")
        for k in range(2)
    ]
    first = wait_for(lambda: [p for p in idle if p.poll() is not None], what="one idle to exit")
    assert len(first) == 1 and first[0].returncode == 0
    assert worker.poll() is None, "the run ended before both idle agents had looked"
    assert worker.wait(timeout=120) == 0
    for p in idle:
        assert p.wait(timeout=120) == 0
    texts = [(tmp_path / f"i{k}.log").read_text() for k in range(2)]
    assert sum("another agent watches" in t for t in texts) == 1
    assert sum("waiting until they end" in t for t in texts) == 1
    assert executions(log)[1] == Counter({"only": 1})


def test_a_truncated_record_is_named_and_its_point_not_run_again(tmp_path):
    log = tmp_path / "count.log"
    sweep = counted_sweep(tmp_path, {"x": {"values": ["a", "b", "c"]}})
    env = agent_env(COUNT_LOG=str(log))
    first = start_agent(sweep.path, "--count", "1", env=env, log=tmp_path / "a1.log")
    assert first.wait(timeout=60) == 0
    (done,) = sweep.runs()
    sweep.run_path(done["id"]).write_text('{"id": "' + done["id"] + '", "sta')  # truncated
    rest = start_agent(sweep.path, env=env, log=tmp_path / "a2.log")
    assert rest.wait(timeout=120) == 0
    out = (tmp_path / "a2.log").read_text()
    assert f"{sweep.run_path(done['id'])} cannot be read" in out
    assert "its point is not run again" in out
    starts, ends = executions(log)
    assert ends == Counter({"a": 1, "b": 1, "c": 1})  # no point ran twice
    report = sweep.report()
    assert report["states"] == {"finished": 2, "unreadable": 1}
    assert list(report["unreadable"]) == [str(sweep.run_path(done["id"]))]
    assert sweep.progress()["left"] == 0


def _unshare_ok() -> bool:
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _unshare_ok(), reason="needs root and unshare -m (a private tmpfs)")
def test_disk_full_says_where_keeps_what_finished_and_leaves_no_debris(tmp_path):
    # The sweep lives on a 2 MiB tmpfs of its own, mounted in a private mount namespace
    # (nothing outside this test sees it). The run of one point of four fills the disk.
    mnt = tmp_path / "small"
    mnt.mkdir()
    log = tmp_path / "count.log"
    script = tmp_path / "inside.py"
    script.write_text(
        f"""
import json, subprocess, sys
sys.path.insert(0, {str(REPO)!r})
from pathlib import Path
from sweepops.runtime.offline_sweep import OfflineSweep
config = {{"program": {str(COUNTED)!r}, "method": "grid",
          "parameters": {{"x": {{"values": ["a", "b", "c", "d"]}}, "fill_on": {{"value": "b"}}}}}}
# the run of point b fills the disk as it ends
sweep = OfflineSweep.create(Path({str(mnt)!r}), config=config, name="full")
cmd = [sys.executable, "-m", "sweepops", "agent", str(sweep.path), "--code-dir", {str(REPO)!r}]
first = subprocess.run(cmd, capture_output=True, text=True)
def listing():
    return sorted(str(p.relative_to(sweep.path)) for p in sweep.path.rglob("*"))
runs = {{r["id"]: r["state"] for r in sweep.runs()}}
debris = [p for p in listing() if p.endswith(".tmp") or "/.reserve-" in p]
(sweep.path / "filler").unlink()  # space freed
second = subprocess.run(cmd, capture_output=True, text=True)
print(json.dumps({{"rc1": first.returncode, "out1": first.stdout + first.stderr,
                  "runs1": runs, "debris": debris, "rc2": second.returncode,
                  "out2": second.stdout + second.stderr,
                  "runs2": {{r["id"]: r["state"] for r in sweep.runs()}},
                  "debris2": [p for p in listing() if p.endswith(".tmp")]}}))
"""
    )
    inner = f"mount -t tmpfs -o size=2m sweepops-test-full {mnt} && {sys.executable} {script}"
    proc = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", inner],
        capture_output=True,
        text=True,
        env=agent_env(COUNT_LOG=str(log)),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    out1 = got["out1"]
    assert got["rc1"] == 4, out1  # EXIT_DISK_FULL
    assert "Traceback" not in out1
    assert "disk full" in out1 and str(mnt) in out1
    # one line says it, naming the file; the run that filled the disk was recorded (in the
    # agent's reserve), and the runs before it are kept
    (line,) = [t for t in out1.splitlines() if "disk full" in t]
    assert "No space left on device" in line and "stopping this agent" in line
    assert sorted(got["runs1"].values()) == ["finished"] * len(got["runs1"]), out1
    assert len(got["runs1"]) >= 2
    assert got["debris"] == [] and got["debris2"] == []
    assert got["rc2"] == 0, got["out2"]
    assert sorted(got["runs2"].values()) == ["finished"] * 4  # expected 4, lost 0
    starts, ends = executions(log)
    assert ends == Counter({"a": 1, "b": 1, "c": 1, "d": 1})  # none twice
    assert sum(starts.values()) == 4


def test_eight_agents_two_killed_midway_every_point_of_a_2000_point_grid_finishes_once(tmp_path):
    # Issue 17: claims read the run index, not every record. 8 agents share a 2,000-point
    # grid of a no-op program; two are killed -9 midway (their runs die with them); their
    # runs' leases lapse and the others run them again: every point finished exactly once.
    log = tmp_path / "count.log"
    points = [f"p{i:04d}" for i in range(2000)]
    sweep = counted_sweep(tmp_path, {"x": {"values": points}})
    env = agent_env(COUNT_LOG=str(log))
    agents = [
        start_agent(sweep.path, "--lease", "3", env=env, log=tmp_path / f"agent{i}.log")
        for i in range(8)
    ]
    wait_for(lambda: sum(executions(log)[1].values()) >= 600, timeout=900, what="600 runs")
    for victim in agents[:2]:
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
    for i, survivor in enumerate(agents[2:], start=2):
        assert survivor.wait(timeout=1800) == 0, (tmp_path / f"agent{i}.log").read_text()[-3000:]
    runs = sweep.runs()
    finished = Counter(r["params"]["x"]["value"] for r in runs if r["state"] == FINISHED)
    assert len(runs) == 2000  # one record per point
    assert finished == Counter(points)  # every point finished, once: none lost, none twice
    starts, ends = executions(log)
    assert set(ends) == set(points)
    assert sum(starts.values()) - 2000 <= 2  # only the killed agents' runs started again
    assert sweep.progress()["left"] == 0 and sweep.report()["lapsed"] == []
    assert (sweep.path / "index.jsonl").exists()
