"""`sweepops diff A B` between two local deploys of the example experiment: an edited file, a
changed parameter and a changed env are each named; the journal links the second deploy to
the diff with the first. (A run against its `reproduce`: tests/integration/test_cluster_reproduce.py.)"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from sweepops.records import ledger
from tests.conftest import git, run_sweepops

pytestmark = pytest.mark.integration


def _deploy(repo: Path, deploy_id: str) -> dict:
    proc = run_sweepops(
        repo,
        "deploy",
        "base.yml",
        "-e",
        f"deploy_id={deploy_id}",
        "--wait",
        "--timeout",
        "240",
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    deploy = ledger.find_deploy(repo, deploy_id)
    assert deploy is not None
    return deploy


def _with_env(repo: Path, deploy_id: str, digest: str, lock: str) -> None:
    """What a cluster deploy records of its env (its `submitted` line, the provision's `env`
    event before it): the local executor has none to record."""
    prefix = "/opt/envs/train"
    ledger.append(
        repo,
        {
            "event": "env",
            "host": "c-login",
            "env": {"name": "train", "prefix": prefix, "lock_sha256": lock},
        },
    )
    info = {
        "lab_root": "/lab",
        "login": "c-login",
        "env_prefix": prefix,
        "env_path": prefix,
        "env_digest": digest,
        "jobs": {},
        "snapshot_dir": "/lab/code/x",
    }
    ledger.append(
        repo, {"event": "submitted", "deploy_id": deploy_id, "clusters": {"c-login": info}}
    )


def test_diff_names_each_difference_and_the_journal_links_it(repo):
    _deploy(repo, "d1")
    _with_env(repo, "d1", "e" * 64, "1" * 64)
    # an edited file, a changed parameter (committed: a clean tree), a changed env
    train = repo / "experiments" / "train.py"
    train.write_text(train.read_text() + "\n# tuned\n")
    exp = repo / "experiments" / "base.yml"
    exp.write_text(exp.read_text().replace("epochs: 8", "epochs: 5"))
    git(repo, "commit", "-qam", "tune")
    time.sleep(1)
    _deploy(repo, "d2")
    _with_env(repo, "d2", "f" * 64, "2" * 64)

    proc = run_sweepops(repo, "diff", "d1", "d2", "--json", "--offline")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    sections = out["sections"]
    assert {"code", "experiment file", "parameters", "env", "metric"} <= set(out["differs"])
    assert "container" not in out["differs"] and "cluster" not in out["differs"]
    code = sections["code"]
    assert sorted(code["lines"]) == ["M experiments/base.yml", "M experiments/train.py"]
    assert "+# tuned" in code["detail"]
    assert "-  epochs: 8" in sections["experiment file"]["detail"].replace(
        "epochs: 8 ", "epochs: 8"
    )
    assert any(
        line.startswith("base.parameters.epochs.value: 8 -> 5")
        for line in sections["parameters"]["lines"]
    ), sections["parameters"]["lines"]
    env = "\n".join(sections["env"]["lines"])
    assert "c-login.env_digest" in env and "c-login.package_list_sha256" in env
    assert "c-login.env_prefix" not in env

    # the experiment's name is its latest deploy; text output names the sections
    text = run_sweepops(repo, "diff", "d1", "base", "--offline").stdout
    assert "B: experiment base (its latest deploy d2)" in text
    assert "== code: differs" in text and "M experiments/train.py" in text
    assert "== parameters: differs" in text and "+# tuned" in text

    # a deploy against itself: nothing differs
    same = json.loads(run_sweepops(repo, "diff", "d2", "d2", "--json", "--offline").stdout)
    assert same["differs"] == []

    journal = (repo / "journal" / "base.md").read_text()
    assert "`sweepops diff d1 d2`" in journal
    assert "- **previous deploy** `d1` (code, experiment file)" in journal
