"""The executor interface: one choice of executors per deploy (executors.choose), the real
local executor with real local agents (wait, status, logs, results, cancel), and the CLI's
status/cancel/wait/logs wiring through any executor (a fake one here)."""

from __future__ import annotations

import io
import os
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from sweepops.cli import logs as cli_logs
from sweepops.cli import status as cli_status
from sweepops.cli.deploy import run_why, wait_for
from sweepops.core.errors import SweepopsError
from sweepops.executors.base import Executor, LogMiss, Notice, WaitOutcome
from sweepops.executors.choose import executors_for
from sweepops.executors.local import LocalExecutor, running_agents, start_agents
from sweepops.executors.slurm import SlurmExecutor
from sweepops.ops.status import deploy_status
from sweepops.records import ledger
from sweepops.runtime.offline_sweep import OfflineSweep

#: A run program: fails (exit 3, saying why on stderr) for x == 3, sleeps --sleep seconds.
PROGRAM = """\
import argparse, sys, time
p = argparse.ArgumentParser()
p.add_argument("--x", type=int)
p.add_argument("--sleep", type=float, default=0)
a, _ = p.parse_known_args()
print(f"x={a.x}", flush=True)
time.sleep(a.sleep)
if a.x == 3:
    sys.exit("boom: x is 3")
"""


def _local_deploy(root: Path, parameters: dict[str, Any]) -> tuple[dict[str, Any], OfflineSweep]:
    program = root / "prog.py"
    program.write_text(PROGRAM)
    config = {"program": str(program), "method": "grid", "parameters": parameters}
    sweep = OfflineSweep.create(root / "lab" / "sweeps", config=config, name="s")
    entry = {"id": sweep.id, "name": "s", "dir": str(sweep.path), "meta": sweep.meta}
    deploy = {"deploy_id": "d1", "experiment": "e", "sweeps": [entry]}
    ledger.append(root, deploy)
    return deploy, sweep


def _agents_env() -> None:
    os.environ.setdefault("WANDB_ERROR_REPORTING", "false")


# ---------------------------------------------------------------------- choosing
def test_a_deploy_without_submissions_has_the_local_executor_only(tmp_path):
    deploy = {"deploy_id": "d1", "experiment": "e", "sweeps": []}
    ledger.append(tmp_path, deploy)
    (only,) = executors_for(tmp_path, deploy)
    assert isinstance(only, LocalExecutor)


def test_submissions_choose_their_scheduler_s_executor(tmp_path):
    deploy = {"deploy_id": "d1", "experiment": "e", "sweeps": []}
    ledger.append(tmp_path, deploy)
    # a submission recorded before schedulers were recorded is Slurm's
    ledger.record_submission(tmp_path, "d1", {"b-login": {"lab_root": "/lab", "jobs": {}}})
    ledger.record_submission(
        tmp_path, "d1", {"a-login": {"lab_root": "/lab", "jobs": {}, "scheduler": "slurm"}}
    )
    local, slurm = executors_for(tmp_path, deploy, ["inv.yml"])
    assert isinstance(local, LocalExecutor) and isinstance(slurm, SlurmExecutor)
    assert slurm.hosts == ["a-login", "b-login"] and slurm.inventory == ["inv.yml"]
    assert slurm.by_hand("sw", "a-login") == "ssh a-login 'bash /lab/deploys/d1/sw.sbatch'"


def test_a_scheduler_sweepops_cannot_drive_is_an_error(tmp_path):
    deploy = {"deploy_id": "d1", "experiment": "e", "sweeps": []}
    ledger.append(tmp_path, deploy)
    ledger.record_submission(tmp_path, "d1", {"h": {"lab_root": "/l", "scheduler": "pbs"}})
    with pytest.raises(SweepopsError, match="scheduler 'pbs'"):
        executors_for(tmp_path, deploy)


# ---------------------------------------------------------------------- the local executor
def test_the_local_executor_waits_reports_and_shows_logs_of_real_agents(tmp_path, capsys):
    _agents_env()
    deploy, sweep = _local_deploy(tmp_path, {"x": {"values": [1, 3]}})
    start_agents(sweep, 1, code_dir=tmp_path)
    (local,) = executors_for(tmp_path, deploy)
    assert local.wait(time.monotonic(), timeout=120) == WaitOutcome()
    assert running_agents(sweep) == []

    (status,) = local.status(lambda _sweep, _where: True)["local"]
    assert status["counts"]["finished"] == 1 and status["counts"]["failed"] == 1
    assert status["agents"] == 0 and not status["cancelled"]
    (failed,) = status["failed_runs"]
    assert "boom: x is 3" in failed["why"]
    assert local.status(lambda _sweep, _where: False) == {"local": []}

    assert local.fetch() == {}
    assert local.result_dirs() == [("local", sweep.path, False)]

    logs, warnings = local.list_logs()
    assert warnings == [] and sorted(e["state"] for _, e in logs) == ["failed", "finished"]
    capsys.readouterr()
    assert local.show_log(failed["id"], follow=False) is None
    shown = capsys.readouterr()
    assert "x=3" in shown.out and "boom: x is 3" in shown.out and failed["id"] in shown.err
    assert local.show_log("no-such-run", follow=False) == LogMiss("this machine")

    row = {"run_id": failed["id"], "state": "failed", "cluster": "local", "exit_code": 1}
    row["log"] = failed["log"]
    assert "boom: x is 3" in (local.run_why(row) or "")
    assert local.run_why({**row, "cluster": "atlas-login"}) is None

    # the agents have ended: nothing to cancel
    assert local.cancel() == [Notice(f"s ({sweep.id}): no agent running here; nothing to cancel")]


