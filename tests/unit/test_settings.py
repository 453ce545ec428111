"""sweepops.core.settings: the inventory's settings and a deploy's -e values (issue 16.5, 16.12)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sweepops.ansible.runner import prune_runner_dirs
from sweepops.core.errors import SweepopsError
from sweepops.core.settings import (
    check_deploy_vars,
    check_inventory,
    known_settings,
    parse_deploy_var,
    require_valid_inventory,
)

REPO = Path(__file__).resolve().parents[2]


def inventory(tmp_path: Path, hosts: str, group_vars: dict[str, str] | None = None) -> Path:
    inv = tmp_path / "inventory"
    (inv / "group_vars").mkdir(parents=True)
    (inv / "hosts.yml").write_text(hosts)
    for name, text in (group_vars or {}).items():
        (inv / "group_vars" / f"{name}.yml").write_text(text)
    return inv


HOSTS = (
    "all:\n  children:\n    atlas:\n      hosts:\n        atlas-login: {ansible_host: 10.0.0.1}\n"
)


def test_the_repository_inventory_and_its_settings_are_known() -> None:
    assert check_inventory([REPO / "inventory"], REPO) == []
    known = known_settings(REPO)
    # the roles' knobs, and the settings their defaults read
    assert {"sbatch_partition", "partition", "gres", "env_prefix", "lab_root"} <= known


def test_a_typo_in_group_vars_is_refused_with_did_you_mean(tmp_path: Path) -> None:
    inv = inventory(tmp_path, HOSTS, {"atlas": "lab_root: /lab\npartiton: cpu\n"})
    (problem,) = check_inventory([inv], REPO)
    assert problem.startswith(f"{inv / 'group_vars' / 'atlas.yml'}:2: key 'partiton': ")
    assert "unknown setting (did you mean 'partition'?)" in problem
    with pytest.raises(SweepopsError) as info:
        require_valid_inventory([inv], REPO)
    assert "nothing was created or run" in str(info.value)


def test_typos_in_the_hosts_file_vars_are_found_too(tmp_path: Path) -> None:
    hosts = (
        HOSTS + "      vars:\n        cpus_per_tsk: 4\n        _mine: 1\n        ansible_user: a\n"
    )
    (problem,) = check_inventory([inventory(tmp_path, hosts)], REPO)
    assert ":7: key 'all.children.atlas.vars.cpus_per_tsk': unknown setting (did you mean " in (
        problem
    )


def test_a_broken_hosts_file_is_one_line_with_file_and_line(tmp_path: Path) -> None:
    inv = inventory(tmp_path, "all:\n  children:\n    atlas: [\n")
    (problem,) = check_inventory([inv], REPO)
    assert problem.startswith(f"{inv / 'hosts.yml'}:")
    assert "invalid YAML" in problem and "\n" not in problem


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("agents_per_sweep", "abc", "-e agents_per_sweep=abc: expected a whole number >= 1"),
        ("agents_per_sweep", 0, "-e agents_per_sweep=0: expected a whole number >= 1"),
        ("clusters", None, "-e clusters= names no cluster"),
        ("clusters", " , ", "-e clusters= ,  names no cluster"),
        ("allow_dirty", "maybe", "-e allow_dirty=maybe: expected true or false"),
        ("allow_duplicate", "maybe", "-e allow_duplicate=maybe: expected true or false"),
        ("max_requeues", -1, "-e max_requeues=-1: expected a whole number >= 0"),
        ("preempt_signal_seconds", "2m", "-e preempt_signal_seconds=2m: expected a whole number"),
        ("confirm_runs", "lots", "-e confirm_runs=lots: expected a whole number >= 1"),
    ],
)
def test_bad_deploy_values_name_the_e_option(name: str, value: object, message: str) -> None:
    with pytest.raises(SweepopsError) as info:
        check_deploy_vars({name: value})
    assert message in str(info.value)
    assert "default_agents" not in str(info.value)


def test_good_deploy_values_are_parsed() -> None:
    assert parse_deploy_var("agents_per_sweep", "4") == 4
    assert parse_deploy_var("clusters", "atlas, babel") == ["atlas", "babel"]
    assert parse_deploy_var("confirm_runs", "yes") == "yes"
    assert parse_deploy_var("confirm_runs", 5000) == 5000
    assert parse_deploy_var("exp", "base") == "base"
    assert parse_deploy_var("allow_duplicate", "true") is True
    assert parse_deploy_var("max_requeues", 0) == 0


def test_runner_dirs_of_finished_processes_are_pruned(tmp_path: Path) -> None:
    # issue 16.2: .sweepops/runner/ keeps what -e carried; dirs whose sweepops is gone go
    dead = tmp_path / "20260101-000000-999999999"
    live = tmp_path / f"20260101-000000-{os.getpid()}"
    other = tmp_path / "notes"
    for d in (dead, live, other):
        (d / "env").mkdir(parents=True)
        (d / "env" / "extravars").write_text("ansible_password: hunter2\n")
    assert prune_runner_dirs(tmp_path) == [dead]
    assert not dead.exists() and live.exists() and other.exists()
