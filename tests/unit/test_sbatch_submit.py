"""sweepops.remote.sbatch_submit: one call submits each of a deploy's sweeps once.

The ``sbatch`` here is a small executable that logs its arguments and prints job ids (and
refuses a script holding ``REFUSE``); real Slurm runs the same module in
tests/integration/test_sbatch.py and test_cluster_deploy.py.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from sweepops.remote.module_spec import ModuleFailed
from sweepops.remote.sbatch_submit import submit

FAKE_SBATCH = """#!/bin/sh
echo "$@" >> {log}
script=""; for a in "$@"; do script="$a"; done
if grep -q REFUSE "$script"; then echo "sbatch: error: Batch job submission failed" >&2; exit 1; fi
case "$1" in
  --test-only) echo "sbatch: Job 1 to start at now" >&2 ;;
  *) n=$(( $(cat {counter} 2>/dev/null || echo 100) + 1 )); echo $n > {counter}; echo $n ;;
esac
"""


@pytest.fixture
def sbatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    log = tmp_path / "sbatch.log"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    path = bin_dir / "sbatch"
    path.write_text(FAKE_SBATCH.format(log=log, counter=tmp_path / "counter"))
    # the adoption of an earlier attempt's job asks squeue and sacct: here they know no job
    for name in ("squeue", "sacct"):
        (bin_dir / name).write_text("#!/bin/sh\nexit 0\n")
    for exe in bin_dir.iterdir():
        exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return str(path), log


def _params(tmp_path: Path, sbatch: str, sweeps: list[dict], **kw) -> dict:
    lab = tmp_path / "lab"
    return {
        "dest": str(lab / "deploys" / "d1"),
        "deploy_id": "d1",
        "logs_dir": str(lab / "deploys" / "d1" / "logs"),
        "sbatch": sbatch,
        "validate": True,
        "sweeps": sweeps,
        **kw,
    }


def _sweep(tmp_path: Path, sid: str, body: str = "echo hi") -> dict:
    return {
        "sweep_id": sid,
        "script_content": f"#!/bin/sh\n#SBATCH --comment=x\n{body}\n",
        "sweep_meta": {"id": sid, "method": "grid"},
        "sweeps_dir": str(tmp_path / "lab" / "sweeps"),
    }


def _calls(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def test_check_mode_writes_nothing_and_validates_once(tmp_path: Path, sbatch) -> None:
    exe, log = sbatch
    sweeps = [_sweep(tmp_path, f"s{i}") for i in range(3)]
    result = submit(_params(tmp_path, exe, sweeps), check_mode=True)
    assert result["changed"] and [r["sweep_id"] for r in result["results"]] == ["s0", "s1", "s2"]
    assert not (tmp_path / "lab").exists()
    assert [c.split()[0] for c in _calls(log)] == ["--test-only"]
    assert all("diff" in r for r in result["results"])


def test_every_sweep_submitted_once_and_a_repeat_changes_nothing(tmp_path: Path, sbatch) -> None:
    exe, log = sbatch
    sweeps = [_sweep(tmp_path, f"s{i}") for i in range(3)]
    first = submit(_params(tmp_path, exe, sweeps), check_mode=False)
    assert first["changed"]
    assert [r["job_id"] for r in first["results"]] == ["101", "102", "103"]
    dest = tmp_path / "lab" / "deploys" / "d1"
    for i in range(3):
        record = json.loads((dest / f"s{i}.submitted.json").read_text())
        assert str(record["job_id"]) == f"{101 + i}"
        assert (tmp_path / "lab" / "sweeps" / f"s{i}" / "sweep.json").is_file()
    assert (dest / "logs").is_dir()
    calls = _calls(log)
    assert sum(c.startswith("--test-only") for c in calls) == 1
    assert sum(c.startswith("--parsable") for c in calls) == 3
    again = submit(_params(tmp_path, exe, sweeps), check_mode=False)
    assert not again["changed"] and [r["job_id"] for r in again["results"]] == ["101", "102", "103"]
    assert _calls(log) == calls  # no sbatch at all


def test_a_refused_sweep_stops_the_call_and_a_retry_submits_only_the_rest(
    tmp_path: Path, sbatch
) -> None:
    exe, log = sbatch
    sweeps = [_sweep(tmp_path, "s0"), _sweep(tmp_path, "s1", "REFUSE"), _sweep(tmp_path, "s2")]
    with pytest.raises(ModuleFailed) as failed:
        submit(_params(tmp_path, exe, sweeps, validate=False), check_mode=False)
    assert failed.value.result["sweep_id"] == "s1"
    assert [r["job_id"] for r in failed.value.result["results"]] == ["101"]
    assert "Slurm" in failed.value.msg or "sbatch" in failed.value.msg
    sweeps[1] = _sweep(tmp_path, "s1")
    retry = submit(_params(tmp_path, exe, sweeps, validate=False), check_mode=False)
    assert [r["job_id"] for r in retry["results"]] == ["101", "102", "103"]
    assert [r["changed"] for r in retry["results"]] == [False, True, True]


def test_a_changed_script_of_a_submitted_sweep_is_not_submitted_again(tmp_path: Path, sbatch):
    exe, _ = sbatch
    submit(_params(tmp_path, exe, [_sweep(tmp_path, "s0")]), check_mode=False)
    again = submit(_params(tmp_path, exe, [_sweep(tmp_path, "s0", "echo other")]), False)
    assert again["results"][0]["job_id"] == "101"
    assert "already submitted as job 101" in again["warnings"][0]


def test_an_item_without_a_script_is_refused_before_anything(tmp_path: Path, sbatch) -> None:
    exe, log = sbatch
    with pytest.raises(ModuleFailed, match="sweep_id and script_content"):
        submit(_params(tmp_path, exe, [{"sweep_id": "s0"}]), check_mode=False)
    assert not _calls(log) and not (tmp_path / "lab").exists()


def test_one_sweep_without_the_list(tmp_path: Path, sbatch) -> None:
    exe, _ = sbatch
    params = _params(tmp_path, exe, [])
    params.pop("sweeps")
    params.update(sweep_id="s0", script_content="#!/bin/sh\necho\n", src=None)
    result = submit(params, check_mode=False)
    assert result["job_id"] == "101" and result["submitted"] and "validated" not in result
