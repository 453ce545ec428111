"""The functions of the modules that run on login hosts (sweepops/remote/), on Slurm's output
as Slurm prints it. Commands are scripts on a temporary PATH that print what the real ones
printed and log their arguments."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from sweepops.remote import (
    cluster_facts,
    cluster_probe,
    code_sync,
    deploy_status,
    handoff,
    imagedigest,
    log_lookup,
    manifest,
    snapshot_gc,
)
from sweepops.remote.module_spec import ModuleFailed


def defaults(spec, **given):
    """The module's parameters as AnsibleModule would give them: the spec's defaults."""
    params = {name: opt.get("default") for name, opt in spec.options.items()}
    params.update(given)
    return params


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory first on PATH for fake Slurm commands."""
    path = tmp_path / "bin"
    path.mkdir()
    monkeypatch.setenv("PATH", f"{path}{os.pathsep}{os.environ['PATH']}")
    return path


def fake(bin_dir: Path, name: str, stdout: str = "", *, rc: int = 0, stderr: str = "") -> Path:
    """A command ``name`` that prints ``stdout`` / ``stderr``, exits ``rc`` and appends its
    arguments (one call a line) to ``NAME.calls``."""
    (bin_dir / f"{name}.out").write_text(stdout)
    (bin_dir / f"{name}.err").write_text(stderr)
    script = bin_dir / name
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> "{bin_dir}/{name}.calls"\n'
        f'cat "{bin_dir}/{name}.out"\n'
        f'cat "{bin_dir}/{name}.err" >&2\n'
        f"exit {rc}\n"
    )
    script.chmod(0o755)
    return script


def calls(bin_dir: Path, name: str) -> list[str]:
    path = bin_dir / f"{name}.calls"
    return path.read_text().splitlines() if path.exists() else []


# --------------------------------------------------------------------------- cluster_probe

# `sinfo -h -o %P` on a cluster whose default partition is gpu
SINFO_P = "gpu*\ncpu\nlong\n"
# `sinfo -h -o '%P|%l|%c|%m|%G'`: one line per partition and node configuration
SINFO_LIMITS = (
    "gpu*|2-00:00:00|64|515000|gpu:a100:4(S:0-1)\n"
    "gpu*|2-00:00:00|32|257000|gpu:v100:2(S:0)\n"
    "cpu|1-00:00:00|128|1031000|(null)\n"
    "long|7-00:00:00|16|64000|(null)\n"
)
UNREACHABLE = "slurm_load_partitions: Unable to contact slurm controller (connect failure)\n"


def test_partitions_are_sinfos_lines_without_the_default_mark():
    assert cluster_probe.parse_partitions(SINFO_P) == ["gpu", "cpu", "long"]
    assert cluster_probe.parse_partitions("\n  \n") == []


def test_slurm_check_names_resources_above_the_partitions_limits(bin_dir: Path):
    fake(bin_dir, "sinfo", SINFO_P)
    p = defaults(cluster_probe.SPEC, lab_root="/lab")
    found = cluster_probe.check_slurm(p)
    assert found["slurm_rc"] == 0 and found["partitions"] == ["gpu", "cpu", "long"]
    assert found["controller_down"] is False and found["resource_problems"] == []
    assert found["sbatch_test_rc"] is None  # nothing asked
    # the limits: a second sinfo, with its own format
    (bin_dir / "sinfo.out").write_text(SINFO_LIMITS)
    p["resources"] = {"partition": "cpu", "time": "3-00:00:00", "gres": "gpu:1"}
    problems = cluster_probe.check_slurm(p)["resource_problems"]
    assert len(problems) == 2
    assert problems[0].startswith("time 3-00:00:00 is above the MaxTime of partition cpu")
    assert "gres gpu:1 asks for 1 gpu per job" in problems[1]
    assert calls(bin_dir, "sinfo")[-1] == "-h -o %P|%l|%c|%m|%G"


