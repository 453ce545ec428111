"""``sweepops retry``'s marking (sweepops.remote.sweep_retry) and the claims that follow: the
chosen runs are handed out again as new attempts of the same runs, earlier attempts kept, no
new point taken, no point finished twice, nothing lost."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path

import pytest

from sweepops.remote import sweep_retry
from sweepops.runtime.offline_sweep import FAILED, FINISHED, LOST, RUNNING, OfflineSweep

AGENT = {"host": "h", "pid": 1, "tag": "t"}


def grid(n: int) -> dict:
    return {"method": "grid", "parameters": {"a": {"values": list(range(n))}}}


def run_all(sweep: OfflineSweep, fails: set[int]) -> list[tuple[str, int, int]]:
    """Claim until nothing is handed out; points in ``fails`` fail. (id, point, attempt)."""
    seen = []
    while (c := sweep.claim(AGENT)) is not None:
        a = c.params["a"]["value"]
        bad = a in fails
        sweep.finish(c, state=FAILED if bad else FINISHED, exit_code=1 if bad else 0)
        seen.append((c.run_id, a, c.attempt))
    return seen


def test_retry_failed_reruns_exactly_the_failed_runs_as_second_attempts(tmp_path):
    sweep = OfflineSweep.create(tmp_path, config=grid(6), name="s")
    first = run_all(sweep, fails={1, 4})
    failed_ids = {rid for rid, a, _ in first if a in (1, 4)}

    done = sweep_retry.mark(sweep.path, failed=True)
    assert set(done.marked) == failed_ids and not done.refused
    again = run_all(sweep, fails=set())

    assert {rid for rid, _, _ in again} == failed_ids  # the same runs, not new ones
    assert {att for _, _, att in again} == {2}
    records = {r["id"]: r for r in sweep.runs()}
    assert len(records) == 6  # no new run, no new point
    assert Counter(r["state"] for r in records.values()) == {FINISHED: 6}
    points = Counter(r["params"]["a"]["value"] for r in records.values())
    assert max(points.values()) == 1  # 0 points finished twice
    for rid, rec in records.items():
        if rid in failed_ids:
            assert rec["attempt"] == 2 and rec["retries"] == 1
            assert [h["state"] for h in rec["history_of_attempts"]] == [FAILED]
            assert rec["history_of_attempts"][0]["exit_code"] == 1
        else:
            assert rec["attempt"] == 1 and not rec.get("history_of_attempts")


def test_a_second_retry_of_a_waiting_run_marks_nothing(tmp_path):
    sweep = OfflineSweep.create(tmp_path, config=grid(2), name="s")
    run_all(sweep, fails={0})
    assert len(sweep_retry.mark(sweep.path, failed=True).marked) == 1
    again = sweep_retry.mark(sweep.path, failed=True)
    assert again.marked == [] and len(again.waiting) == 1
    assert [c[2] for c in run_all(sweep, fails=set())] == [2]  # handed out once


def test_finished_and_live_runs_are_refused_by_id(tmp_path):
    sweep = OfflineSweep.create(tmp_path, config=grid(3), name="s")
    done = sweep.claim(AGENT)
    assert done is not None
    sweep.finish(done, state=FINISHED, exit_code=0)
    live = sweep.claim(AGENT, lease_seconds=600)
    assert live is not None
    out = sweep_retry.mark(sweep.path, run_ids=[done.run_id, live.run_id])
    assert out.marked == []
    assert "finished twice" in out.refused[done.run_id]
    assert "running" in out.refused[live.run_id]
    assert sweep.read_run(done.run_id)["state"] == FINISHED
    assert sweep.read_run(live.run_id)["state"] == RUNNING


def test_retry_lost_takes_a_running_run_whose_agent_is_gone(tmp_path):
    sweep = OfflineSweep.create(tmp_path, config=grid(2), name="s")
    dead = sweep.claim(AGENT, lease_seconds=1)
    assert dead is not None
    old = time.time() - 60
    os.utime(sweep.heartbeat_path(dead.run_id), (old, old))
    out = sweep_retry.mark(sweep.path, lost=True)
    assert out.marked == [dead.run_id]
    rec = sweep.read_run(dead.run_id)
    assert rec["history_of_attempts"][-1]["state"] == LOST
    seen = run_all(sweep, fails=set())
    assert (dead.run_id, 0, 2) in seen and len(seen) == 2


def test_the_late_result_of_a_retried_attempt_does_not_make_a_second_result(tmp_path):
    sweep = OfflineSweep.create(tmp_path, config=grid(1), name="s")
    slow = sweep.claim(AGENT, lease_seconds=1)
    assert slow is not None
    old = time.time() - 60
    os.utime(sweep.heartbeat_path(slow.run_id), (old, old))
    sweep_retry.mark(sweep.path, lost=True)
    second = sweep.claim(AGENT)
    assert second is not None and second.attempt == 2
    sweep.finish(slow, state=FINISHED, exit_code=0)  # the first attempt ends after all
    sweep.finish(second, state=FINISHED, exit_code=0)
    rec = sweep.read_run(slow.run_id)
    assert rec["attempt"] == 2 and rec["state"] == FINISHED
    assert len(rec["late_results"]) == 1
    assert len(sweep.runs()) == 1


def test_check_mode_changes_nothing(tmp_path):
    sweep = OfflineSweep.create(tmp_path, config=grid(2), name="s")
    run_all(sweep, fails={0, 1})
    before = {p.name: p.read_bytes() for p in Path(sweep.path).rglob("*") if p.is_file()}
    out = sweep_retry.mark(sweep.path, failed=True, check_mode=True)
    assert len(out.marked) == 2
    after = {p.name: p.read_bytes() for p in Path(sweep.path).rglob("*") if p.is_file()}
    assert before == after


def test_a_journal_line_cut_short_is_dropped_before_the_marks(tmp_path):
    sweep = OfflineSweep.create(tmp_path, config=grid(2), name="s")
    run_all(sweep, fails={0})
    with open(sweep.path / "index.jsonl", "ab") as fh:
        fh.write(b'{"e": "claim", "id": "half')  # a writer died mid-line
    sweep_retry.mark(sweep.path, failed=True)
    lines = (sweep.path / "index.jsonl").read_text().splitlines()
    assert all(json.loads(x) for x in lines)
    assert json.loads(lines[-1])["state"] == sweep_retry.RETRY


@pytest.mark.parametrize("cancel", [True, False])
def test_retry_lifts_a_cancel_only_when_something_is_run_again(tmp_path, cancel):
    sweep = OfflineSweep.create(tmp_path, config=grid(1), name="s")
    run_all(sweep, fails={0} if cancel else set())
    sweep.cancel()
    out = sweep_retry.mark(sweep.path, failed=True)
    assert out.uncancelled is cancel
    assert sweep.cancelled is not cancel


def test_retry_says_plainly_what_it_cannot_do_for_a_wandb_sweep():
    from sweepops.cli.retry import server_sweeps

    deploy = {
        "sweeps": [
            {"id": "w1", "name": "on-wandb", "backend": "wandb"},
            {"id": "o1", "name": "offline", "backend": "offline"},
        ]
    }
    (line,) = server_sweeps(deploy)
    assert line.startswith("on-wandb (w1) is a wandb sweep: its server decides")
    assert "sweepops reproduce" in line and "sweep_backend=offline" in line


def test_status_counts_the_runs_waiting_as_retries(tmp_path):
    from sweepops.ops.status import progress_line

    sweep = OfflineSweep.create(tmp_path, config=grid(3), name="s")
    run_all(sweep, fails={0, 2})
    sweep_retry.mark(sweep.path, failed=True)
    counts = sweep.progress()
    assert counts["retry"] == 2 and counts["failed"] == 0 and counts["left"] == 2
    line = progress_line("s", sweep.id, counts, "")
    assert "failed 0" in line and "left 2" in line and "retrying 2" in line


def test_the_ended_attempt_keeps_its_reason_and_the_retry_job_options(tmp_path):
    sweep = OfflineSweep.create(tmp_path, config=grid(1), name="s")
    claim = sweep.claim(AGENT)
    assert claim is not None
    log = sweep.path / "logs" / f"{claim.run_id}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("Traceback (most recent call last):\nRuntimeError: boom on this point\n")
    sweep.finish(claim, state=FAILED, exit_code=1)
    rec = sweep.read_run(claim.run_id)
    rec["log"] = str(log)
    sweep.write_run(rec)
    sweep_retry.mark(sweep.path, failed=True, sbatch_args=["--mem=3G"])
    (before,) = sweep.read_run(claim.run_id)["history_of_attempts"]
    assert before["state"] == FAILED and before["attempt"] == 1
    assert before["reason"] == "failed (exit 1); RuntimeError: boom on this point"
    assert before["retry_sbatch_args"] == ["--mem=3G"] and before["retried"] > 0


def test_a_retry_whose_journal_line_is_missing_is_journalled_again(tmp_path):
    sweep = OfflineSweep.create(tmp_path, config=grid(1), name="s")
    (bad,) = run_all(sweep, fails={0})
    # died between writing the record and journalling it: the record says retry only
    rec = sweep.read_run(bad[0])
    rec["state"] = sweep_retry.RETRY
    sweep.write_run(rec)
    assert OfflineSweep(sweep.path).claim(AGENT) is None  # the index does not know it yet
    out = sweep_retry.mark(sweep.path, failed=True)
    assert out.waiting == [bad[0]] and out.marked == []
    claim = OfflineSweep(sweep.path).claim(AGENT)
    assert claim is not None and claim.run_id == bad[0] and claim.attempt == 2


def test_a_resumed_run_keeps_its_run_dir_and_status_says_attempts(tmp_path):
    from sweepops.ops.status import _attempt_lines
    from sweepops.remote.sweep_layout import report
    from sweepops.runtime.offline_sweep import PREEMPTED, run_dir

    sweep = OfflineSweep.create(tmp_path, config=grid(3), name="s")
    first = sweep.claim(AGENT)
    assert first is not None
    sweep.finish(first, state=PREEMPTED, exit_code=143)  # interrupted: handed out again
    again = sweep.claim(AGENT)
    assert again is not None and again.run_id == first.run_id and again.attempt == 2
    assert run_dir(sweep.path, again.run_id) == sweep.path / "checkpoints" / first.run_id
    sweep.finish(again, state=FINISHED, exit_code=0)
    run_all(sweep, fails={1, 2})
    found = report(str(sweep.path))
    assert found["attempts"] == {"retried": 0, "resumed": 1, "attempts": 4}
    s = {"attempts": found["attempts"], "counts": {"failed": 2, "finished": 1}}
    assert _attempt_lines(s, live=False) == [
        "      attempts 4: 0 run(s) retried, 1 attempt(s) resumed after an interruption",
        "      next: 2 failed run(s) are not run again by themselves; `sweepops retry EXP "
        "--failed` runs them again (it starts or submits agents: none is live)",
    ]
    sweep_retry.mark(sweep.path, failed=True)
    assert report(str(sweep.path))["attempts"]["retried"] == 2


def test_one_line_per_distinct_failure_reason():
    from sweepops.ops.status import _failed_run_lines

    runs = [{"id": f"r{i}", "why": "failed (exit 1); KeyError: 'lr'"} for i in range(7)]
    runs.append({"id": "q", "why": "failed (exit 2); other"})
    assert _failed_run_lines(runs) == [
        "      7 runs (r0, r1, r2, r3, r4 and 2 more): failed (exit 1); KeyError: 'lr'",
        "      run q: failed (exit 2); other",
    ]