def test_the_local_executor_cancels_live_agents_and_wait_gives_up_at_the_timeout(tmp_path):
    _agents_env()
    deploy, sweep = _local_deploy(tmp_path, {"x": {"values": [1, 2]}, "sleep": {"value": 60}})
    start_agents(sweep, 1, code_dir=tmp_path)
    (local,) = executors_for(tmp_path, deploy)
    with pytest.raises(SweepopsError, match="gave up waiting after 1s; the agents keep running"):
        with redirect_stdout(io.StringIO()):
            local.wait(time.monotonic(), timeout=1)
    assert running_agents(sweep)
    assert local.cancel() == [Notice(f"cancelled s ({sweep.id}) on this machine")]
    assert OfflineSweep(sweep.path).cancelled
    deadline = time.monotonic() + 60
    while running_agents(sweep) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert running_agents(sweep) == []


# ---------------------------------------------------------------------- the CLI's wiring
class FakeExecutor(Executor):
    """An executor that answers what it is told to and records what it was asked."""

    kind = "fake"

    def __init__(self, name: str, **answers: Any):
        super().__init__(Path("/nonexistent"), {"deploy_id": "d1", "experiment": "e"})
        self.name = name
        self.answers = answers
        self.asked: list[str] = []

    def _say(self, what: str) -> Any:
        self.asked.append(what)
        return self.answers.get(what)

    def by_hand(self, sweep_id: str, where: str) -> str:
        return f"run {sweep_id} on {where}"

    def status(self, on_disk: Any) -> dict[str, Any]:
        return dict(self._say("status") or {})

    def cancel(self) -> list[Notice]:
        return list(self._say("cancel") or [])

    def wait(self, start: float, timeout: float | None) -> WaitOutcome:
        return self._say("wait") or WaitOutcome()

    def run_why(self, row: dict[str, Any]) -> str | None:
        return (self._say("run_why") or {}).get(row.get("cluster"))

    def list_logs(self) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
        return self._say("list_logs") or ([], [])

    def show_log(self, log_id: str, follow: bool) -> LogMiss | None:
        return self._say("show_log")

    def fetch(self, progress: Any = None) -> dict[str, Any]:
        return self._say("fetch") or {}

    def result_dirs(self) -> list[tuple[str, Path, bool]]:
        return self._say("result_dirs") or []


def test_status_merges_every_executor_s_part(tmp_path):
    deploy = {"deploy_id": "d1", "experiment": "e", "sweeps": []}
    here = FakeExecutor("here", status={"local": [{"name": "a"}]})
    there = FakeExecutor("there", status={"clusters": {"h": {"sweeps": []}}})
    got = deploy_status(tmp_path, deploy, [here, there])
    assert got["local"] == [{"name": "a"}] and got["clusters"] == {"h": {"sweeps": []}}


def test_cancel_prints_each_executor_s_notices_and_fails_if_one_could_not():
    ok = FakeExecutor("ok", cancel=[Notice("cancelled here")])
    bad = FakeExecutor("bad", cancel=[Notice("h: could not cancel: down", failed=True)])
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        assert cli_status.cancel([ok, bad]) == 1
    assert out.getvalue() == "cancelled here\n" and err.getvalue() == "h: could not cancel: down\n"
    with redirect_stdout(io.StringIO()):
        assert cli_status.cancel([ok]) == 0


def test_wait_stops_at_the_first_executor_whose_sweeps_all_failed(tmp_path):
    early = FakeExecutor("early", wait=WaitOutcome(["every job of s failed"], early=True))
    later = FakeExecutor("later")
    err = io.StringIO()
    with redirect_stderr(err):
        assert wait_for(tmp_path, {"deploy_id": "d1", "sweeps": []}, [early, later], None) == 1
    assert err.getvalue() == "every job of s failed\n" and later.asked == []


def test_why_a_run_failed_is_said_by_the_executor_it_ran_on():
    here = FakeExecutor("here", run_why={"local": "its log says so"})
    there = FakeExecutor("there", run_why={"h": "the cluster says so"})
    assert run_why({"cluster": "h", "state": "failed"}, [here, there]) == "the cluster says so"
    assert run_why({"cluster": "local", "state": "failed"}, [here, there]) == "its log says so"


def test_logs_look_in_each_executor_and_say_where_they_looked():
    deploy = {"deploy_id": "d1", "experiment": "e"}
    here = FakeExecutor("here", show_log=LogMiss("this machine"))
    there = FakeExecutor("there", show_log=LogMiss("a, b", ("b: unreachable",)))
    with pytest.raises(SweepopsError) as err:
        cli_logs.show(deploy, [here, there], "r1", follow=False)
    assert str(err.value).startswith(
        "deploy d1 has no run or job 'r1' on this machine or on a, b (could not ask b: unreachable)"
    )
    found = FakeExecutor("found")  # shows it: the executors after it are not asked
    assert cli_logs.show(deploy, [here, found, there], "r1", follow=False) == 0
    assert there.asked == ["show_log"]  # only by the first call


def test_the_log_list_is_every_executor_s_in_order(capsys):
    deploy = {"deploy_id": "d1", "experiment": "e"}
    entry = {"kind": "run", "id": "r1", "state": "finished", "path": "/x/r1.log"}
    here = FakeExecutor("here", list_logs=([("local", entry)], []))
    there = FakeExecutor("there", list_logs=([("h", {**entry, "id": "r2"})], ["h2: down"]))
    assert cli_logs.list_all(deploy, [here, there]) == 0
    got = capsys.readouterr()
    lines = got.out.splitlines()
    assert lines[1].startswith("local") and "r1" in lines[1]
    assert lines[2].startswith("h ") and "r2" in lines[2]
    assert got.err == "sweepops: h2: down\n"