def test_slurm_check_says_what_sbatch_test_only_refused(bin_dir: Path):
    fake(bin_dir, "sinfo", SINFO_P)
    refused = (
        "sbatch: error: Batch job submission failed: Invalid generic resource (gres) specification"
    )
    fake(bin_dir, "sbatch", rc=1, stderr=refused + "\n")
    p = defaults(cluster_probe.SPEC, lab_root="/lab", sbatch_test=["--gres=gpu:h100:1"])
    found = cluster_probe.check_slurm(p)
    assert found["sbatch_test_rc"] == 1 and found["sbatch_test_error"] == refused
    assert found["controller_down"] is False
    assert calls(bin_dir, "sbatch") == ["--test-only --gres=gpu:h100:1 --wrap true"]
    (bin_dir / "sbatch.err").write_text(
        "sbatch: Job 1234 to start at 2026-12-02T14:00:00 using 4 processors on nodes n01 "
        "in partition gpu\n"
    )
    fake(bin_dir, "sbatch", rc=0, stderr=(bin_dir / "sbatch.err").read_text())
    found = cluster_probe.check_slurm(p)
    assert found["sbatch_test_rc"] == 0 and found["sbatch_test_error"] == ""


def test_a_controller_that_does_not_answer_is_not_a_missing_slurm(bin_dir: Path):
    fake(bin_dir, "sinfo", rc=1, stderr=UNREACHABLE)
    fake(bin_dir, "sbatch")
    p = defaults(
        cluster_probe.SPEC, lab_root="/lab", sbatch_test=["-p", "gpu"], resources={"mem": "1G"}
    )
    found = cluster_probe.check_slurm(p)
    assert found["slurm_rc"] == 1 and found["controller_down"] is True
    assert found["slurm_error"] == UNREACHABLE.strip() and found["partitions"] == []
    assert found["resource_problems"] == [] and found["sbatch_test_rc"] is None
    assert calls(bin_dir, "sbatch") == []  # not asked when sinfo failed
    # refused, not unreachable
    fake(bin_dir, "sinfo", rc=1, stderr="sinfo: error: Invalid user for SlurmUser slurm\n")
    assert cluster_probe.check_slurm(p)["controller_down"] is False


def test_commands_that_cannot_run_have_the_shells_exit_statuses(tmp_path: Path):
    assert cluster_probe.run([str(tmp_path / "nosuch")])[0] == 127
    (tmp_path / "noexec").write_text("")
    assert cluster_probe.run([str(tmp_path / "noexec")])[0] == 126
    found = cluster_probe.check_slurm(
        defaults(cluster_probe.SPEC, lab_root="/", sinfo=str(tmp_path / "nosuch"))
    )
    assert found["slurm_rc"] == 127 and "not found" in found["slurm_error"]
    assert found["controller_down"] is False


def test_probe_looks_at_the_lab_the_env_and_the_trees(bin_dir: Path, tmp_path: Path):
    fake(bin_dir, "sinfo", SINFO_P)
    lab = tmp_path / "lab"
    (lab / "code" / "0123abcd0123abcd").mkdir(parents=True)
    (lab / "code" / "LATEST").write_text("0123abcd0123abcd\n")
    old = lab / "code" / ".incoming-feedbeef00-d0-atlas"
    old.mkdir()
    os.utime(old, (time.time() - 3 * 86400,) * 2)
    env = tmp_path / "envs" / "demo"
    (env / "bin").mkdir(parents=True)
    (env / "bin" / "python").write_text("")
    p = defaults(
        cluster_probe.SPEC,
        lab_root=str(lab),
        env_path=str(env),
        trees=[{"kind": "code", "key": "0123abcd0123abcd"}],
        incoming_tag="d1-atlas",
    )
    found = cluster_probe.probe_cluster(p, check_mode=True)
    assert found["lab_ok"] and found["partitions"] == ["gpu", "cpu", "long"]
    assert found["env"]["path"] == str(env) and found["env"]["exists"] is True
    assert "entries" not in found["env"] and found["env"]["digest"]
    assert found["trees"]["code"]["present"] and found["trees"]["code"]["latest"] == (
        "0123abcd0123abcd"
    )
    assert found["removed"] == [str(old)] and found["changed"] and old.exists()  # check mode
    assert cluster_probe.probe_cluster(p, check_mode=False)["removed"] == [str(old)]
    assert not old.exists()
    # a lab root that is not there: no trees looked at, lab_ok false
    p.update(lab_root=str(tmp_path / "nolab"), env_path="")
    found = cluster_probe.probe_cluster(p, check_mode=False)
    assert found["lab_ok"] is False and found["trees"] == {}


