"""Failures explain themselves: reasons, resource limits, logs, exit codes and the CLI's words."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sweepops.ansible.runner import Outcome
from sweepops.cli import commands as cli
from sweepops.cli.deploy import deploy_failure, run_why
from sweepops.executors.local import LocalExecutor
from sweepops.ops.status import exit_code, failed_sweeps, format_status
from sweepops.records import ledger
from sweepops.remote.failures import job_log_path, job_reason, last_error_line, run_reason
from sweepops.remote.log_lookup import find_log, list_logs, read_from
from sweepops.remote.slurm_limits import (
    gres_counts,
    parse_mem_mb,
    parse_time,
    partition_limits,
    resource_problems,
)
from sweepops.results.rows import finish_rows, metric_note, results_exit_code

TRACEBACK = """# attempt 1 on n1: ['python', 'train.py']
Traceback (most recent call last):
  File "train.py", line 1, in <module>
    import torchh
ModuleNotFoundError: No module named 'torchh'
wandb: Synced 0 files
"""


# ---------------------------------------------------------------------- reasons
def test_last_error_line_is_the_exception_not_the_noise():
    assert last_error_line(TRACEBACK) == "ModuleNotFoundError: No module named 'torchh'"
    quoted = "run x failed\n  | KeyError: 'lr'\n[sweepops] 2026 agent exited 1\n"
    assert last_error_line(quoted) == "KeyError: 'lr'"
    timeout = "slurmstepd: error: *** JOB 7 ON n1 CANCELLED AT 2026-01-01 DUE TO TIME LIMIT ***"
    assert last_error_line("started\n" + timeout + "\n") == timeout
    assert last_error_line("all good\nepoch 3 loss 0.1\n") is None


def test_job_reason_names_state_meaning_exit_and_log_line():
    row = {"state": "OUT_OF_MEMORY", "exit_code": "0:125"}
    log = "slurmstepd: error: Detected 1 oom_kill event in StepId=9.batch.\n"
    assert job_reason(row, log) == (
        "OUT_OF_MEMORY: killed for using more memory than `mem` (exit 0:125); "
        "slurmstepd: error: Detected 1 oom_kill event in StepId=9.batch."
    )
    assert job_reason({"state": "PENDING", "reason": "PartitionTimeLimit"}) == (
        "PENDING (PartitionTimeLimit)"
    )
    assert job_reason({"state": "PENDING", "reason": "None"}) is None
    assert job_reason({"state": "RUNNING"}) is None
    assert job_reason({"state": "COMPLETED", "exit_code": "0:0"}) is None
    assert job_reason({"state": "FAILED", "exit_code": "1:0"}, TRACEBACK).endswith("'torchh'")
    assert run_reason({"state": "failed", "exit_code": 1}, TRACEBACK) == (
        "failed (exit 1); ModuleNotFoundError: No module named 'torchh'"
    )
    assert run_reason({"state": "failed", "exit_code": 127, "error": "no such file"}) == (
        "failed (exit 127); no such file"
    )


def test_job_log_path_follows_the_sbatch_template(tmp_path):
    logs = tmp_path / "deploys" / "d1" / "logs"
    logs.mkdir(parents=True)
    (logs / "base-12_1.out").write_text("x")
    (logs / "base-12_2.out").write_text("y")
    assert job_log_path(str(tmp_path), "d1", "12_2") == str(logs / "base-12_2.out")
    assert job_log_path(str(tmp_path), "d1", "12") == str(logs / "base-12_1.out")
    assert job_log_path(str(tmp_path), "d1", "13_1") is None
    assert job_log_path(str(tmp_path), "nodeploy", "12_1") is None


# ---------------------------------------------------------------------- limits
def test_slurm_times_and_sizes():
    assert parse_time("30") == 1800 and parse_time("1:30") == 90
    assert parse_time("08:00:00") == 8 * 3600 and parse_time("1-00:00:00") == 86400
    assert parse_time("2-12") == 60 * 3600 and parse_time("infinite") is None
    with pytest.raises(ValueError):
        parse_time("soon")
    assert parse_mem_mb("4000") == 4000 and parse_mem_mb("32G") == 32768
    assert parse_mem_mb("512M") == 512 and parse_mem_mb("") is None
    assert gres_counts("gpu:a100:4(S:0-1),mps:100") == {"gpu": 4, "gpu:a100": 4, "mps": 100}
    assert gres_counts("(null)") == {} and gres_counts("gpu:2") == {"gpu": 2}


SINFO = "gpu*|infinite|4|4000|gpu:2\ncpu|1-00:00:00|4|4000|gpu:2\ncpu|1-00:00:00|16|64000|(null)\n"


def test_resource_problems_name_the_value_and_the_limit():
    limits = partition_limits(SINFO)
    assert limits["cpu"]["cpus"] == 16 and limits["cpu"]["mem_mb"] == 64000
    assert limits["gpu"]["default"] and limits["gpu"]["time"] is None
    fits = {"partition": "cpu", "time": "08:00:00", "mem": "32G", "cpus_per_task": 8}
    assert resource_problems(fits, limits) == []
    too_big = {"partition": "cpu", "time": "2-00:00:00", "mem": "128G", "cpus_per_task": "32",
               "gres": "gpu:3"}
    assert resource_problems(too_big, limits) == [
        "time 2-00:00:00 is above the MaxTime of partition cpu (1-00:00:00): the jobs would "
        "pend for ever (PartitionTimeLimit); lower `time` or pick another partition",
        "mem 128G is more than any node of partition cpu has (64000M); lower `mem`",
        "cpus_per_task 32 is more than any node of partition cpu has (16); lower `cpus_per_task`",
        "gres gpu:3 asks for 3 gpu per job; the nodes of partition cpu have at most 2 (their "
        "GRES: gpu:2); fix `gres`",
    ]
    # no partition: the default one (unlimited time); a GRES type no node has
    (typed,) = resource_problems({"time": "30-00:00:00", "gres": "gpu:a100:1"}, limits)
    assert "1 gpu:a100 per job; the nodes of partition gpu have at most 0" in typed
    assert resource_problems({"partition": "nosuch", "mem": "1T"}, limits) == []


# ---------------------------------------------------------------------- logs
def test_logs_found_by_run_or_job_and_read_from_an_offset(tmp_path):
    sweep = tmp_path / "sweeps" / "sw1"
    (sweep / "runs").mkdir(parents=True)
    (sweep / "logs").mkdir()
    (sweep / "runs" / "r1.json").write_text(json.dumps({"id": "r1", "state": "running"}))
    (sweep / "logs" / "r1.log").write_text("line 1\nline 2\n")
    jobs = tmp_path / "deploys" / "d1" / "logs"
    jobs.mkdir(parents=True)
    (jobs / "base-5_1.out").write_text("[sweepops] job 5_1\n")
    dirs = {"sw1": str(sweep)}
    found = find_log("r1", dirs, str(tmp_path), "d1")
    assert found and found["kind"] == "run" and found["state"] == "running"
    text, offset, size = read_from(found["path"], -1)
    assert text == "line 1\nline 2\n" and offset == size == 14
    with open(found["path"], "a") as fh:
        fh.write("line 3\n")
    assert read_from(found["path"], offset)[0] == "line 3\n"
    assert find_log("5", dirs, str(tmp_path), "d1")["path"] == str(jobs / "base-5_1.out")
    assert find_log("nosuch", dirs, str(tmp_path), "d1") is None
    kinds = sorted((e["kind"], e["id"]) for e in list_logs(dirs, str(tmp_path), "d1"))
    assert kinds == [("job", "5_1"), ("run", "r1")]
    assert read_from(str(tmp_path / "missing.log"), 0) == ("", 0, 0)


# ---------------------------------------------------------------------- results
def _row(run_id: str, state: str, loss: float | None, **extra: Any) -> dict[str, Any]:
    return {
        "sweep": "s",
        "run_id": run_id,
        "state": state,
        "params": {},
        "tags": [],
        "summary": {} if loss is None else {"val_loss": loss, "epoch": 3},
        **extra,
    }


def test_only_finished_runs_can_be_best():
    rows = [_row("pre", "preempted", 0.01), _row("fin", "finished", 0.5), _row("f", "failed", None)]
    finish_rows(rows, {"name": "val_loss", "goal": "minimize"})
    assert [r["run_id"] for r in rows] == ["fin", "pre", "f"]
    assert [r["best"] for r in rows] == [True, False, False]
    only_interrupted = [_row("pre", "preempted", 0.01), _row("stop", "stopped", 0.02)]
    finish_rows(only_interrupted, {"name": "val_loss", "goal": "minimize"})
    assert not any(r["best"] for r in only_interrupted)


def test_metric_never_logged_names_the_keys_logged():
    rows = [_row("a", "finished", 0.5), _row("b", "failed", None)]
    finish_rows(rows, {"name": "val_los", "goal": "minimize"})
    assert metric_note(rows, {"name": "val_los"}) == (
        "no finished run logged the metric 'val_los' (1 finished); they logged: epoch, "
        "val_loss. Fix metric.name in the experiment file (or what the program logs)"
    )
    finish_rows(rows, {"name": "val_loss"})
    assert metric_note(rows, {"name": "val_loss"}) is None


def test_results_exit_codes():
    assert results_exit_code([_row("a", "finished", 1.0)]) == 0
    assert results_exit_code([_row("a", "finished", 1.0), _row("b", "failed", None)]) == 1
    assert results_exit_code([_row("a", "failed", None), _row("b", "failed", None)]) == 3
    assert results_exit_code([_row("a", "failed", None), _row("b", "running", None)]) == 1
    assert results_exit_code([_row("a", "failed", None), _row("b", "lost", None)]) == 1
    assert results_exit_code([]) == 0


# ---------------------------------------------------------------------- status
def _status(jobs: dict[str, dict[str, Any]], counts: dict[str, int]) -> dict[str, Any]:
    return {
        "experiment": "base",
        "deploy_id": "d1",
        "local": [],
        "clusters": {
            "atlas-login": {
                "error": None,
                "sweeps": [
                    {
                        "name": "base",
                        "id": "sw1",
                        "counts": counts,
                        "cancelled": False,
                        "failed_runs": [{"id": "r1", "why": "failed (exit 1); KeyError: 'lr'"}],
                    }
                ],
                "jobs": jobs,
            }
        },
        "wandb": {},
    }


def test_status_lines_and_exit_codes():
    failed = {"7_1": {"state": "FAILED", "why": "FAILED (exit 1:0); KeyError: 'lr'"}}
    status = _status(failed, {"failed": 2, "finished": 0, "running": 0, "left": 0})
    text = "\n".join(format_status(status))
    assert "      run r1: failed (exit 1); KeyError: 'lr'" in text
    assert "    jobs: 1 FAILED\n      job 7_1: FAILED (exit 1:0); KeyError: 'lr'" in text
    assert exit_code([status]) == 3
    running = {"7_1": {"state": "FAILED"}, "7_2": {"state": "RUNNING"}}
    assert exit_code([_status(running, {"failed": 1, "finished": 0, "running": 1})]) == 1
    done = {"7_1": {"state": "COMPLETED"}}
    assert exit_code([_status(done, {"failed": 0, "finished": 3, "running": 0})]) == 0
    # a killed job whose run waits to be run again (stranded): not "every run failed"
    killed = {"7_1": {"state": "CANCELLED"}}
    stranded = {"failed": 0, "finished": 0, "running": 0, "lost": 1}
    assert exit_code([_status(killed, stranded)]) == 1
    json.dumps(status)  # status --json


def test_failed_sweeps_only_when_every_job_of_the_sweep_failed():
    deploy = {"sweeps": [{"id": "sw1", "name": "bad"}, {"id": "sw2", "name": "good"}]}
    submitted = {"atlas-login": {"jobs": {"sw1": "7", "sw2": "8"}}}
    answers = {
        "atlas-login": {
            "jobs": {
                "7_1": {"state": "FAILED", "why": "FAILED (exit 1:0); ImportError: x"},
                "7_2": {"state": "OUT_OF_MEMORY"},
                "8_1": {"state": "RUNNING"},
            }
        }
    }
    failed = failed_sweeps(deploy, submitted, answers)
    assert list(failed) == ["bad"]
    assert "atlas-login job 7_1: FAILED (exit 1:0); ImportError: x" in failed["bad"]
    assert "job 7_2: OUT_OF_MEMORY: killed for using more memory" in failed["bad"]
    answers["atlas-login"]["jobs"]["7_2"] = {"state": "RUNNING"}
    assert failed_sweeps(deploy, submitted, answers) == {}
    assert failed_sweeps(deploy, submitted, {"atlas-login": {"jobs": {}}}) == {}


# ---------------------------------------------------------------------- deploy advice
def _event(kind: str, action: str, host: str = "localhost", **res: Any) -> dict[str, Any]:
    return {"event": kind, "event_data": {"host": host, "task_action": action, "res": res}}


def test_deploy_failure_advises_deploy_id_only_when_sweeps_were_created():
    early = Outcome()
    early.on_event(_event("runner_on_ok", "ansible.builtin.assert"))
    early.on_event(
        _event("runner_on_failed", "ansible.builtin.assert", msg="unknown cluster(s): nosuch")
    )
    text = deploy_failure(2, early, "d1")
    assert "localhost: unknown cluster(s): nosuch" in text
    assert "Nothing was created" in text and "deploy_id" not in text
    late = Outcome()
    late.on_event(_event("runner_on_ok", "sweepops_sweeps"))
    late.on_event(_event("runner_on_unreachable", "sweepops_record", "atlas-login", msg="ssh: no"))
    text = deploy_failure(4, late, "d1")
    assert "atlas-login: ssh: no" in text and "-e deploy_id=d1" in text
    assert "Nothing was created" not in deploy_failure(2, late, "d1")
    assert "deploy_id" not in deploy_failure(2, late, "d1", check=True)


# ---------------------------------------------------------------------- the CLI's words
def _local_deploy(root: Path, states: list[str]) -> dict[str, Any]:
    from sweepops.runtime.offline_sweep import OfflineSweep, sweep_meta

    (root / "experiments").mkdir(parents=True, exist_ok=True)
    (root / "ansible.cfg").write_text("")
    (root / "experiments" / "base.yml").write_text("program: x.py\n")
    config = {"method": "grid", "metric": {"name": "val_loss"}, "parameters": {"x": {"value": 1}}}
    sweep = OfflineSweep.create_from_meta(root / "sweeps", sweep_meta(config=config, name="base"))
    for i, state in enumerate(states):
        rec = {"id": f"r{i}", "params": {"x": {"value": 1}}, "state": state, "summary": {}}
        (sweep.runs_dir / f"r{i}.json").write_text(json.dumps(rec))
    deploy = {
        "deploy_id": "d1",
        "experiment": "base",
        "experiment_path": str((root / "experiments" / "base.yml").resolve()),
        "sweeps": [{"id": sweep.id, "name": "base", "dir": str(sweep.path), "meta": sweep.meta}],
    }
    ledger.append(root, deploy)
    return deploy


def test_results_csv_to_a_missing_directory_fails_before_anything(tmp_path, capsys):
    _local_deploy(tmp_path, ["finished"])
    rc = cli.main(["--root", str(tmp_path), "results", "base", "--csv", "/nonexistent/x.csv"])
    err = capsys.readouterr().err
    assert rc == 2 and "cannot write /nonexistent/x.csv: the directory /nonexistent does not" in err
    assert not (tmp_path / "journal").exists()  # nothing was written, the journal neither


def test_status_and_results_exit_3_when_every_run_failed(tmp_path, capsys):
    _local_deploy(tmp_path, ["failed", "failed"])
    assert cli.main(["--root", str(tmp_path), "results", "base", "--no-fetch"]) == 3
    assert cli.main(["--root", str(tmp_path), "status", "base"]) == 3
    capsys.readouterr()
    assert cli.main(["--root", str(tmp_path), "status", "base", "--json"]) == 3
    (status,) = json.loads(capsys.readouterr().out)
    assert status["local"][0]["counts"]["failed"] == 2
    assert [r["id"] for r in status["local"][0]["failed_runs"]] == ["r0", "r1"]


def test_cancel_of_a_finished_deploy_marks_nothing(tmp_path, capsys):
    deploy = _local_deploy(tmp_path, ["finished"])
    assert cli.main(["--root", str(tmp_path), "cancel", "base"]) == 0
    assert "no agent running here; nothing to cancel" in capsys.readouterr().out
    assert not (Path(deploy["sweeps"][0]["dir"]) / "cancelled").exists()


def test_version_help_and_argument_help(capsys):
    from sweepops import __version__

    with pytest.raises(SystemExit):
        cli.main(["--version"])
    assert capsys.readouterr().out.strip() == f"sweepops {__version__}"
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert out.splitlines()[2] == cli.DESCRIPTION and "``" not in out
    assert "exit codes:" in out and "3  status and results" in out
    with pytest.raises(SystemExit):
        cli.main(["deploy", "--help"])
    out = capsys.readouterr().out
    for words in ("experiment name", "a setting for this deploy", "show the changes"):
        assert words in " ".join(out.split())


def test_a_memory_kill_is_named_even_when_slurm_says_failed():
    log = (
        "slurmstepd-n1: error: StepId=19.batch exceeded memory limit (482045952 > 419430400), "
        "being killed\nslurmstepd-n1: error: Exceeded job memory limit\n"
    )
    assert job_reason({"state": "FAILED", "exit_code": "0:9"}, log) == (
        "FAILED: killed for using more memory than `mem` (exit 0:9); "
        "slurmstepd-n1: error: Exceeded job memory limit; "
        "it used 460M: give it more, `sweepops retry EXP --failed -e mem=768M`"
    )


def test_a_job_killed_for_memory_gets_a_suggested_mem():
    from sweepops.remote.failures import suggested_mem

    log = "slurmstepd: error: Job 7 exceeded memory limit (1610612736 > 1073741824), being killed\n"
    why = job_reason({"state": "FAILED", "exit_code": "0:9", "max_rss": ""}, log)
    assert why is not None and why.startswith("FAILED: killed for using more memory")
    assert why.endswith("it used 1536M: give it more, `sweepops retry EXP --failed -e mem=3G`")
    why = job_reason({"state": "OUT_OF_MEMORY", "exit_code": "0:125", "max_rss": "300M"})
    assert why is not None and why.endswith("-e mem=512M`")
    assert job_reason({"state": "OUT_OF_MEMORY", "max_rss": ""}) == (
        "OUT_OF_MEMORY: killed for using more memory than `mem`"
    )
    assert suggested_mem(2**30) == "2G" and suggested_mem(100 * 2**20) == "256M"


def test_follow_reads_a_local_log_until_the_run_has_ended(tmp_path, capsys):
    import threading
    import time

    from sweepops.executors.local import follow_local

    sweep = tmp_path / "sw1"
    (sweep / "runs").mkdir(parents=True)
    (sweep / "logs").mkdir()
    record = sweep / "runs" / "r1.json"
    record.write_text(json.dumps({"id": "r1", "state": "running"}))
    log = sweep / "logs" / "r1.log"
    log.write_text("epoch 1\n")

    def run_on() -> None:
        for line in ("epoch 2\n", "epoch 3\n"):
            time.sleep(0.3)
            with open(log, "a") as fh:
                fh.write(line)
        with open(log, "a") as fh:  # the last line, just before the agent records the end
            fh.write("done\n")
        record.write_text(json.dumps({"id": "r1", "state": "finished"}))

    writer = threading.Thread(target=run_on)
    writer.start()
    dirs = {"sw1": str(sweep)}
    assert follow_local(find_log("r1", dirs), dirs, follow=True) == 0
    writer.join()
    assert capsys.readouterr().out == "epoch 1\nepoch 2\nepoch 3\ndone\n"


def test_deploy_wait_names_an_unreadable_record_not_a_log():
    # results keeps an unreadable record's row (issue 19): deploy --wait names the record
    row = {"run_id": "r1", "state": "unreadable", "record": "/lab/sweeps/s/runs/r1.json"}
    row.update(error="Expecting value: line 1 column 1 (char 0)", cluster="atlas-login")
    local = LocalExecutor(Path("/nonexistent"), {"deploy_id": "d", "sweeps": []})
    why = run_why(row, [local])
    assert why == (
        "its run record /lab/sweeps/s/runs/r1.json cannot be read "
        "(Expecting value: line 1 column 1 (char 0))"
    )
    failed = {"run_id": "r2", "state": "failed", "exit_code": 3, "cluster": "local", "log": ""}
    assert run_why(failed, [local]) == "failed (exit 3)"
