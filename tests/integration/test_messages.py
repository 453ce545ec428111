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


def test_a_cluster_no_inventory_knows_is_named_not_no_runs(repo):
    """A deploy whose recorded inventory is gone: status and results say which cluster and
    what to pass, instead of "no runs yet" with exit 0."""
    from sweepops.records import ledger

    deploy = {
        "deploy_id": "d1",
        "experiment": "base",
        "experiment_path": str((repo / "experiments" / "base.yml").resolve()),
        "sweeps": [{"id": "sw1", "name": "base", "meta": {"config": {"method": "grid"}}}],
    }
    ledger.append(repo, deploy)
    ledger.record_submission(
        repo,
        "d1",
        {
            "gone-login": {
                "lab_root": "/srv/lab",
                "jobs": {"sw1": "7"},
                "inventory_sources": [str(repo / "moved-away.yml")],
            }
        },
    )
    status = run_sweepops(repo, "status", "base")
    assert "    unreachable or failed: no inventory knows gone-login" in status.stdout, status.stdout
    assert "pass the inventory the deploy used with -i FILE" in status.stdout
    results = run_sweepops(repo, "results", "base")
    assert "gone-login: could not fetch (no inventory knows gone-login" in results.stderr


def test_local_failed_runs_explain_themselves(repo):
    (repo / "experiments" / "broken.py").write_text("import nosuchmodule_sweepops_test\n")
    (repo / "experiments" / "imperr.yml").write_text(
        "program: experiments/broken.py\nmethod: grid\nparameters:\n  x: [1, 2]\n_num_nodes: 1\n"
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a program that cannot import")
    why = "failed (exit 1); ModuleNotFoundError: No module named 'nosuchmodule_sweepops_test'"
    proc = run_sweepops(repo, "deploy", "imperr", "--wait", "--timeout", "300")
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr
    assert "sweepops: 2 run(s) did not finish:" in proc.stderr and why in proc.stderr
    status = run_sweepops(repo, "status", "imperr")
    assert status.returncode == 3, status.stdout + status.stderr
    # the same error on every point is said once, with the runs it failed
    run_lines = [ln.strip() for ln in status.stdout.splitlines() if ln.strip().startswith("2 runs (")]
    assert len(run_lines) == 1 and run_lines[0].endswith(why), status.stdout
    assert "`sweepops retry imperr --failed` runs them again" in status.stdout
    run_id = run_lines[0].split("(")[1].split(",")[0]
    log = run_sweepops(repo, "logs", "imperr", run_id)
    assert log.returncode == 0 and "Traceback (most recent call last)" in log.stdout
    assert f"(run {run_id}, failed)" in log.stderr
    listing = run_sweepops(repo, "logs", "imperr")
    assert run_id in listing.stdout and "local" in listing.stdout
