"""Bad input around a deploy, for real (issue 16, items 2, 5, 7, 12, 15): each is one clear
message, and nothing is created (no sweep, no ledger record, no job)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clusterlib import Cluster
from tests.conftest import agent_env, git, run_sweepops

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent
TINY = "program: experiments/train.py\nmethod: grid\nparameters:\n  epochs: 1\n  lr: [0.1]\n"


def ledger(repo: Path) -> list[dict]:
    path = repo / ".sweepops" / "ledger.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def nothing_made(repo: Path) -> bool:
    return ledger(repo) == [] and not (repo / ".sweepops" / "lab").exists()


def playbook(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "deploy.yml", *args],
        cwd=repo,
        env=agent_env(ANSIBLE_NOCOLOR="1"),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_typo_in_the_cluster_settings_is_refused_with_did_you_mean(repo: Path) -> None:
    gv = repo / "inventory" / "group_vars" / "local.yml"
    gv.write_text(gv.read_text() + "partiton: cpu\n")
    git(repo, "commit", "-qam", "a typo")
    proc = run_sweepops(repo, "deploy", "base")
    assert proc.returncode == 2
    line = next(x for x in proc.stderr.splitlines() if "partiton" in x)
    assert re.search(
        rf"{re.escape(str(gv))}:\d+: key 'partiton': unknown setting \(did you mean "
        r"'partition'\?\)",
        line,
    ), proc.stderr
    assert nothing_made(repo)


def test_a_broken_hosts_file_is_one_line_before_ansible_runs(repo: Path) -> None:
    hosts = repo / "inventory" / "hosts.yml"
    hosts.write_text(hosts.read_text() + "    atlas: [\n")
    proc = run_sweepops(repo, "deploy", "base")
    assert proc.returncode == 2
    problems = [x for x in proc.stderr.splitlines() if str(hosts) in x]
    assert len(problems) == 1 and "invalid YAML" in problems[0], proc.stderr
    assert "[WARNING]" not in proc.stdout + proc.stderr  # Ansible's parser never ran
    assert nothing_made(repo)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("clusters=", "-e clusters= names no cluster"),
        ("agents_per_sweep=abc", "-e agents_per_sweep=abc: expected a whole number >= 1"),
    ],
)
def test_bad_e_values_are_named_as_given(repo: Path, option: str, message: str) -> None:
    proc = run_sweepops(repo, "deploy", "base", "-e", option)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert "None" not in proc.stderr and "default_agents" not in proc.stderr
    # the playbook run directly says the same
    direct = playbook(repo, "-e", "exp=base.yml", "-e", option)
    out = " ".join((direct.stdout + direct.stderr).split())
    assert direct.returncode != 0 and message in out, out[-3000:]
    assert "default_agents" not in out and "unknown cluster(s): None" not in out
    assert nothing_made(repo)


def test_a_huge_grid_warns_in_plan_and_deploy_asks_for_confirmation(repo: Path) -> None:
    (repo / "experiments" / "huge.yml").write_text(
        "program: experiments/train.py\nmethod: grid\nparameters:\n"
        + "".join(f"  p{i}: {{distribution: int_uniform, min: 1, max: 1000}}\n" for i in range(3))
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a billion runs")
    plan = run_sweepops(repo, "plan", "huge")
    assert plan.returncode == 0
    assert "warning: 1000000000 runs is more than confirm_runs_above (1000)" in plan.stdout
    proc = run_sweepops(repo, "deploy", "huge")
    out = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode != 0
    assert "huge makes 1000000000 runs in 1 sweep(s), more than confirm_runs_above (1000); " in out
    assert "-e confirm_runs=1000000000 (or --yes)" in out
    assert nothing_made(repo)
    wrong = run_sweepops(repo, "deploy", "huge", "-e", "confirm_runs=1000")
    assert wrong.returncode != 0 and "-e confirm_runs=1000, but huge makes 1000000000" in " ".join(
        (wrong.stdout + wrong.stderr).split()
    )
    # confirmed (dry run: nothing is made either way)
    ok = run_sweepops(repo, "deploy", "huge", "--yes", "--check")
    assert ok.returncode == 0, ok.stdout[-3000:] + ok.stderr
    assert nothing_made(repo)
    # the threshold is a setting
    raised = run_sweepops(repo, "deploy", "huge", "--check", "-e", "confirm_runs_above=2000000000")
    assert raised.returncode == 0, raised.stdout[-3000:] + raised.stderr


def test_no_e_value_stays_on_disk_after_the_run(repo: Path) -> None:
    # issue 16.2: ansible-runner writes -e values to its private dir: removed after the run
    proc = run_sweepops(repo, "deploy", "base", "--check", "-e", "ansible_password=hunter2")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    found = subprocess.run(
        ["grep", "-rl", "hunter2", str(repo / ".sweepops")], capture_output=True, text=True
    )
    assert found.stdout == "", found.stdout
    runner = repo / ".sweepops" / "runner"
    assert not runner.exists() or list(runner.iterdir()) == []


def test_the_journal_sweepops_writes_is_not_an_uncommitted_change(repo: Path) -> None:
    (repo / "experiments" / "tiny.yml").write_text(TINY)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "tiny")

    def deploy() -> dict:
        # the same commit deployed again on purpose (issue 19: refused without allow_duplicate)
        proc = run_sweepops(
            repo, "deploy", "tiny", "-e", "allow_duplicate=true", "--wait", "--timeout", "300",
            timeout=400,
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
        return [r for r in ledger(repo) if "event" not in r][-1]

    deploy()
    assert "journal/" in git(repo, "status", "--porcelain")  # new, untracked
    assert deploy()["dirty_files"] == []
    git(repo, "add", "journal")
    git(repo, "commit", "-qm", "the journal, versioned with the code")
    assert run_sweepops(repo, "note", "tiny", "lr 0.1 is fine").returncode == 0
    assert "journal/tiny.md" in git(repo, "status", "--porcelain")  # tracked, modified
    assert deploy()["dirty_files"] == []
    journal = (repo / "journal" / "tiny.md").read_text()
    assert "uncommitted changes" not in journal and journal.count("(clean)") == 3


# --------------------------------------------------------------------------- ssh refusals


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A short directory: ssh's ControlPath sockets must fit a Unix socket's path."""
    d = Path(tempfile.mkdtemp(prefix="sp-", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def cluster_inventory(cluster: Cluster, tmp_path: Path, **replace: str) -> Path:
    text = cluster.inventory.read_text()
    for old, new in replace.items():
        text = text.replace(old, new)
    path = tmp_path / "inventory.yml"
    path.write_text(text)
    return path


def deploy_with(repo: Path, cluster: Cluster, inventory: Path) -> subprocess.CompletedProcess[str]:
    return run_sweepops(
        repo,
        "deploy",
        "base",
        "-e",
        f"clusters={cluster.name}",
        env={"SWEEPOPS_INVENTORY": str(inventory)},
    )


@pytest.mark.cluster
def test_a_key_the_cluster_refuses_says_provision(
    repo: Path, cluster: Cluster, short_tmp: Path
) -> None:
    tmp_path = short_tmp
    key = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    inv = cluster_inventory(
        cluster,
        tmp_path,
        **{
            str(cluster.key): str(key),
            "ControlPersist=5s": f"ControlPersist=5s -o ControlPath={tmp_path}/cp-%C",
        },
    )
    proc = deploy_with(repo, cluster, inv)
    assert proc.returncode != 0
    hint = next((x for x in proc.stderr.splitlines() if "login was refused" in x), "")
    assert f"sweepops: {cluster.name}-login: the login was refused" in hint, proc.stderr[-3000:]
    assert "--ask-pass" in hint and "ansible_ssh_private_key_file" in hint
    assert ledger(repo) == []


@pytest.mark.cluster
def test_a_changed_host_key_says_ssh_keygen_r(
    repo: Path, cluster: Cluster, short_tmp: Path
) -> None:
    tmp_path = short_tmp
    fake = tmp_path / "hostkey"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(fake)], check=True)
    known = tmp_path / "known_hosts"
    addr = cluster.host if cluster.port == 22 else f"[{cluster.host}]:{cluster.port}"
    known.write_text(
        f"{addr} {fake.with_suffix('.pub').read_text().split()[0]} "
        f"{fake.with_suffix('.pub').read_text().split()[1]}\n"
    )
    original = re.search(r"UserKnownHostsFile=(\S+)", cluster.inventory.read_text())
    assert original
    inv = cluster_inventory(
        cluster,
        tmp_path,
        # no ssh masters: a live one of another run would skip the host key check
        **{
            original.group(1): str(known),
            "ControlMaster=auto -o ControlPersist=5s": "ControlMaster=no -o ControlPath=none",
        },
    )
    proc = deploy_with(repo, cluster, inv)
    assert proc.returncode != 0
    hint = next((x for x in proc.stderr.splitlines() if "host key" in x), "")
    assert f"`ssh-keygen -R {cluster.host} -f {known}`" in hint, proc.stdout[-6000:]
    # (Ansible's own connection may get through before code_sync's rsync refuses: then the
    # sweeps exist and the deploy id finishes the deploy; the hint is the same either way.)


def test_the_playbook_run_directly_refuses_a_setting_typo_too(repo: Path) -> None:
    gv = repo / "inventory" / "group_vars" / "local.yml"
    gv.write_text(gv.read_text() + "agents_per_swep: 4\n")
    proc = playbook(repo, "-e", "exp=base.yml")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "key 'agents_per_swep': unknown setting (did you mean 'agents_per_sweep'" in out, out[
        -3000:
    ]
    assert nothing_made(repo)
