"""sweepops.ops.deploy_plan: what a deploy does where, decided before the playbook's plays."""

from __future__ import annotations

import pytest

from sweepops.ops.deploy_plan import PlanError, gate, hosts_of, plan, targets, where_to_watch

GROUPS = {
    "all": ["localhost", "atlas-login", "babel-login"],
    "ungrouped": [],
    "local": ["localhost"],
    "atlas": ["atlas-login"],
    "babel": ["babel-login"],
}
SLURM = {"lab_root": "/srv/lab", "time": "01:00:00"}


def test_targets_split_trim_and_default_to_local() -> None:
    assert targets(None) == ["local"]
    assert targets(" atlas , babel,,") == ["atlas", "babel"]
    assert targets("") == [] and targets(" , ") == []


def test_hosts_in_the_patterns_order_each_once() -> None:
    assert hosts_of("babel,atlas", GROUPS) == ["babel-login", "atlas-login"]
    assert hosts_of("atlas,atlas-login", GROUPS) == ["atlas-login"]
    assert hosts_of(None, GROUPS) == ["localhost"]


def test_empty_clusters_is_refused_in_the_playbooks_words() -> None:
    with pytest.raises(PlanError) as err:
        hosts_of(" , ", GROUPS)
    assert str(err.value) == (
        "-e clusters= names no cluster; give one or more inventory groups "
        "(-e clusters=atlas or -e clusters=atlas,babel), or leave it out to run here. "
        "The inventory knows: local, atlas, babel"
    )


def test_unknown_cluster_is_named() -> None:
    with pytest.raises(PlanError) as err:
        hosts_of("atlas,nosuch", GROUPS)
    assert str(err.value).startswith(
        "unknown cluster(s): nosuch; the inventory knows: local, atlas, babel. To add a cluster"
    )


def test_no_experiment_is_refused() -> None:
    with pytest.raises(PlanError, match="name the experiment: ansible-playbook deploy.yml"):
        plan("atlas", GROUPS, {}, exp="")


def test_one_cluster_has_no_shard_and_its_job_limits() -> None:
    got = plan("atlas", GROUPS, {"atlas-login": SLURM}, exp="base.yml")
    host = got["hosts"]["atlas-login"]
    assert host["shard"] == "" and host["slurm"] and host["lab_root"] == "/srv/lab"
    assert got["job_limits"] == {"atlas-login": {"time": "01:00:00", "preempt_signal_seconds": 120}}
    assert got["lab_roots"] == {"atlas-login": "/srv/lab"}
    assert got["compute_internet"] == {"atlas-login": "auto"}
    assert got["slurm"] and got["targets"] == ["atlas"] and got["host_list"] == ["atlas-login"]


def test_several_hosts_get_their_shares_in_order() -> None:
    settings = {
        "localhost": {"scheduler": "local"},
        "atlas-login": {**SLURM, "compute_internet": False, "preempt_signal_seconds": 0},
    }
    got = plan("local,atlas", GROUPS, settings)
    assert [got["hosts"][h]["shard"] for h in got["host_list"]] == ["1/2", "2/2"]
    assert not got["hosts"]["localhost"]["slurm"]
    # only Slurm hosts have job limits and lab roots; every host says its compute internet
    assert got["job_limits"] == {"atlas-login": {"time": "01:00:00", "preempt_signal_seconds": 0}}
    assert got["lab_roots"] == {"atlas-login": "/srv/lab"}
    assert got["compute_internet"] == {"localhost": "auto", "atlas-login": False}


def test_a_local_only_deploy_needs_no_snapshot() -> None:
    got = plan(None, GROUPS, {"localhost": {"scheduler": "local"}})
    assert not got["slurm"] and got["job_limits"] == {} and got["lab_roots"] == {}


@pytest.mark.parametrize(
    ("settings", "env_path"),
    [
        ({}, ""),
        ({"env_prefix": "/e"}, "/e"),
        ({"env_prefix": "/e", "env_drift_check": "false"}, ""),
        ({"env_prefix": "/e", "env_drift_check": False}, ""),
        ({"env_prefix": "/c/envs/x", "conda_env_conda_root": "/c"}, "/c"),
        ({"conda_env_conda_root": "/c"}, ""),
    ],
)
def test_what_the_drift_check_fingerprints(settings: dict, env_path: str) -> None:
    got = plan("atlas", GROUPS, {"atlas-login": {**SLURM, **settings}})
    assert got["hosts"]["atlas-login"]["env_path"] == env_path


def test_the_first_hosts_sweep_settings_that_are_set() -> None:
    settings = {
        "babel-login": {"sweep_backend": "offline", "wandb_project": None},
        "atlas-login": {"sweep_backend": "wandb", "wandb_entity": "lab"},
    }
    assert plan("babel,atlas", GROUPS, settings)["sweeps"] == {"backend": "offline"}


def test_gate_stops_unless_every_host_passed() -> None:
    with pytest.raises(PlanError) as err:
        gate(["atlas-login", "babel-login"], {"atlas-login": True})
    assert str(err.value) == (
        "nothing was created: babel-login did not pass the checks (unreachable or failed "
        "above); fix that, or leave it out of clusters="
    )
    got = gate(["atlas-login"], {"atlas-login": True}, {"atlas-login": "no wandb"})
    assert got == {"atlas-login": "no wandb"}
    assert gate(["localhost"], {"localhost": True}) == {"localhost": ""}


def test_where_to_watch() -> None:
    deploy = {
        "deploy_id": "d1",
        "experiment": "base",
        "commit": "abc",
        "backend": "wandb",
        "backend_reason": "an API key is configured",
        "sweeps": [
            {"name": "a", "id": "s1", "runs": 4, "agents": 2, "dir": "/d/s1"},
            {"name": "b", "id": "s2", "runs": None, "agents": 1, "url": "http://w/s2"},
        ],
    }
    assert where_to_watch(deploy, "base.yml") == [
        "a: sweep s1 (4 runs, 2 agents) in /d/s1",
        "b: sweep s2 (? runs, 1 agents); watch it at http://w/s2",
        "deploy d1 of base at commit abc; sweeps: wandb (an API key is configured)",
        "progress: sweepops status base.yml",
        "results:  sweepops results base.yml",
    ]
