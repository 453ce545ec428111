"""sweepops.remote.slurm with a fake Slurm: submission at most once, adoption, errors, states."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from sweepops.remote import slurm
from sweepops.remote.slurm import SlurmError, cancel, job_states, parse_squeue, submit_once


class FakeSlurm:
    """A runner answering sbatch/squeue/sacct/scancel like Slurm 22.05 would."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.next_id = 100
        self.jobs: dict[str, str] = {}  # job id -> comment (in squeue)
        self.acct: dict[str, str] = {}  # job id -> comment (only in sacct)
        self.sbatch_error: str | None = None
        self.crash_after_sbatch = False

    def __call__(self, argv, **kwargs) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(argv))
        cmd = Path(argv[0]).name
        if cmd == "sbatch":
            if self.sbatch_error:
                return subprocess.CompletedProcess(argv, 1, "", self.sbatch_error)
            if "--test-only" in argv:
                return subprocess.CompletedProcess(argv, 0, "", "sbatch: Job 1 to start at ...")
            script = Path(argv[-1]).read_text()
            comment = next(
                line.split("=", 1)[1]
                for line in script.splitlines()
                if line.startswith("#SBATCH --comment=")
            )
            job_id = str(self.next_id)
            self.next_id += 1
            self.jobs[job_id] = comment
            if self.crash_after_sbatch:
                raise KeyboardInterrupt("ansible killed right after sbatch")
            return subprocess.CompletedProcess(argv, 0, f"{job_id}\n", "")
        if cmd == "squeue" and "--me" in argv:
            out = "".join(f"{j}|{c}\n" for j, c in self.jobs.items())
            return subprocess.CompletedProcess(argv, 0, out, "")
        if cmd == "sacct" and "JobID,Comment" in argv:
            out = "".join(f"{j}_1|{c}\n{j}_2|{c}\n" for j, c in self.acct.items())
            return subprocess.CompletedProcess(argv, 0, out, "")
        return subprocess.CompletedProcess(argv, 0, "", "")

    def sbatch_submissions(self) -> int:
        return sum(1 for c in self.calls if c[0] == "sbatch" and "--parsable" in c)


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "s1.sbatch"
    path.write_text("#!/bin/bash\n#SBATCH --array=1-2\n#SBATCH --comment=sweepops:d1:s1\ntrue\n")
    return path


def test_first_submission_writes_intent_then_record(tmp_path, script):
    fake = FakeSlurm()
    rec = tmp_path / "deploy"
    job_id, changed = submit_once(script, rec, "d1", "s1", run=fake)
    assert (job_id, changed) == ("100", True)
    assert fake.sbatch_submissions() == 1
    assert fake.calls[-1] == ["sbatch", "--parsable", str(script)]
    intent = json.loads((rec / "s1.intent.json").read_text())
    assert intent["comment"] == "sweepops:d1:s1"
    done = json.loads((rec / "s1.submitted.json").read_text())
    assert done["job_id"] == "100" and done["adopted"] is False
    assert done["script_sha256"] == slurm.sha256_of(script)
    # no fresh submission looks for an earlier job: no intent was there
    assert not any(c[0] in ("squeue", "sacct") for c in fake.calls)


def test_submitted_record_means_no_sbatch(tmp_path, script):
    fake = FakeSlurm()
    rec = tmp_path / "deploy"
    submit_once(script, rec, "d1", "s1", run=fake)
    fake.calls.clear()
    assert submit_once(script, rec, "d1", "s1", run=fake) == ("100", False)
    assert fake.calls == []


def test_crash_before_sbatch_then_retry_submits_once(tmp_path, script):
    fake = FakeSlurm()
    rec = tmp_path / "deploy"
    rec.mkdir()
    # an earlier attempt wrote its intent and died before sbatch ran
    slurm.write_json_atomic(rec / "s1.intent.json", {"time": 1.0, "comment": "sweepops:d1:s1"})
    job_id, changed = submit_once(script, rec, "d1", "s1", run=fake)
    assert (job_id, changed) == ("100", True)
    assert fake.sbatch_submissions() == 1
    assert [c[0] for c in fake.calls] == ["squeue", "sacct", "sbatch"]
    assert slurm.read_submitted(rec, "s1")["adopted"] is False


