"""A ledger and sweep directories written by sweepops before the package's reorganisation
(tests/data/premove_deploy: commit 6a46aed, a local offline deploy and a deploy to a test
cluster of experiments/tiny.yml, with the cluster's run records as `results` cached them)
still read with today's code: typed records, `status`, `results`, and `reproduce`'s plan."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sweepops.cli.commands import main
from sweepops.core.records import Deploy, EnvEvent, Submission, kind_of, parse
from sweepops.ops import reproduce
from sweepops.records import ledger

DATA = Path(__file__).resolve().parents[1] / "data" / "premove_deploy"
OLD_ROOT = "/tmp/premove"  # where the old code ran; the files name it (rewritten below)
LOCAL, CLUSTER = "20261202-080640-5f043e", "20261202-081109-ed9a41"


@pytest.fixture
def old_repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(DATA, root)
    for path in root.rglob("*"):
        if path.is_file() and path.suffix in (".jsonl", ".json", ".log"):
            path.write_text(path.read_text().replace(OLD_ROOT, str(root)))
    return root


def test_every_old_line_parses_as_a_typed_record(old_repo: Path) -> None:
    lines = ledger.records(old_repo)
    assert [kind_of(line) for line in lines] == ["deploy", "deploy", "submitted"]
    local, cluster, submitted = (parse(line) for line in lines)
    assert isinstance(local, Deploy) and isinstance(cluster, Deploy)
    assert isinstance(submitted, Submission)
    assert local.deploy_id == LOCAL and local.local_sweep_dirs == [
        str(old_repo / ".sweepops/lab/sweeps/oeq6kv1y")
    ]
    assert cluster.clusters == ("fjord",) and not cluster.local_sweep_dirs
    (sweep,) = cluster.sweeps
    assert sweep.id == "xbu4qprf" and sweep.runs == 2 and sweep.config["method"] == "grid"
    info = submitted.clusters["fjord-login"]
    assert info.jobs == {"xbu4qprf": "4"} and info.lab_root == "/srv/sweepops-lab"
    assert info.snapshot_dir and info.snapshot_dir.startswith("/srv/sweepops-lab/code/")
    assert [d.deploy_id for d in ledger.deploys(old_repo)] == [LOCAL, CLUSTER]
    assert ledger.submissions(old_repo, CLUSTER)["fjord-login"] == info.raw
    with pytest.raises(ValueError):
        EnvEvent.of(lines[0])


def test_status_of_the_old_local_deploy(old_repo: Path, capsys: pytest.CaptureFixture) -> None:
    rc = main(["--root", str(old_repo), "status", "tiny", "--deploy", LOCAL, "--json"])
    (status,) = json.loads(capsys.readouterr().out)
    assert rc == 0
    (sweep,) = status["local"]
    assert sweep["id"] == "oeq6kv1y" and sweep["counts"]["finished"] == 2
    assert sweep["counts"]["left"] == 0 and sweep["agents"] == 0


def test_results_of_both_old_deploys(old_repo: Path, capsys: pytest.CaptureFixture) -> None:
    rc = main(["--root", str(old_repo), "results", "tiny", "--deploy", LOCAL, "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert rc == 0 and {r["state"] for r in rows} == {"finished"} and len(rows) == 2
    assert rows[0]["metric"] <= rows[1]["metric"]  # best first
    rc = main(
        ["--root", str(old_repo), "results", "tiny", "--deploy", CLUSTER, "--json", "--no-fetch"]
    )
    rows = json.loads(capsys.readouterr().out)
    assert rc == 0 and {r["cluster"] for r in rows} == {"fjord-login"} and len(rows) == 2


def test_reproduce_plans_a_run_of_the_old_cluster_deploy(old_repo: Path) -> None:
    plan = reproduce.plan(old_repo, "xekg9bkj", None)
    assert plan["host"] == "fjord-login"
    assert plan["snapshot_key"] == "53125bf99a3b7dd9f4e0567e8c2f1c311cb0fc7c"
    assert plan["agent_key"] == "f9cf3be02b89e1d5"
    assert plan["env_prefix"] == "/opt/sweepops-research-env"
    (sweep,) = plan["deploy"]["sweeps"]
    params = {k: v["value"] for k, v in sweep["meta"]["config"]["parameters"].items()}
    assert params == {"lr": 0.1, "epochs": 2}
    assert plan["deploy"]["reproduces"] == {"run_id": "xekg9bkj", "deploy_id": CLUSTER}
    with pytest.raises(Exception, match="ran on this machine"):
        reproduce.plan(old_repo, "atcljio0", None)