def test_probe_refuses_a_relative_env_path_and_a_bad_tree(bin_dir: Path, tmp_path: Path):
    fake(bin_dir, "sinfo", SINFO_P)
    p = defaults(cluster_probe.SPEC, lab_root=str(tmp_path), env_path="envs/demo")
    with pytest.raises(ModuleFailed, match="is not an absolute path") as failed:
        cluster_probe.probe_cluster(p, check_mode=True)
    assert failed.value.result["partitions"] == ["gpu", "cpu", "long"]  # what it found
    p.update(env_path="", trees=[{"kind": "code", "key": "not-hex"}])
    with pytest.raises(ModuleFailed, match="bad tree"):
        cluster_probe.probe_cluster(p, check_mode=True)


def test_probe_runs_its_parts_at_once_and_answers_as_one_after_another(
    bin_dir: Path, tmp_path: Path
):
    """Slurm, the jobs' interpreter and the env walk run in threads: the answers are those
    of the parts run one by one (and sbatch is still not asked when sinfo failed)."""
    fake(bin_dir, "sinfo", SINFO_P)
    fake(bin_dir, "sbatch", rc=0)
    env = tmp_path / "envs" / "demo"
    (env / "bin").mkdir(parents=True)
    (env / "bin" / "python").write_text("")
    p = defaults(
        cluster_probe.SPEC,
        lab_root=str(tmp_path),
        env_path=str(env),
        sbatch_test=["-p", "gpu"],
        job={"python": "python3", "check_wandb": False},
        runtime_base="ab" * 8,
    )
    found = cluster_probe.probe_cluster(p, check_mode=True)
    assert found["partitions"] == ["gpu", "cpu", "long"] and found["sbatch_test_rc"] == 0
    assert found["env"]["exists"] is True and found["interpreter"]["target"]
    assert found["runtime_key"] and found["problems"] == []
    assert found["trees"]["agent"]["present"] is False  # looked for after the interpreter
    assert cluster_probe.refusal(p, found) is None


def test_refusal_names_the_host_and_the_first_thing_wrong(bin_dir: Path, tmp_path: Path):
    fake(bin_dir, "sinfo", SINFO_P)
    fake(bin_dir, "sbatch", rc=1, stderr="sbatch: error: Invalid partition name specified\n")
    p = defaults(
        cluster_probe.SPEC,
        refuse=True,
        host="atlas-login",
        lab_root=str(tmp_path),
        partition="gpu",
        sbatch_test=["-p", "gpu"],
    )
    with pytest.raises(ModuleFailed, match="atlas-login: Slurm refuses a job with -p gpu") as no:
        cluster_probe.checked_probe(p, check_mode=True)
    assert no.value.result["partitions"] == ["gpu", "cpu", "long"]  # what it found
    p["partition"] = "nope"
    with pytest.raises(ModuleFailed, match="unknown partition 'nope'; this cluster has gpu, cpu"):
        cluster_probe.checked_probe(p, check_mode=True)
    p.update(lab_root=str(tmp_path / "nolab"))
    with pytest.raises(ModuleFailed, match="does not exist or is not a directory writable"):
        cluster_probe.checked_probe(p, check_mode=True)
    p.update(lab_root="")
    with pytest.raises(ModuleFailed, match="atlas-login: no lab_root set"):
        cluster_probe.checked_probe(p, check_mode=True)
    fake(bin_dir, "sinfo", rc=1, stderr=UNREACHABLE)
    p.update(lab_root=str(tmp_path), partition="")
    with pytest.raises(ModuleFailed, match="the Slurm controller .slurmctld. does not answer"):
        cluster_probe.checked_probe(p, check_mode=True)
    # without refuse: the answers only
    p["refuse"] = False
    assert cluster_probe.checked_probe(p, check_mode=True)["slurm_rc"] == 1