def test_crash_after_sbatch_then_retry_adopts_the_live_job(tmp_path, script):
    fake = FakeSlurm()
    rec = tmp_path / "deploy"
    fake.crash_after_sbatch = True
    with pytest.raises(KeyboardInterrupt):
        submit_once(script, rec, "d1", "s1", run=fake)
    assert (rec / "s1.intent.json").exists() and not (rec / "s1.submitted.json").exists()
    fake.crash_after_sbatch = False
    job_id, changed = submit_once(script, rec, "d1", "s1", run=fake)
    assert (job_id, changed) == ("100", True)
    assert fake.sbatch_submissions() == 1  # the job was adopted, not submitted twice
    assert slurm.read_submitted(rec, "s1")["adopted"] is True
    assert submit_once(script, rec, "d1", "s1", run=fake) == ("100", False)


def test_retry_adopts_a_job_only_sacct_remembers(tmp_path, script):
    fake = FakeSlurm()
    fake.acct["77"] = "sweepops:d1:s1"
    fake.acct["78"] = "sweepops:d1:other"
    rec = tmp_path / "deploy"
    rec.mkdir()
    slurm.write_json_atomic(rec / "s1.intent.json", {"time": 1.0e9})
    assert submit_once(script, rec, "d1", "s1", run=fake) == ("77", True)
    assert fake.sbatch_submissions() == 0
    sacct = next(c for c in fake.calls if c[0] == "sacct")
    assert "-S" in sacct  # sacct is asked from the intent's time, not only today


def test_other_sweeps_jobs_are_not_adopted(tmp_path, script):
    fake = FakeSlurm()
    fake.jobs["55"] = "sweepops:d1:s10"  # a prefix of the comment is not the comment
    fake.jobs["56"] = "sweepops:d2:s1"
    rec = tmp_path / "deploy"
    rec.mkdir()
    slurm.write_json_atomic(rec / "s1.intent.json", {"time": 1.0})
    assert submit_once(script, rec, "d1", "s1", run=fake) == ("100", True)


def test_sbatch_error_raises_with_hint_and_records_nothing(tmp_path, script):
    fake = FakeSlurm()
    fake.sbatch_error = (
        "sbatch: error: invalid partition specified: nope\n"
        "sbatch: error: Batch job submission failed: Invalid partition name specified"
    )
    rec = tmp_path / "deploy"
    with pytest.raises(SlurmError) as err:
        submit_once(script, rec, "d1", "s1", run=fake)
    assert "invalid partition specified: nope" in str(err.value)
    assert "sinfo" in (err.value.hint or "")
    assert "invalid partition" in err.value.stderr
    assert not (rec / "s1.submitted.json").exists()


def test_impossible_gres_hint(tmp_path, script):
    fake = FakeSlurm()
    fake.sbatch_error = (
        "sbatch: error: Batch job submission failed: Requested node configuration is not available"
    )
    with pytest.raises(SlurmError) as err:
        submit_once(script, tmp_path / "d", "d1", "s1", run=fake, validate=True)
    assert "gres" in (err.value.hint or "")
    assert fake.sbatch_submissions() == 0  # --test-only refused it first
    assert not (tmp_path / "d" / "s1.submitted.json").exists()


def test_validate_runs_test_only_before_the_submission(tmp_path, script):
    fake = FakeSlurm()
    submit_once(script, tmp_path / "d", "d1", "s1", run=fake, validate=True)
    sb = [c for c in fake.calls if c[0] == "sbatch"]
    assert sb == [["sbatch", "--test-only", str(script)], ["sbatch", "--parsable", str(script)]]


