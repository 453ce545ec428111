"""The ledger: torn and bad lines are skipped with a warning, appends are whole lines, and a
deploy id is looked up and created in one step."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from sweepops.records import ledger


def test_a_torn_last_line_is_skipped_with_file_and_line(tmp_path, capsys):
    ledger.append(tmp_path, {"deploy_id": "d1", "sweeps": []})
    ledger.append(tmp_path, {"deploy_id": "d2", "sweeps": []})
    path = ledger.ledger_path(tmp_path)
    with open(path, "a") as fh:
        fh.write('{"deploy_id": "d3", "swe')  # a write cut short
    got = [r["deploy_id"] for r in ledger.records(tmp_path)]
    assert got == ["d1", "d2"]
    err = capsys.readouterr().err
    assert f"{path} line 3 is torn" in err and "skipped" in err
    # The next append starts on a line of its own: it is read, the torn line still skipped.
    ledger.append(tmp_path, {"deploy_id": "d4", "sweeps": []})
    assert [r["deploy_id"] for r in ledger.records(tmp_path)] == ["d1", "d2", "d4"]
    assert ledger.find_deploy(tmp_path, "d4") is not None


def test_a_bad_line_in_the_middle_does_not_block_the_others(tmp_path, capsys):
    path = ledger.ledger_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text('{"deploy_id": "a"}\nnot json at all\n[1, 2]\n{"deploy_id": "b"}\n')
    assert [r["deploy_id"] for r in ledger.records(tmp_path)] == ["a", "b"]
    err = capsys.readouterr().err
    assert f"{path} line 2 is not JSON" in err
    assert f"{path} line 3 is not a JSON object" in err


def _append_many(root: str, tag: str, n: int) -> None:
    big = "x" * 20000  # larger than a pipe buffer / stdio buffer: must still be one write
    for i in range(n):
        ledger.append(Path(root), {"deploy_id": f"{tag}-{i}", "pad": big})


def test_concurrent_appends_never_interleave(tmp_path):
    procs = [
        multiprocessing.Process(target=_append_many, args=(str(tmp_path), f"p{k}", 40))
        for k in range(4)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    lines = ledger.ledger_path(tmp_path).read_text().splitlines()
    assert len(lines) == 160
    ids = [json.loads(line)["deploy_id"] for line in lines]  # every line parses
    assert len(set(ids)) == 160


def _create(root: str, out: str) -> None:
    from sweepops.ops.create_sweeps import create_sweeps

    deploy, changed = create_sweeps(
        "base", root=Path(root), deploy_id="same-id", clusters=("elsewhere",)
    )
    Path(out).write_text(json.dumps({"changed": changed, "sweeps": deploy["sweeps"]}))


def test_one_deploy_id_from_two_shells_at_once_is_one_deploy(mini_repo, tmp_path):
    outs = [tmp_path / f"out{k}.json" for k in range(2)]
    procs = [multiprocessing.Process(target=_create, args=(str(mini_repo), str(o))) for o in outs]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    results = [json.loads(o.read_text()) for o in outs]
    assert sorted(r["changed"] for r in results) == [False, True]  # one made it, one found it
    assert results[0]["sweeps"] == results[1]["sweeps"]  # the same sweeps, the same ids
    records = [r for r in ledger.records(mini_repo) if r.get("deploy_id") == "same-id"]
    assert len(records) == 1


def test_the_same_commit_and_experiment_again_is_refused_without_allow_duplicate(mini_repo):
    from sweepops.core.errors import SweepopsError
    from sweepops.ops.create_sweeps import create_sweeps

    first, _ = create_sweeps("base", root=mini_repo, deploy_id="d1", clusters=("elsewhere",))
    with pytest.raises(SweepopsError) as err:
        create_sweeps("base", root=mini_repo, deploy_id="d2", clusters=("elsewhere",))
    text = str(err.value)
    assert "deploy d1" in text and "allow_duplicate=true" in text and "nothing was created" in text
    assert [r["deploy_id"] for r in ledger.records(mini_repo)] == ["d1"]
    # the same id again is the retry of d1, not a duplicate
    again, changed = create_sweeps("base", root=mini_repo, deploy_id="d1", clusters=("elsewhere",))
    assert not changed and again["sweeps"] == first["sweeps"]
    # on purpose: a second deploy
    second, changed = create_sweeps(
        "base", root=mini_repo, deploy_id="d2", clusters=("elsewhere",), allow_duplicate=True
    )
    assert changed and second["sweeps"][0]["id"] != first["sweeps"][0]["id"]
    # another cluster is not a duplicate
    create_sweeps("base", root=mini_repo, deploy_id="d3", clusters=("other",))
    assert [r["deploy_id"] for r in ledger.records(mini_repo)] == ["d1", "d2", "d3"]


def test_by_hand_command_is_the_jobs_own_script_as_the_deploys_user():
    info = {"login": "10.0.0.2", "user": "alice", "lab_root": "/lab", "port": "2222"}
    line = ledger.by_hand("atlas-login", "abc", {"deploy_id": "d1", **info})
    assert line == "ssh -p 2222 alice@10.0.0.2 'bash /lab/deploys/d1/abc.sbatch'"
    line = ledger.by_hand("atlas-login", "abc", {"deploy_id": "d1", "lab_root": "/lab"})
    assert line == "ssh atlas-login 'bash /lab/deploys/d1/abc.sbatch'"


def test_a_submission_entry_is_built_the_same_for_deploy_and_reproduce() -> None:
    from sweepops.core.records import ClusterSubmission, submission_info

    where = {
        "login": "10.0.0.2",
        "user": "r",
        "port": 22,
        "lab_root": "/lab",
        "snapshot_dir": "/lab/code/k",
        "agent_dir": "/lab/agent/a",
        "env_prefix": "/e",
        "container_image": "",
        "shard": "1/2",
        "inventory_sources": ["inventory"],
    }
    info = submission_info(where, {"env_digest": "d"}, {"s1": "7"})
    assert list(info) == [
        "login", "user", "port", "lab_root", "snapshot_dir", "agent_dir", "env_prefix",
        "env_path", "env_content_hash", "env_digest", "container_image", "container_digest",
        "jobs", "shard", "inventory_sources",
    ]  # fmt: skip
    assert info["env_content_hash"] is False and info["container_digest"] == ""
    got = ClusterSubmission.of("h", info)
    assert got.jobs == {"s1": "7"} and got.shard == "1/2" and got.env_digest == "d"
    repro = submission_info(where, {"rebuilt": True}, {})
    assert repro["rebuilt"] is True and "rebuilt" not in info
    with pytest.raises(ValueError, match="unknown submission field.*snapshot"):
        submission_info({**where, "snapshot": "x"}, {}, {})