# --------------------------------------------------------------------------- facts

# `sinfo -h -o '%P %G'`: a partition appears once per distinct GRES of its nodes
SINFO_GRES = "gpu* gpu:a100:4(S:0-1)\ngpu* gpu:v100:2(S:0),mps:100\ncpu (null)\ndebug (null)\n"


def test_facts_parse_partitions_and_their_gres():
    parts = cluster_facts.parse_sinfo(SINFO_GRES)
    assert parts == [
        {
            "name": "gpu",
            "default": True,
            "gres": ["gpu:a100:4(S:0-1)", "gpu:v100:2(S:0)", "mps:100"],
        },
        {"name": "cpu", "default": False, "gres": []},
        {"name": "debug", "default": False, "gres": []},
    ]
    assert cluster_facts.has_gpus(parts) is True
    assert cluster_facts.has_gpus(cluster_facts.parse_sinfo("cpu* (null)\nbig mps:100\n")) is False


def test_facts_find_the_runtime_and_fail_without_slurm(bin_dir: Path, monkeypatch):
    fake(bin_dir, "sinfo", SINFO_GRES)
    fake(bin_dir, "singularity", "singularity-ce version 3.11.4\n")
    found = cluster_facts.facts({"runtimes": ["apptainer", "singularity"]}, check_mode=True)
    assert found["gpus"] and found["changed"] is False
    assert found["container_runtime"] == {
        "name": "singularity",
        "path": str(bin_dir / "singularity"),
        "version": "singularity-ce version 3.11.4",
    }
    assert calls(bin_dir, "sinfo") == ["-h -o %P %G"]
    fake(bin_dir, "sinfo", rc=1, stderr=UNREACHABLE)
    with pytest.raises(ModuleFailed, match=r"sinfo failed \(1\): slurm_load_partitions"):
        cluster_facts.facts({"runtimes": []}, check_mode=True)
    monkeypatch.setenv("PATH", str(bin_dir / "empty"))
    with pytest.raises(ModuleFailed, match="sinfo is not on PATH"):
        cluster_facts.facts({"runtimes": []}, check_mode=True)


# --------------------------------------------------------------------------- gc


def test_live_scripts_are_the_paths_squeue_prints():
    # `squeue -h -o %o`: a batch job's script path; a --wrap job's command
    out = (
        "/srv/lab/deploys/d1/abc123.sbatch\n"
        "/home/bob/jobs/train.sh\n"
        "/srv/lab/deploys/d1/abc123.sbatch\n"
        "sleep 600\n"
        "\n"
    )
    assert snapshot_gc.parse_scripts(out) == [
        "/home/bob/jobs/train.sh",
        "/srv/lab/deploys/d1/abc123.sbatch",
    ]


def _snapshots(lab: Path, *keys: str) -> list[Path]:
    paths = []
    for age, key in enumerate(keys):
        path = lab / "code" / key
        path.mkdir(parents=True)
        os.utime(path, (time.time() - 1000 * (len(keys) - age),) * 2)
        paths.append(path)
    return paths


def test_gc_keeps_latest_the_newest_and_what_live_jobs_run(bin_dir: Path, tmp_path: Path):
    lab = tmp_path / "lab"
    old, used, latest, new = _snapshots(lab, "a1" * 8, "b2" * 8, "c3" * 8, "d4" * 8)
    (lab / "code" / "LATEST").write_text(latest.name + "\n")
    script = lab / "deploys" / "d1" / "s1.sbatch"
    script.parent.mkdir(parents=True)
    script.write_text(f"#!/bin/bash\ncd {used}\nexec python -m sweepops.runtime.agent\n")
    fake(bin_dir, "squeue", f"{script}\nsleep 60\n/home/bob/gone.sh\n")
    p = defaults(snapshot_gc.SPEC, lab_root=f"{lab}/", keep=1)
    found = snapshot_gc.gc(p, check_mode=True)
    assert found["removed"] == [str(old)] and found["changed"] and old.exists()
    assert found["kept"] == {
        str(used): "a live job runs it",
        str(latest): "LATEST",
        str(new): "one of the 1 newest",
    }
    assert found["live_scripts"] == ["/home/bob/gone.sh", str(script)]
    assert calls(bin_dir, "squeue") == ["-h -o %o"]
    assert snapshot_gc.gc(p, check_mode=False)["removed"] == [str(old)]
    assert not old.exists() and used.exists()


