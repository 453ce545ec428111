"""What failed commands say, where, and that they made nothing (real ansible-playbook runs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import git, run_sweepops

pytestmark = pytest.mark.integration


def made(repo: Path) -> list[str]:
    """What a deploy could have left: ledger, sweeps, journal."""
    out = []
    for path in (repo / ".sweepops" / "ledger.jsonl", repo / ".sweepops" / "sweeps", repo / "journal"):
        if path.exists():
            out.append(str(path.relative_to(repo)))
    return out


def test_an_early_failure_puts_its_cause_on_stderr_and_no_deploy_id_advice(repo):
    proc = run_sweepops(repo, "deploy", "base", "-e", "clusters=nosuch")
    assert proc.returncode != 0
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("sweepops: the deploy failed (exit ")
    assert "localhost: unknown cluster(s): nosuch; the inventory knows: local." in lines[1]
    assert lines[-1] == "Nothing was created; fix the cause and deploy again."
    assert "deploy_id" not in proc.stderr
    assert made(repo) == []


def test_a_validation_error_is_on_stderr_without_advice(repo):
    (repo / "experiments" / "broken.yml").write_text("program: experiments/train.py\nmethod: gird\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "broken experiment")
    proc = run_sweepops(repo, "deploy", "broken")
    assert proc.returncode != 0
    assert "gird" in proc.stderr and "Nothing was created" in proc.stderr, proc.stderr
    assert "deploy_id" not in proc.stderr
    assert made(repo) == []


def test_gc_of_an_unknown_cluster_fails_naming_it(repo):
    proc = run_sweepops(repo, "gc", "nosuch")
    assert proc.returncode != 0
    assert "unknown cluster(s): nosuch" in proc.stderr and "nothing was removed" in proc.stderr
