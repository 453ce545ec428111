"""sweepops.ops.diff's parts: a dirty deploy's code is its commit plus its stored diff; ids are
placeholders before comparing; the journal links a deploy to the previous one."""

from __future__ import annotations

import subprocess
from pathlib import Path

from sweepops.core import paths
from sweepops.ops.diff import (
    Side,
    code_section,
    compare_dicts,
    flatten,
    previous_deploy,
    snapshot_tree,
)
from sweepops.records import journal, ledger


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_a_dirty_deploys_code_is_its_commit_plus_the_stored_diff(tmp_path):
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "train.py").write_text("lr = 0.1\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "one")
    commit = git(repo, "rev-parse", "HEAD")
    (repo / "train.py").write_text("lr = 0.2\n")
    diff = paths.dirty_diff(repo, "dirty")
    diff.parent.mkdir(parents=True)
    diff.write_text(git(repo, "diff", "HEAD") + "\n")
    clean = {"deploy_id": "clean", "commit": commit, "dirty_files": [], "sweeps": []}
    dirty = {"deploy_id": "dirty", "commit": commit, "dirty_files": ["train.py"], "sweeps": []}
    tree, how = snapshot_tree(repo, dirty)
    git(repo, "add", "train.py")  # the tree as committed (.sweepops/ is never code)
    assert tree == git(repo, "write-tree") and "stored diff of 1 file" in how
    assert snapshot_tree(repo, clean)[0] == git(repo, "rev-parse", f"{commit}^{{tree}}")
    section = code_section(repo, Side("clean", clean), Side("dirty", dirty))
    assert section.lines == ["M train.py"] and "+lr = 0.2" in section.detail
    assert code_section(
        repo, Side("a", dirty), Side("b", dict(dirty, deploy_id="b", diff_of="dirty"))
    ).same


def test_ids_are_placeholders_and_differences_are_named():
    side = Side("d1", {"deploy_id": "d1", "sweeps": [{"id": "s1"}]}, run={"id": "r1"})
    assert side.ids() == {"d1": "<deploy>", "s1": "<sweep>", "r1": "<run>"}
    repro = Side("d2", {"deploy_id": "d2", "sweeps": [], "reproduces": {"deploy_id": "d1"}})
    assert repro.ids()["d1"] == "<deploy>"
    a = flatten({"base": {"parameters": {"lr": {"values": [1, 2]}}, "method": "grid"}})
    b = flatten({"base": {"parameters": {"lr": {"values": [1, 3]}}}, "extra": {"x": 1}})
    assert compare_dicts(a, b) == [
        'base.method: only in A ("grid")',
        "base.parameters.lr.values: [1, 2] -> [1, 3]",
        "extra.x: only in B (1)",
    ]


def test_the_journal_links_a_deploy_to_the_diff_with_the_previous_one(tmp_path):
    exp = str(tmp_path / "experiments" / "e.yml")
    first = {
        "deploy_id": "d1",
        "experiment": "e",
        "experiment_path": exp,
        "commit": "a",
        "experiment_sha256": "1",
        "sweeps": [],
    }
    other = {**first, "deploy_id": "x1", "experiment": "f", "experiment_path": exp + "x"}
    second = {**first, "deploy_id": "d2", "commit": "b"}
    for rec in (first, other, second):
        ledger.append(tmp_path, rec)
    assert previous_deploy(tmp_path, second)["deploy_id"] == "d1"
    assert previous_deploy(tmp_path, first) is None
    text = journal.render_deploy(second, root=tmp_path, clusters={})
    assert "- **previous deploy** `d1` (code): `sweepops diff d1 d2`" in text
    assert "previous deploy" not in journal.render_deploy(first, root=tmp_path, clusters={})