def test_gc_removes_nothing_when_it_cannot_tell_what_is_live(bin_dir: Path, tmp_path: Path):
    lab = tmp_path / "lab"
    _snapshots(lab, "a1" * 8, "b2" * 8)
    fake(bin_dir, "squeue", rc=1, stderr=UNREACHABLE)
    p = defaults(snapshot_gc.SPEC, lab_root=str(lab), keep=0)
    with pytest.raises(ModuleFailed, match="cannot tell which jobs are live.*squeue failed"):
        snapshot_gc.gc(p, check_mode=False)
    # a live job's script under the lab root that cannot be read may name a snapshot
    fake(bin_dir, "squeue", f"{lab}/deploys/d9/s.sbatch\n")
    with pytest.raises(ModuleFailed, match="the script of a live job, so nothing was removed"):
        snapshot_gc.gc(p, check_mode=False)
    assert len(list((lab / "code").iterdir())) == 2
    with pytest.raises(ModuleFailed, match="keep must be 0 or more"):
        snapshot_gc.gc({**p, "keep": -1}, check_mode=False)


# --------------------------------------------------------------------------- cluster status


def _sweep(lab: Path, sid: str, records: list[dict]) -> Path:
    sweep = lab / "sweeps" / sid
    (sweep / "runs").mkdir(parents=True)
    for rec in records:
        (sweep / "runs" / f"{rec['id']}.json").write_text(json.dumps(rec))
    return sweep


# `squeue -h -t all -j ... -o '%i|%T|%r|%N'` and `sacct -X -n -P -o JobID,State,...`
SQUEUE = "101_[2-3]|PENDING|Priority|\n101_1|RUNNING|None|node01\n"
SACCT = (
    "101_1|RUNNING|0:0|00:05:12||node01\n"
    "101_0|FAILED|1:0|00:00:03||node02\n"
    "102_0|COMPLETED|0:0|01:00:00||node01\n"
)


def test_progress_counts_runs_and_lists_the_newest_failures(tmp_path: Path):
    log = tmp_path / "r2.log"
    log.write_text("epoch 1\nTraceback (most recent call last):\nValueError: bad lr\n")
    sweep = _sweep(
        tmp_path,
        "sw1",
        [
            {"id": "r1", "state": "finished", "ended": 5},
            {"id": "r2", "state": "failed", "exit_code": 1, "ended": 20, "log": str(log)},
            {"id": "r3", "state": "crashed", "ended": 10, "error": "agent lost"},
        ],
    )
    counts, found = deploy_status.sweep_progress(str(sweep))
    assert counts["cancelled"] is False and counts["finished"] == 1
    assert [r["id"] for r in counts["failed_runs"]] == ["r3", "r2"]  # oldest first
    assert counts["failed_runs"][1]["why"] == "failed (exit 1); ValueError: bad lr"
    assert counts["failed_runs"][0]["why"] == "crashed; agent lost"
    assert "states" not in found and found["unreadable"] == {}
    missing, _ = deploy_status.sweep_progress(str(tmp_path / "sweeps" / "nosuch"))
    assert missing == {"cancelled": False, "missing": True}