def test_garbage_from_sbatch_is_an_error(tmp_path, script):
    def run(argv, **kw):
        return subprocess.CompletedProcess(argv, 0, "Submitted batch job 12\n", "")

    with pytest.raises(SlurmError, match="could not read a job id"):
        submit_once(script, tmp_path / "d", "d1", "s1", run=run)
    assert not (tmp_path / "d" / "s1.submitted.json").exists()


def test_parsable_with_cluster_name():
    assert slurm.parse_sbatch_parsable("4242;atlas\n") == "4242"


def test_missing_sbatch_is_a_clear_error(tmp_path, script):
    def run(argv, **kw):
        raise FileNotFoundError(2, "No such file or directory", argv[0])

    with pytest.raises(SlurmError, match="sbatch not found") as err:
        submit_once(script, tmp_path / "d", "d1", "s1", run=run)
    assert "login node" in (err.value.hint or "")


def test_base_job_id():
    assert slurm.base_job_id("123_4") == "123"
    assert slurm.base_job_id("123_[1-4%2]") == "123"
    assert slurm.base_job_id("123.batch") == "123"
    assert slurm.base_job_id("123") == "123"


def test_parse_squeue_array_tasks():
    text = "13_[2-3%1]|PENDING|JobArrayTaskLimit|\n13_1|RUNNING|None|atlas-node01\n"
    rows = parse_squeue(text)
    assert rows["13_1"] == {
        "state": "RUNNING",
        "reason": "None",
        "nodes": "atlas-node01",
        "source": "squeue",
    }
    assert rows["13_[2-3%1]"]["reason"] == "JobArrayTaskLimit"


def test_job_states_merges_squeue_and_sacct():
    def run(argv, **kw):
        if argv[0] == "squeue":
            assert argv[argv.index("-j") + 1] == "13,20"
            out = "13_1|COMPLETED|None|n1\n13_2|RUNNING|None|n2\n20|PENDING|Priority|\n"
        else:
            out = (
                "13_1|COMPLETED|0:0|00:00:05||n1\n"
                "13_2|PENDING|0:0|00:00:00||None assigned\n"
                "19_1|CANCELLED by 1000|0:15|00:01:00|10M|n1\n"
            )
        return subprocess.CompletedProcess(argv, 0, out, "")

    states = job_states(["20", "13"], run=run)
    assert states["13_1"]["state"] == "COMPLETED" and states["13_1"]["exit_code"] == "0:0"
    assert states["13_2"]["state"] == "RUNNING"  # live squeue beats lagging accounting
    assert states["13_2"]["nodes"] == "n2"
    assert states["20"]["state"] == "PENDING" and states["20"]["reason"] == "Priority"
    assert states["19_1"]["state"] == "CANCELLED"
    assert job_states([], run=run) == {}


def test_cancel_calls_scancel():
    calls = []

    def run(argv, **kw):
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0, "", "")

    cancel(["12", "13_1"], run=run)
    cancel(["14"], signal="USR1", run=run)
    cancel([], run=run)
    assert calls == [["scancel", "12", "13_1"], ["scancel", "--signal=USR1", "--full", "14"]]


def test_cancel_error():
    def run(argv, **kw):
        return subprocess.CompletedProcess(argv, 1, "", "scancel: error: Invalid job id 9")

    with pytest.raises(SlurmError, match="Invalid job id"):
        cancel(["9"], run=run)


def test_sacct_rows_is_the_one_reader_of_sacct_output():
    from sweepops.remote.slurm import sacct_rows

    text = "7_1|CANCELLED by 1000|0:15\n\n7_2|COMPLETED\n"
    rows = sacct_rows(text, ("JobID", "State", "ExitCode"))
    assert rows == [
        {"JobID": "7_1", "State": "CANCELLED", "ExitCode": "0:15"},
        {"JobID": "7_2", "State": "COMPLETED", "ExitCode": ""},
    ]
