"""The experiment journal: entries, notes and outcomes; idempotent, markers stable."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from sweepops.core.errors import SweepopsError
from sweepops.records import journal, ledger
from sweepops.records.journal import (
    add_note_text,
    deploy_ids,
    put_deploy_text,
    put_outcome_text,
    render_deploy,
    render_note,
    render_outcome,
)


def deploy(dep_id: str, root: Path, **extra: Any) -> dict[str, Any]:
    return {
        "deploy_id": dep_id,
        "time": 1.8e9,
        "experiment": "base",
        "experiment_path": str(root / "experiments" / "base.yml"),
        "experiment_sha256": "ab" * 32,
        "commit": "c0ffee" * 6 + "abcd",
        "dirty_files": [],
        "clusters": ["local"],
        "sweeps": [{"id": "sw1", "name": "base", "tags": ["clean"], "runs": 6, "agents": 2}],
        **extra,
    }


def rows(best_loss: float) -> list[dict[str, Any]]:
    return [
        {
            "run_id": "r1",
            "sweep": "base",
            "subtest": "clean",
            "state": "finished",
            "best": True,
            "metric": best_loss,
            "params": {"lr": 0.1, "epochs": 8},
        },
        {
            "run_id": "r2",
            "sweep": "base",
            "subtest": "clean",
            "state": "failed",
            "best": False,
            "metric": None,
            "params": {"lr": 0.5, "epochs": 8},
        },
    ]


METRIC = {"name": "val_loss", "goal": "minimize"}


def test_deploy_entry_has_the_facts(tmp_path):
    diff = journal.deploy_diff_path(tmp_path, "d1")
    diff.parent.mkdir(parents=True)
    diff.write_text("diff --git ...")
    block = render_deploy(
        deploy("d1", tmp_path, dirty_files=["train.py"]),
        root=tmp_path,
        clusters={"atlas-login": {"jobs": {"sw1": "35"}, "lab_root": "/srv/lab"}},
    )
    assert block.startswith("<!-- sweepops:deploy d1 -->\n## ")
    assert block.rstrip().endswith("<!-- /sweepops:deploy d1 -->")
    for fact in (
        "c0ffee",
        "`train.py`",
        ".sweepops/deploys/d1/dirty.diff",
        "experiments/base.yml",
        "ab" * 32,
        "`sw1`",
        "tags: clean",
        "atlas-login job 35",
        "/srv/lab",
        "local",
    ):
        assert fact in block, fact


def test_put_deploy_is_idempotent_and_refreshes_facts(tmp_path):
    text = journal.header_text("base")
    once = put_deploy_text(text, render_deploy(deploy("d1", tmp_path), root=tmp_path), "d1")
    assert put_deploy_text(once, render_deploy(deploy("d1", tmp_path), root=tmp_path), "d1") == once
    with_note = add_note_text(once, render_note("d1", "my conclusion", when=1.8e9 + 60), "d1")
    jobs = {"atlas-login": {"jobs": {"sw1": "35"}}}
    refreshed = put_deploy_text(
        with_note, render_deploy(deploy("d1", tmp_path), root=tmp_path, clusters=jobs), "d1"
    )
    assert "atlas-login job 35" in refreshed and "my conclusion" in refreshed
    assert deploy_ids(refreshed) == ["d1"]


def test_note_goes_under_its_deploy_and_human_text_stays(tmp_path):
    text = journal.header_text("base")
    for d in ("d1", "d2"):
        text = put_deploy_text(text, render_deploy(deploy(d, tmp_path), root=tmp_path), d)
    text = text.replace(
        "<!-- /sweepops:deploy d1 -->\n", "<!-- /sweepops:deploy d1 -->\n\nhand-written remark\n"
    )
    text = add_note_text(text, render_note("d1", "lr 0.1 wins", when=1.8e9), "d1")
    assert (
        text.index("hand-written remark")
        < text.index("lr 0.1 wins")
        < text.index("<!-- sweepops:deploy d2 -->")
    )
    assert re.search(
        r"<!-- sweepops:note d1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} -->\n\*\*Note, ", text
    )
    assert deploy_ids(text) == ["d1", "d2"]


def test_outcome_is_replaced_not_duplicated(tmp_path):
    text = put_deploy_text(
        journal.header_text("base"), render_deploy(deploy("d1", tmp_path), root=tmp_path), "d1"
    )
    first = put_outcome_text(
        text, render_outcome("d1", rows(0.2), METRIC, report="r/index.html"), "d1"
    )
    assert (
        put_outcome_text(
            first, render_outcome("d1", rows(0.2), METRIC, report="r/index.html"), "d1"
        )
        == first
    )
    noted = add_note_text(first, render_note("d1", "try warm-up", when=1.8e9), "d1")
    second = put_outcome_text(noted, render_outcome("d1", rows(0.1), METRIC), "d1")
    assert second.count("<!-- sweepops:outcome d1 -->") == 1
    assert second.count("<!-- /sweepops:outcome d1 -->") == 1
    assert "**0.1**" in second and "**0.2**" not in second
    assert second.index("### Outcome") < second.index("try warm-up")  # stays where it was


def test_outcome_lists_best_runs_with_params():
    block = render_outcome("d1", rows(0.2), METRIC, report="../r/index.html")
    assert "2 runs: 1 failed, 1 finished." in block
    assert "**clean**: `val_loss` = **0.2**, run `r1` of `base` (lr=0.1, epochs=8)" in block
    assert "[../r/index.html](../r/index.html)" in block


def test_broken_end_marker_is_a_clear_error(tmp_path):
    text = put_deploy_text("", render_deploy(deploy("d1", tmp_path), root=tmp_path), "d1")
    broken = text.replace("<!-- /sweepops:deploy d1 -->", "")
    with pytest.raises(SweepopsError, match="no end marker") as exc:
        put_deploy_text(broken, render_deploy(deploy("d1", tmp_path), root=tmp_path), "d1")
    assert "restore the line" in str(exc.value)
    with pytest.raises(SweepopsError, match="empty note"):
        render_note("d1", "  ")


def test_file_functions_and_note_command(tmp_path, capsys):
    from sweepops.cli.commands import main

    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "base.yml").write_text("program: x.py\n")
    d1 = deploy("d1", tmp_path)
    path = journal.append_deploy(tmp_path, d1)
    assert path == tmp_path / "journal" / "base.md"
    assert (
        journal.append_deploy(tmp_path, d1) == path
        and path.read_text().count("<!-- sweepops:deploy d1 -->") == 1
    )
    ledger.append(tmp_path, d1)
    ledger.append(
        tmp_path, deploy("d2", tmp_path)
    )  # latest: the note goes under d2, made on demand
    assert main(["--root", str(tmp_path), "note", "base", "noise", "hurts"]) == 0
    text = path.read_text()
    assert deploy_ids(text) == ["d1", "d2"] and text.index("noise hurts") > text.index(
        "sweepops:deploy d2"
    )
    assert main(["--root", str(tmp_path), "note", "base", "--deploy", "d1", "first"]) == 0
    text = path.read_text()
    assert text.index("first") < text.index("sweepops:deploy d2")
    journal.record_outcome(tmp_path, d1, rows(0.3), METRIC)
    journal.record_outcome(tmp_path, d1, rows(0.3), METRIC)
    assert path.read_text().count("<!-- sweepops:outcome d1 -->") == 1
