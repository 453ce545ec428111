"""Programs as wandb means them (issues 18 and 10.3), deployed for real, locally and on the
Slurm test cluster: a sweep file next to its program in a subfolder (wandb's examples layout,
copied unchanged), and a composite whose program is a module run with ``-m``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.clusterlib import Cluster
from tests.conftest import REPO, git, run_sweepops
from tests.integration.test_cluster_deploy import deploys, run_records, wait_sweeps_done

pytestmark = pytest.mark.integration
PROGRAMS = REPO / "tests" / "programs"
EXAMPLE = "examples/sweeps-basic/sweep.yaml"


def add_example(repo: Path) -> None:
    """wandb's examples layout: the folder copied unchanged into examples/sweeps-basic/."""
    shutil.copytree(PROGRAMS / "wandb_example", repo / "examples" / "sweeps-basic")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a wandb example")


def add_joint(repo: Path, program: str = "scripts.train_joint") -> None:
    """The issue-18 composite: experiments/joint.yml runs `-m scripts.train_joint`."""
    shutil.copytree(PROGRAMS / "joint" / "scripts", repo / "scripts")
    text = (PROGRAMS / "joint" / "joint.yml").read_text()
    (repo / "experiments" / "joint.yml").write_text(
        text.replace("program: scripts.train_joint", f"program: {program}")
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a module program")


def local_runs(repo: Path) -> list[dict]:
    parent = repo / ".sweepops" / "lab" / "sweeps"
    return [json.loads(p.read_text()) for p in parent.glob("*/runs/*.json")]


def test_wandb_examples_layout_deploys_locally_and_every_point_finishes(repo: Path) -> None:
    add_example(repo)
    proc = run_sweepops(repo, "deploy", EXAMPLE, "--wait", "--timeout", "400", timeout=500)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
    runs = local_runs(repo)
    assert len(runs) == 4 and {r["state"] for r in runs} == {"finished"}, runs
    assert {
        (r["params"]["learning_rate"]["value"], r["params"]["optimizer"]["value"]) for r in runs
    } == {(lr, opt) for lr in (0.1, 0.01) for opt in ("adam", "sgd")}
    for run in runs:
        # the run started in the experiment's folder, as `wandb agent` there would, so
        # wandb.init() found config-defaults.yaml (epochs: 4)
        assert run["cwd"] == str(repo / "examples" / "sweeps-basic")
        assert run["summary"]["epoch"] == 3 and run["summary"]["loss"] > 0
    (deploy,) = deploys(repo)
    meta = deploy["sweeps"][0]["meta"]
    assert (meta["workdir"], meta["program_file"]) == (
        "examples/sweeps-basic",
        "examples/sweeps-basic/train.py",
    )


def test_module_composite_plans_and_finishes_every_run_locally(repo: Path) -> None:
    add_joint(repo)
    plan = run_sweepops(repo, "plan", "joint", "--json")
    assert plan.returncode == 0, plan.stderr
    data = json.loads(plan.stdout)
    assert [s["runs"] for s in data["sweeps"]] == [2, 1] and data["total_runs"] == 3
    proc = run_sweepops(repo, "deploy", "joint", "--wait", "--timeout", "400", timeout=500)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
    runs = local_runs(repo)
    assert len(runs) == 3 and {r["state"] for r in runs} == {"finished"}, runs
    for run in runs:
        assert run["argv"][1:3] == ["-m", "scripts.train_joint"]
        assert run["cwd"] == str(repo)  # the module is found from the repository root
        assert run["summary"]["val_loss"] > 0


def test_a_missing_module_is_refused_before_anything_is_made(repo: Path) -> None:
    add_joint(repo, program="scripts.nosuch")
    proc = run_sweepops(repo, "deploy", "joint")
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "joint.yml:2: key 'program': module 'scripts.nosuch' not found" in out, out[-3000:]
    assert "no scripts/nosuch.py or scripts/nosuch/__main__.py" in out
    assert f"in neither the experiment's folder {repo / 'experiments'}" in out
    assert f"nor the repository root {repo}" in out
    assert deploys(repo) == [] and local_runs(repo) == []


# --------------------------------------------------------------------------- the cluster


def snapshot_dir(repo: Path, deploy_id: str) -> str:
    for rec in map(json.loads, (repo / ".sweepops" / "ledger.jsonl").read_text().splitlines()):
        if rec.get("event") == "submitted" and rec["deploy_id"] == deploy_id:
            (info,) = rec["clusters"].values()
            return str(info["snapshot_dir"])
    raise AssertionError(f"no submission recorded for {deploy_id}")


def cluster_deploy(repo: Path, cluster: Cluster, exp: str) -> dict:
    proc = run_sweepops(
        repo, "deploy", exp, "-e", f"clusters={cluster.name}", clusters=[cluster], timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
    return deploys(repo)[-1]


@pytest.mark.cluster
def test_wandb_examples_layout_finishes_on_the_cluster(repo: Path, cluster: Cluster) -> None:
    add_example(repo)
    deploy = cluster_deploy(repo, cluster, EXAMPLE)
    (sweep,) = deploy["sweeps"]
    wait_sweeps_done(cluster, [sweep["id"]], {sweep["id"]: 4}, timeout=500)
    runs = run_records(cluster, sweep["id"])
    assert len(runs) == 4
    snapshot = snapshot_dir(repo, deploy["deploy_id"])
    for run in runs:
        # in the experiment's folder inside the code snapshot on the cluster
        assert run["cwd"] == f"{snapshot}/examples/sweeps-basic"
        assert run["summary"]["epoch"] == 3  # config-defaults.yaml found in the workdir
    # reproduce runs it again where it ran: the workdir travels in the sweep's meta
    fetched = run_sweepops(repo, "results", EXAMPLE, "--json", clusters=[cluster])
    assert fetched.returncode == 0, fetched.stderr
    proc = run_sweepops(
        repo, "reproduce", runs[0]["id"], "--wait", "--json", clusters=[cluster], timeout=500
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = json.loads(proc.stdout.splitlines()[-1])
    assert out["state"] == "finished" and out["same"], out
    (repro,) = [d for d in deploys(repo) if d.get("reproduces")]
    assert repro["sweeps"][0]["meta"]["workdir"] == "examples/sweeps-basic"
    (again,) = run_records(cluster, repro["sweeps"][0]["id"])
    assert again["cwd"] == f"{snapshot}/examples/sweeps-basic"


@pytest.mark.cluster
def test_module_composite_finishes_on_the_cluster(repo: Path, cluster: Cluster) -> None:
    add_joint(repo)
    deploy = cluster_deploy(repo, cluster, "joint")
    ids = {s["name"]: s["id"] for s in deploy["sweeps"]}
    assert set(ids) == {"joint_a-b", "joint_baseline"}
    wait_sweeps_done(
        cluster, list(ids.values()), {ids["joint_a-b"]: 2, ids["joint_baseline"]: 1}, timeout=500
    )
    for sid in ids.values():
        for run in run_records(cluster, sid):
            assert run["argv"][1:3] == ["-m", "scripts.train_joint"]
            assert run["cwd"] == snapshot_dir(repo, deploy["deploy_id"])
            assert run["summary"]["val_loss"] > 0


@pytest.mark.cluster
def test_an_ignored_program_is_refused_before_anything_is_made(
    repo: Path, cluster: Cluster
) -> None:
    (repo / ".gitignore").write_text((repo / ".gitignore").read_text() + "scratch/\n")
    (repo / "scratch").mkdir()
    shutil.copy(REPO / "experiments" / "train.py", repo / "scratch" / "train.py")
    (repo / "experiments" / "scratch.yml").write_text(
        "program: scratch/train.py\nmethod: grid\nparameters:\n  lr: [0.1]\n"
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "an experiment whose program git ignores")
    before = (
        set((cluster.cluster_lab / "code").glob("*"))
        if (cluster.cluster_lab / "code").exists()
        else set()
    )
    proc = run_sweepops(
        repo, "deploy", "scratch", "-e", f"clusters={cluster.name}", clusters=[cluster]
    )
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "the program scratch/train.py would not be in the code snapshot" in out, out[-3000:]
    assert "git ignores it (.gitignore:" in out
    assert deploys(repo) == []
    after = (
        set((cluster.cluster_lab / "code").glob("*"))
        if (cluster.cluster_lab / "code").exists()
        else set()
    )
    assert after == before
