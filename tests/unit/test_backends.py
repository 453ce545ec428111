"""The sweep-backend interface: one choice of backend (backends.select), what each backend
adds to a deploy and its sweeps, which runs are on a disk, and the checks a wandb deploy
makes before anything is created (no server is asked: every case here refuses first or is a
dry run)."""

from __future__ import annotations

import pytest

from sweepops.backends.base import CreateRequest, RemoteSweep
from sweepops.backends.offline import OfflineBackend
from sweepops.backends.select import backend_of, runs_on_disk, select_backend
from sweepops.backends.wandb import WandbBackend
from sweepops.core.errors import SweepopsError
from sweepops.ops.create_sweeps import create_sweeps

URL = "http://127.0.0.1:9"


@pytest.fixture
def no_key(monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("SWEEPOPS_WANDB_KEY_FILE", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))


def test_the_backend_is_chosen_once_and_says_why(no_key):
    chosen = select_backend(None, url=URL)
    assert isinstance(chosen, OfflineBackend) and chosen.why.startswith("auto: no wandb API key")
    chosen = select_backend("wandb", url=URL)
    assert isinstance(chosen, WandbBackend) and chosen.why == "sweep_backend: wandb"
    with pytest.raises(SweepopsError, match="unknown sweep_backend 'slurm'"):
        select_backend("slurm", url=URL)


def test_the_offline_backend_makes_nothing_beyond_the_sweep_directories(tmp_path):
    backend = OfflineBackend("sweep_backend: offline", URL)
    assert backend.create(None, [{}, {}], CreateRequest(root=tmp_path)) == [None, None]
    env = {"WANDB_PROJECT": "e"}
    assert backend.sweep_fields(env, None) == ({}, {}) and env == {"WANDB_PROJECT": "e"}
    assert backend.record_fields(None) == {} and backend.watch_url({"url": "x"}) is None
    assert backend.runs_on_disk("local") and backend.runs_on_disk("atlas-login")


def test_a_wandb_sweep_s_agents_get_its_project_entity_and_url():
    backend = WandbBackend("sweep_backend: wandb", URL)
    backend.entity, backend.project = "lab", "proj"
    remote = RemoteSweep("n_1", "abc123", "lab", "proj", f"{URL}/lab/proj/sweeps/abc123")
    env = {"WANDB_PROJECT": "exp"}
    meta, entry = backend.sweep_fields(env, remote)
    assert env == {"WANDB_PROJECT": "proj", "WANDB_ENTITY": "lab"}
    assert meta["engine"] == "wandb" and meta["path"] == "lab/proj/abc123"
    assert entry["url"] == remote.url and entry["run_env"] is env
    assert backend.watch_url(entry) == remote.url
    assert backend.record_fields(None)["handoff"] == {}


def test_runs_are_on_disk_for_offline_sweeps_and_where_a_wandb_sweep_is_handed_off():
    deploy = {
        "backend": "wandb",
        "handoff": {"fjord-login": "no internet"},
        "sweeps": [{"id": "w1", "backend": "wandb"}, {"id": "o1", "backend": "offline"}],
    }
    on_disk = runs_on_disk(deploy)
    assert not on_disk("w1", "local") and not on_disk("w1", "atlas-login")
    assert on_disk("w1", "fjord-login")
    assert on_disk("o1", "local") and on_disk("o1", "atlas-login")
    assert isinstance(backend_of({"sweeps": []}), OfflineBackend)  # old lines: offline


class _Exp:
    name, raw, sweeps = "e", {}, ()


def test_wandb_refuses_a_cluster_that_cannot_run_its_agent_before_anything_is_made(tmp_path):
    backend = WandbBackend("sweep_backend: wandb", URL)
    request = CreateRequest(
        root=tmp_path,
        compute_internet={"atlas-login": True},
        wandb_problems={"atlas-login": "atlas: wandb is not importable by the jobs"},
    )
    with pytest.raises(SweepopsError, match="not importable.*nothing was created"):
        backend.create(_Exp(), [], request)


def test_wandb_refuses_clusters_with_and_without_internet_in_one_deploy(tmp_path):
    backend = WandbBackend("sweep_backend: wandb", URL)
    backend.handoff = {"fjord-login": "no internet"}
    with pytest.raises(SweepopsError, match="cannot mix clusters"):
        backend.refuse_mixed({"atlas-login": True, "fjord-login": False})
    backend.refuse_mixed({"fjord-login": False})  # all offline: fine


def test_create_sweeps_records_the_chosen_backend_s_fields(mini_repo, no_key):
    record, _ = create_sweeps("base", root=mini_repo, dry_run=True, backend="wandb", base_url=URL)
    assert record["backend"] == "wandb" and record["backend_reason"] == "sweep_backend: wandb"
    assert record["project"] == "base" and record["base_url"] == URL and record["handoff"] == {}
    (entry,) = record["sweeps"]
    assert entry["backend"] == "wandb" and entry["meta"]["engine"] == "wandb"
    assert entry["run_env"]["WANDB_PROJECT"] == "base"
    record, _ = create_sweeps("base", root=mini_repo, dry_run=True, backend="offline")
    assert record["backend"] == "offline" and "handoff" not in record
    (entry,) = record["sweeps"]
    assert entry["meta"]["engine"] == "offline" and "run_env" not in entry


def test_each_backend_says_what_its_agents_run_here(tmp_path, monkeypatch):
    from sweepops.backends.select import agents_backend
    from sweepops.runtime.offline_sweep import OfflineSweep

    config = {"method": "grid", "parameters": {"x": {"values": [1]}}, "program": "p.py"}
    sweep = OfflineSweep.create(
        tmp_path,
        config=config,
        name="s",
        extra={"workdir": "sub", "base_url": URL, "run_env": {"WANDB_RUN_GROUP": "d1"}},
    )
    offline = agents_backend(None)
    argv, cwd = offline.agent_argv(
        sweep, 2, python="py", code_dir=tmp_path / "code", agent_args=["--lease", "9"], target=None
    )
    assert argv == [
        "py", "-m", "sweepops", "agent", str(sweep.path), "--code-dir", str(tmp_path / "code"),
        "--report", str(sweep.path / "agents" / "local-2.exit"), "--lease", "9",
    ]  # fmt: skip
    assert cwd == tmp_path / "code"
    env: dict[str, str] = {}
    offline.agent_env(sweep, env)
    assert env == {}

    online = agents_backend("lab/proj/abc")
    argv, cwd = online.agent_argv(
        sweep, 1, python="py", code_dir=tmp_path / "code", agent_args=["--lease", "9"],
        target="lab/proj/abc",
    )  # fmt: skip
    assert argv == ["py", "-m", "wandb", "agent", "lab/proj/abc"]
    assert cwd == tmp_path / "code" / "sub"
    key_file = tmp_path / "key"
    key_file.write_text("k" * 40)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    env = {"SWEEPOPS_WANDB_KEY_FILE": str(key_file), "WANDB_RUN_GROUP": "mine"}
    monkeypatch.setenv("SWEEPOPS_WANDB_KEY_FILE", str(key_file))
    online.agent_env(sweep, env)
    # the key itself (the file goes with this process), the server, the run metadata (what
    # the environment already sets wins)
    assert env == {"WANDB_API_KEY": "k" * 40, "WANDB_BASE_URL": URL, "WANDB_RUN_GROUP": "mine"}
