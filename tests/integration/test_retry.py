"""``sweepops retry`` on this machine (local executor): a program that fails on some points
once; ``retry --failed`` re-runs exactly those as second attempts of the same runs. Counted
from the run records and from the program's own log of every start and end."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import executions, git, run_sweepops

pytestmark = pytest.mark.integration

FAILS_ONCE = """program: tests/programs/counted.py
method: grid
parameters:
  x: [a, b, c, d]
  fail_first: "a,c"
_num_nodes: 2
"""


def test_retry_failed_reruns_exactly_the_failed_points_once_more(repo: Path):
    (repo / "experiments" / "fails.yml").write_text(FAILS_ONCE)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "fails")
    first = run_sweepops(repo, "deploy", "fails", "--wait", "--timeout", "300")
    assert first.returncode == 1, first.stdout + first.stderr  # 2 runs failed
    rows = json.loads(run_sweepops(repo, "results", "fails", "--json").stdout)
    assert Counter(r["state"] for r in rows) == {"finished": 2, "failed": 2}
    failed = {r["run_id"] for r in rows if r["state"] == "failed"}
    status = run_sweepops(repo, "status", "fails")
    assert "next: 2 failed run(s) are not run again by themselves; `sweepops retry fails " \
        "--failed` runs them again" in status.stdout, status.stdout  # fmt: skip

    nothing = run_sweepops(repo, "retry", "fails", "--run", "no/such")
    assert nothing.returncode == 2 and "not a run id" in nothing.stderr
    local_e = run_sweepops(repo, "retry", "fails", "--failed", "-e", "mem=8G")
    assert local_e.returncode == 1 and "does not apply to local agents" in local_e.stderr

    again = run_sweepops(repo, "retry", "fails", "--failed", "--wait", "--timeout", "300")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "2 run(s) to run again" in again.stdout and "started 2 agent(s)" in again.stdout
    deploy = json.loads((repo / ".sweepops" / "ledger.jsonl").read_text().splitlines()[0])
    (sweep,) = deploy["sweeps"]
    sweep_dir = Path(sweep["dir"])
    _wait_all_finished(sweep_dir, 4)

    records = [json.loads(p.read_text()) for p in (sweep_dir / "runs").glob("*.json")]
    assert len(records) == 4  # 0 runs lost, no new run
    assert Counter(r["state"] for r in records) == {"finished": 4}
    by_id = {r["id"]: r for r in records}
    assert {i for i, r in by_id.items() if r["attempt"] == 2} == failed
    assert {r["attempt"] for i, r in by_id.items() if i not in failed} == {1}
    for run_id in failed:  # the failed attempt is kept, with why it ended
        assert [(h["attempt"], h["state"]) for h in by_id[run_id]["history_of_attempts"]] == [
            (1, "failed")
        ]
        assert by_id[run_id]["history_of_attempts"][0]["reason"].startswith("failed (exit 3)")
    for run_id in by_id:  # one SWEEPOPS_RUN_DIR per run, every attempt in it
        seen = (sweep_dir / "checkpoints" / run_id / "attempts.log").read_text().split("\n")
        want = ["1", "2"] if run_id in failed else ["1"]
        assert [ln.split() for ln in seen if ln] == [[a, run_id, "allow"] for a in want]
    starts, ends = executions(sweep_dir / "count.log")
    assert ends == Counter({"a": 1, "b": 1, "c": 1, "d": 1})  # 0 points finished twice
    assert starts == Counter({"a": 2, "b": 1, "c": 2, "d": 1})
    rows = json.loads(run_sweepops(repo, "results", "fails", "--json").stdout)
    assert {r["state"] for r in rows} == {"finished"} and len(rows) == 4

    status = run_sweepops(repo, "status", "fails")
    assert "attempts 6: 2 run(s) retried" in status.stdout, status.stdout
    done = run_sweepops(repo, "retry", "fails", "--failed")
    assert done.returncode == 0 and "no run to retry" in done.stdout
    finished = run_sweepops(repo, "retry", "fails", "--run", next(iter(failed)))
    assert finished.returncode == 1 and "finished twice" in finished.stderr


def _wait_all_finished(sweep_dir: Path, n: int, timeout: float = 300) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = [json.loads(p.read_text())["state"] for p in (sweep_dir / "runs").glob("*.json")]
        if len(states) == n and set(states) == {"finished"}:
            return
        time.sleep(1)
    raise AssertionError(f"the runs did not all finish: {states}")
