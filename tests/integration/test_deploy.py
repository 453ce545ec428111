"""deploy.yml and `sweepops deploy` end to end on the built-in local defaults."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sweepops.executors.local import pid_alive
from tests.conftest import REPO, agent_env, run_sweepops

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent


def sweepops(repo: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return run_sweepops(repo, *args, timeout=timeout)


def playbook(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = agent_env(ANSIBLE_NOCOLOR="1")
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "deploy.yml", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def ledger(repo: Path) -> list[dict]:
    path = repo / ".sweepops" / "ledger.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def sweep_dirs(repo: Path) -> list[Path]:
    parent = repo / ".sweepops" / "lab" / "sweeps"
    return (
        sorted(p for p in parent.iterdir() if not p.name.startswith(".")) if parent.exists() else []
    )


def test_sweepops_deploy_wait_prints_sorted_results(repo):
    proc = sweepops(repo, "deploy", "base.yml", "--wait", "--timeout", "240")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    table = lines[next(i for i, line in enumerate(lines) if line.startswith("run ")) :]
    assert "val_loss" in table[0] and len(table) == 2 + 6
    losses = [float(line.split()[3]) for line in table[2:]]
    assert losses == sorted(losses)  # best first for goal: minimize
    rows = json.loads(sweepops(repo, "results", "base", "--json").stdout)
    assert len(rows) == 6 and {r["state"] for r in rows} == {"finished"}
    assert {(r["params"]["lr"], r["params"]["batch_size"]) for r in rows} == {
        (lr, bs) for lr in (0.01, 0.1, 0.5) for bs in (16, 128)
    }
    (deploy,) = ledger(repo)
    assert (
        deploy["commit"]
        and deploy["experiment"] == "base"
        and len(deploy["experiment_sha256"]) == 64
    )


def test_the_short_view_shows_each_stage_and_the_summary(repo):
    proc = sweepops(repo, "deploy", "base.yml", "-e", "deploy_id=view1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    stages = [line.split(" [")[0] for line in lines if line.startswith("✓ ")]
    assert stages == [
        "✓ Check what was asked for",
        "✓ Check the clusters before anything is made",
        "✓ Create the experiment's sweeps",
        "✓ Start the agents",
        "✓ Record the deploy and say where to watch",
    ]
    assert "1 sweep(s), offline" in next(x for x in lines if "Create the experiment" in x)
    assert "2 agent(s) running" in next(x for x in lines if "Start the agents" in x)
    (deploy,) = ledger(repo)
    sweep = deploy["sweeps"][0]
    assert f"base: sweep {sweep['id']} (6 runs, 2 agents)" in proc.stdout
    assert "progress: sweepops status base.yml" in proc.stdout
    assert "TASK [" not in proc.stdout + proc.stderr and "PLAY RECAP" not in proc.stdout
    log = repo / ".sweepops" / "deploys" / "view1" / "ansible.log"
    assert "TASK [Create the sweeps]" in log.read_text()
    assert "PLAY RECAP" in log.read_text()
    # -v: Ansible's own output instead (the log is kept all the same)
    verbose = sweepops(repo, "deploy", "base.yml", "-e", "deploy_id=view1", "-v")
    assert verbose.returncode == 0 and "PLAY RECAP" in verbose.stdout
    assert log.read_text().count("PLAY RECAP") == 2


def test_a_failed_deploy_shows_the_message_and_the_log_not_a_banner(repo):
    proc = sweepops(repo, "deploy", "base.yml", "-e", "clusters=nosuch", "-e", "deploy_id=bad1")
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "✗ Check what was asked for [localhost]" in proc.stdout
    assert "unknown cluster(s): nosuch" in proc.stderr
    log = repo / ".sweepops" / "deploys" / "bad1" / "ansible.log"
    assert f"the whole Ansible log: {log}" in proc.stderr and log.is_file()
    assert "Traceback" not in out and "TASK [" not in out and "fatal:" not in out
    assert sweep_dirs(repo) == [] and ledger(repo) == []


def test_playbook_deploys_composite_and_is_idempotent(repo):
    proc = playbook(repo, "-e", "exp=composite.yml", "-e", "deploy_id=d1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "composite_clean" in proc.stdout and "sweepops status composite.yml" in proc.stdout
    sweeps = {json.loads((d / "sweep.json").read_text())["name"]: d for d in sweep_dirs(repo)}
    assert set(sweeps) == {"composite_clean", "composite_noisy-regularised"}
    meta = json.loads((sweeps["composite_noisy-regularised"] / "sweep.json").read_text())
    assert meta["tags"] == ["noisy", "regularised"]
    assert meta["config"]["parameters"]["noise"] == {"value": 0.5}  # subtest overrides
    assert meta["config"]["parameters"]["epochs"] == {"value": 6}  # shared parameter inherited
    assert meta["run_env"]["WANDB_TAGS"] == "noisy,regularised"
    # The same deploy again changes nothing: no new sweeps, no second set of agents.
    again = playbook(repo, "-e", "exp=composite.yml", "-e", "deploy_id=d1")
    assert again.returncode == 0, again.stdout
    assert "changed=0" in again.stdout
    assert len(sweep_dirs(repo)) == 2 and len(ledger(repo)) == 1
    for d in sweeps.values():
        assert len(list((d / "agents").glob("local-*.json"))) == 2
    status = sweepops(repo, "results", "composite", "--deploy", "d1")
    assert status.returncode == 0, status.stderr
    wait = sweepops(repo, "status", "composite")
    assert "composite_clean" in wait.stdout


def test_check_mode_changes_nothing(repo):
    proc = playbook(repo, "-e", "exp=base.yml", "--check", "--diff")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sweep_dirs(repo) == [] and ledger(repo) == []


@pytest.mark.parametrize(
    ("exp", "expected"),
    [
        ("nope", "unknown experiment 'nope'; available experiments: bad, base, composite"),
        ("bad.yml", "bad.yml:6: key 'parameters.lr'"),
    ],
)
def test_bad_input_starts_nothing(repo, exp, expected):
    (repo / "experiments" / "bad.yml").write_text(
        "program: experiments/train.py\nmethod: grid\nparameters:\n  lr:\n    value: 1\n  lr: [1, 2]\n"
    )
    for proc in (sweepops(repo, "deploy", exp), playbook(repo, "-e", f"exp={exp}")):
        assert proc.returncode != 0
        assert expected in proc.stdout + proc.stderr
    assert sweep_dirs(repo) == [] and ledger(repo) == []


def test_readme_command_one_in_a_fresh_clone(tmp_path):
    """`make example` on a fresh clone: installs into its own .venv and prints the results."""
    if os.environ.get("SWEEPOPS_SKIP_FRESH_CLONE"):
        pytest.skip("SWEEPOPS_SKIP_FRESH_CLONE is set")
    readme = (REPO / "README.md").read_text().splitlines()
    assert readme[3].startswith("make example")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    # A fresh shell: no venv, no sweepops settings, and not inside the `make test` that runs us.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VIRTUAL_ENV", "SWEEPOPS_", "MAKE", "MFLAGS"))
    }
    proc = subprocess.run(
        ["make", "example"], cwd=clone, env=env, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "val_loss ↓" in proc.stdout
    lines = proc.stdout.splitlines()
    header = next(
        i for i, line in enumerate(lines) if line.startswith("run ") and "val_loss" in line
    )
    rows = lines[header + 2 : header + 8]
    assert len(rows) == 6 and all("finished" in row.split() for row in rows)
    assert rows[0].rstrip().endswith("*")  # the best run, first and marked


def test_agents_are_detached_and_cancel_requeues_their_runs(repo):
    (repo / "experiments" / "slow.yml").write_text(
        "program: tests/programs/probe.py\nmethod: grid\n"
        "parameters:\n  sleep: 120\n  x: [1, 2, 3, 4]\n_num_nodes: 2\n"
    )
    proc = sweepops(repo, "deploy", "slow")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (sweep_dir,) = sweep_dirs(repo)
    agents = [json.loads(p.read_text()) for p in (sweep_dir / "agents").glob("local-*.json")]
    assert len(agents) == 2
    for agent in agents:
        # Its own session: closing the terminal (SIGHUP to the session) does not reach it.
        assert os.getsid(agent["pid"]) == agent["pid"] != os.getsid(0)

    def running() -> int:
        return sum(
            json.loads(p.read_text())["state"] == "running"
            for p in (sweep_dir / "runs").glob("*.json")
        )

    deadline = time.monotonic() + 60
    while running() < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert running() == 2
    cancel = sweepops(repo, "cancel", "slow")
    assert cancel.returncode == 0, cancel.stderr
    deadline = time.monotonic() + 60
    while any(pid_alive(a["pid"]) for a in agents) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(pid_alive(a["pid"]) for a in agents)
    states = sorted(json.loads(p.read_text())["state"] for p in (sweep_dir / "runs").glob("*.json"))
    assert states == ["preempted", "preempted"]  # requeued, not lost, not "finished"
    for agent in agents:
        report = json.loads((sweep_dir / "agents" / f"local-{agent['k']}.exit").read_text())
        assert report["exit_code"] == 128 + 15
    assert "CANCELLED" in sweepops(repo, "status", "slow").stdout