def test_jobs_are_explained_with_their_logs(tmp_path: Path):
    logs = tmp_path / "deploys" / "d1" / "logs"
    logs.mkdir(parents=True)
    (logs / "base-101_0.out").write_text("slurmstepd: error: Detected 1 oom_kill event\n")
    jobs = {
        "101_0": {"state": "FAILED", "exit_code": "1:0"},
        "101_1": {"state": "RUNNING"},
        "101_[2-3]": {"state": "PENDING", "reason": "Priority"},
    }
    out = deploy_status.explain_jobs(jobs, str(tmp_path), "d1")
    assert out["101_0"]["log"] == str(logs / "base-101_0.out")
    assert out["101_0"]["why"].startswith("FAILED")
    assert "why" not in out["101_1"]
    assert out["101_[2-3]"]["why"] == "PENDING (Priority)"


def test_cancel_marks_the_sweeps_and_scancels_only_while_jobs_live(bin_dir: Path, tmp_path: Path):
    sweep = _sweep(tmp_path, "sw1", [{"id": "r1", "state": "running"}])
    fake(bin_dir, "squeue", SQUEUE)
    fake(bin_dir, "sacct", SACCT)
    fake(bin_dir, "scancel")
    p = defaults(
        deploy_status.SPEC,
        action="cancel",
        lab_root=str(tmp_path),
        sweep_ids=["sw1"],
        job_ids=["101"],
    )
    found = deploy_status.status_or_cancel(p, check_mode=True)
    assert found["changed"] and not (sweep / "cancelled").exists()
    assert calls(bin_dir, "scancel") == []
    assert found["jobs"]["101_1"]["state"] == "RUNNING" and found["controller_down"] is None
    assert found["jobs"]["101_0"]["exit_code"] == "1:0"
    found = deploy_status.status_or_cancel(p, check_mode=False)
    assert (sweep / "cancelled").exists() and calls(bin_dir, "scancel") == ["101"]
    assert found["sweeps"]["sw1"]["cancelled"] is True
    # all ended: over, not cancelled
    other = _sweep(tmp_path, "sw2", [])
    fake(bin_dir, "squeue", "")
    fake(bin_dir, "sacct", "102_0|COMPLETED|0:0|01:00:00||node01\n")
    p.update(sweep_ids=["sw2"], job_ids=["102"])
    assert deploy_status.status_or_cancel(p, check_mode=False)["changed"] is False
    assert not (other / "cancelled").exists() and calls(bin_dir, "scancel") == ["101"]


def test_status_with_the_controller_down_marks_rows_stale(bin_dir: Path, tmp_path: Path):
    _sweep(tmp_path, "sw1", [])
    fake(bin_dir, "squeue", rc=1, stderr=UNREACHABLE)
    fake(bin_dir, "sacct", SACCT)
    p = defaults(deploy_status.SPEC, lab_root=str(tmp_path), sweep_ids=["sw1"], job_ids=["101"])
    found = deploy_status.status_or_cancel(p, check_mode=True)
    assert found["controller_down"] == UNREACHABLE.strip()
    assert found["jobs"]["101_1"]["stale"] == "1" and "stale" not in found["jobs"]["102_0"]
    assert found["changed"] is False


# --------------------------------------------------------------------------- handoff


def test_includes_select_exactly_the_listed_runs():
    sweeps = {
        "sw1": {"runs": [{"run_id": "a", "dir": "wandb/offline-run-1-a"}]},
        "sw2": {"runs": []},
    }
    assert handoff.rsync_includes(sweeps) == [
        "/sw1/",
        "/sw1/wandb/",
        "/sw1/wandb/offline-run-1-a/",
        "/sw1/wandb/offline-run-1-a/**",
    ]


def test_marking_checks_the_sweep_and_writes_nothing_in_check_mode(tmp_path: Path):
    run_dir = tmp_path / "sweeps" / "sw1" / "wandb" / "offline-run-20260101_120000-abc"
    run_dir.mkdir(parents=True)
    p = defaults(handoff.SPEC, lab_root=str(tmp_path), sweep_ids=["sw1"])
    item = {"sweep_id": "sw1", "run_id": "abc", "dir": "wandb/offline-run-20260101_120000-abc"}
    assert handoff.handoff({**p, "mark": [item]}, check_mode=True) == {
        "changed": False,
        "marked": [],
    }
    assert handoff.handoff({**p, "mark": [item]}, check_mode=False)["marked"] == ["abc"]
    assert (run_dir / "run-abc.wandb.synced").exists()
    assert handoff.handoff({**p, "mark": [item]}, check_mode=False)["changed"] is False
    with pytest.raises(ModuleFailed, match="sweep not among sweep_ids"):
        handoff.handoff({**p, "mark": [{**item, "sweep_id": "other"}]}, check_mode=False)


