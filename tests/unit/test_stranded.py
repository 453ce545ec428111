"""status: stranded runs with the command that finishes them, unreadable records, requeue
loops, stale job states; Slurm's 'controller unreachable' told apart from a refusal."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from sweepops.cli import commands as cli
from sweepops.ops import status, stranded
from sweepops.records import ledger
from sweepops.remote import slurm
from sweepops.remote.sweep_layout import report
from sweepops.runtime.offline_sweep import FINISHED, PREEMPTED, OfflineSweep

GRID = {"method": "grid", "parameters": {"x": {"values": [1, 2, 3]}}, "program": "p.py"}
AGENT = {"host": "h", "pid": 1, "tag": "t"}


def _deploy(root, sweep):
    entry = {"id": sweep.id, "name": "s", "dir": str(sweep.path), "meta": sweep.meta}
    ledger.append(root, {"deploy_id": "d1", "experiment": "e", "sweeps": [entry]})


def test_status_names_stranded_runs_and_the_command_that_finishes_them(tmp_path, capsys):
    # 3 points: one finished, one preempted (its task was not requeued), one whose agent died
    # (running, lease lapsed); no agent is left: status says so and how to finish them.
    sweep = OfflineSweep.create(tmp_path / "lab", config=GRID, name="s")
    done = sweep.claim(AGENT)
    sweep.finish(done, state=FINISHED, exit_code=0)
    pre = sweep.claim(AGENT)
    sweep.finish(pre, state=PREEMPTED, exit_code=143)
    sweep.claim(AGENT)  # preempted again: handed out first
    dead = sweep.claim(AGENT, lease_seconds=1)
    old = time.time() - 30
    os.utime(sweep.heartbeat_path(dead.run_id), (old, old))
    _deploy(tmp_path, sweep)
    assert cli.main(["--root", str(tmp_path), "status"]) == 0
    out = capsys.readouterr().out
    assert "done 1  failed 0  running 2  left 0" in out
    (line,) = [x for x in out.splitlines() if "STRANDED" in x]
    assert "1 run(s)" in line and dead.run_id in line
    assert f"sweepops agent {sweep.path} --code-dir {tmp_path}" in line


def test_waiting_runs_with_a_live_agent_are_not_stranded():
    found = {"lapsed": [], "waiting": ["r1"], "unreadable": {}, "loops": {}}
    (line,) = stranded.notes(found, live=True, how="CMD")
    assert "the live agents take them" in line and "CMD" not in line
    (line,) = stranded.notes(found, live=None, how="CMD")
    assert "unknown" in line and "CMD" in line
    (line,) = stranded.notes(found, live=False, how="CMD")
    assert line.startswith("STRANDED") and line.endswith("CMD")


def test_report_counts_unreadable_records_and_requeue_loops(tmp_path):
    sweep = OfflineSweep.create(tmp_path, config=GRID, name="s")
    for _ in range(3):  # interrupted three times
        claim = sweep.claim(AGENT)
        sweep.finish(claim, state=PREEMPTED, exit_code=143)
    other = sweep.claim(AGENT)
    assert other.run_id != claim.run_id or other.attempt == 4
    bad = sweep.runs_dir / "zzzzzzzz.json"
    bad.write_text("")
    found = report(str(sweep.path))
    assert found["states"]["unreadable"] == 1
    assert found["unreadable"] == {str(bad): "empty, 0 bytes"}
    assert found["loops"] == {claim.run_id: 3}
    lines = stranded.notes({k: v for k, v in found.items() if k != "states"}, live=True, how="")
    assert any(f"unreadable run record {bad}" in x for x in lines)
    assert any(f"requeue loop: run {claim.run_id} was interrupted 3 times" in x for x in lines)


def _runner(answers):
    def run(argv, **_kw):
        out, err, rc = answers[argv[0]]
        return subprocess.CompletedProcess(argv, rc, out, err)

    return run


DOWN = "squeue: error: slurm_load_jobs error: Unable to contact slurm controller (connect failure)"


def test_job_states_without_the_controller_are_marked_stale():
    run = _runner(
        {
            "squeue": ("", DOWN, 1),
            "sacct": ("5_1|RUNNING|0:0|00:01:00||n1\n5_2|COMPLETED|0:0|00:01:00||n1\n", "", 0),
        }
    )
    states, down = slurm.job_states_checked(["5"], run=run)
    assert down == DOWN
    assert states["5_1"]["stale"] == "1" and "stale" not in states["5_2"]
    warning = stranded.controller_warning("atlas", down)
    assert "did not answer" in warning and "may be stale" in warning
    assert status.job_summary(states) == "1 COMPLETED, 1 RUNNING (stale?)"
    # a controller that answers: nothing stale
    run = _runner({"squeue": ("5_1|RUNNING||n1\n", "", 0), "sacct": ("", "", 0)})
    assert slurm.job_states_checked(["5"], run=run) == (
        {"5_1": {"state": "RUNNING", "reason": "", "nodes": "n1", "source": "squeue"}},
        None,
    )


def test_a_submit_to_an_unreachable_controller_is_not_called_a_refusal(tmp_path):
    script = tmp_path / "s.sbatch"
    script.write_text("#!/bin/bash\n")
    err = "sbatch: error: Batch job submission failed: Unable to contact slurm controller"
    run = _runner({"sbatch": ("", err, 1)})
    with pytest.raises(slurm.SlurmError) as got:
        slurm.validate_script(script, run=run)
    text = str(got.value)
    assert "controller did not answer" in text and "would refuse" not in text
    assert "scontrol ping" in text
    run = _runner({"sbatch": ("", "sbatch: error: invalid partition specified: x", 1)})
    with pytest.raises(slurm.SlurmError) as got:
        slurm.validate_script(script, run=run)
    assert "Slurm would refuse this job" in str(got.value)


def test_concurrent_submits_of_one_sweep_submit_once(tmp_path):
    # Two processes submit the same deploy id + sweep at once: one sbatch, one job id.
    import multiprocessing

    sbatch = tmp_path / "fake-sbatch"
    calls = tmp_path / "calls"
    sbatch.write_text(f"#!/bin/sh\necho x >> {calls}\nsleep 0.5\necho 4242\n")
    sbatch.chmod(0o755)
    script = tmp_path / "s.sbatch"
    script.write_text("#!/bin/bash\n")
    out = [tmp_path / f"o{i}" for i in range(2)]
    procs = [
        multiprocessing.Process(
            target=_submit, args=(str(script), str(tmp_path / "rec"), str(sbatch), str(o))
        )
        for o in out
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert len(calls.read_text().splitlines()) == 1  # jobs per deploy id: 1
    assert sorted(json.loads(o.read_text()) for o in out) == [["4242", False], ["4242", True]]


def _submit(script: str, record_dir: str, sbatch: str, out: str) -> None:
    from pathlib import Path

    got = slurm.submit_once(Path(script), Path(record_dir), "d1", "sw", sbatch=sbatch)
    Path(out).write_text(json.dumps(list(got)))