# --------------------------------------------------------------------------- log


def test_log_lists_and_reads_a_runs_log(tmp_path: Path):
    sweep = _sweep(tmp_path, "sw1", [{"id": "r1", "state": "running"}])
    (sweep / "logs").mkdir()
    (sweep / "logs" / "r1.log").write_text("step 1\nstep 2\n")
    p = defaults(log_lookup.SPEC, lab_root=str(tmp_path), deploy_id="d1", sweep_ids=["sw1"])
    listed = log_lookup.log(p, check_mode=True)
    assert [(x["kind"], x["id"]) for x in listed["logs"]] == [("run", "r1")]
    assert listed["found"] is None and listed["live"] is False
    read = log_lookup.log({**p, "target": "r1", "offset": 7}, check_mode=True)
    assert read["text"] == "step 2\n" and read["offset"] == 14 and read["live"] is True
    assert log_lookup.log({**p, "target": "r9"}, check_mode=True)["found"] is None


# --------------------------------------------------------------------------- code_sync


def test_code_sync_puts_trees_in_place_once(tmp_path: Path):
    key = "0123abcd" * 2
    incoming = Path(code_sync.incoming_dir(str(tmp_path), "code", key, "d1-atlas"))
    incoming.mkdir(parents=True)
    (incoming / "train.py").write_text("")
    p = defaults(
        code_sync.SPEC,
        lab_root=str(tmp_path),
        state="present",
        trees=[{"kind": "code", "key": key}],
        incoming_tag="d1-atlas",
    )
    final = str(tmp_path / "code" / key)
    assert code_sync.code_sync(p, check_mode=True) == {"changed": True, "placed": [final]}
    assert incoming.exists()
    assert code_sync.code_sync(p, check_mode=False) == {"changed": True, "placed": [final]}
    assert (tmp_path / "code" / "LATEST").read_text().strip() == key
    assert code_sync.code_sync(p, check_mode=False)["changed"] is False
    with pytest.raises(ModuleFailed, match="bad tree"):
        code_sync.code_sync({**p, "trees": [{"kind": "data", "key": key}]}, check_mode=True)
    with pytest.raises(ModuleFailed):
        code_sync.code_sync({**p, "state": "probe", "incoming_max_age": "soon"}, check_mode=True)


# --------------------------------------------------------------------------- image, env


def test_image_digest_module_fails_on_a_missing_image_unless_asked(tmp_path: Path):
    p = defaults(imagedigest.SPEC, path=str(tmp_path / "env.sif"))
    with pytest.raises(ModuleFailed, match="container_image.*sweepops provision") as failed:
        imagedigest.image_digest_module(p, check_mode=True)
    assert failed.value.result["exists"] is False
    assert (
        imagedigest.image_digest_module({**p, "missing_ok": True}, check_mode=True)["exists"]
        is False
    )
    (tmp_path / "env.sif").write_bytes(b"image")
    found = imagedigest.image_digest_module(p, check_mode=True)
    assert found["sha256"] == imagedigest.file_sha256(str(tmp_path / "env.sif"))
    assert not (tmp_path / "env.sif.sha256.json").exists()  # check mode writes no cache


def test_env_manifest_module_wants_an_absolute_prefix(tmp_path: Path):
    with pytest.raises(ModuleFailed, match="is not an absolute path"):
        manifest.env_manifest(defaults(manifest.SPEC, prefix="envs/demo"), check_mode=True)
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python").write_text("")
    found = manifest.env_manifest(defaults(manifest.SPEC, prefix=str(tmp_path)), check_mode=True)
    assert found["exists"] and found["prefix"] == str(tmp_path) and found["content"] is False
    assert found["digest"] == manifest.digest(found["entries"]) and found["changed"] is False
