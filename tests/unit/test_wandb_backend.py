"""sweepops.backends.wandb: backend choice, API key lookup, sweep names (no server needed)."""

from __future__ import annotations

import re

import pytest

from sweepops.backends.wandb import (
    app_url,
    choose_backend,
    find_api_key,
    require_api_key,
    sweep_name,
    sweep_url,
)
from sweepops.core.errors import SweepopsError

KEY = "k" * 40


def test_key_from_env_wins(tmp_path):
    assert find_api_key("http://h:1", env={"WANDB_API_KEY": KEY}, netrc_path=tmp_path / "n") == KEY


def test_key_from_netrc_for_host_and_port(tmp_path):
    rc = tmp_path / "netrc"
    rc.write_text(f"machine 10.0.0.1:8080\n  login user\n  password {KEY}\n")
    rc.chmod(0o600)
    assert find_api_key("http://10.0.0.1:8080", env={}, netrc_path=rc) == KEY
    assert find_api_key("http://10.0.0.1:9090", env={}, netrc_path=rc) is None
    assert find_api_key("http://x", env={}, netrc_path=tmp_path / "missing") is None


def test_auto_says_which(tmp_path):
    none = tmp_path / "none"
    assert choose_backend("auto", url="http://h", env={}, netrc_path=none)[0] == "offline"
    backend, why = choose_backend(None, url="http://h", env={"WANDB_API_KEY": KEY})
    assert backend == "wandb" and "API key" in why and KEY not in why
    assert choose_backend("offline", url="http://h", env={"WANDB_API_KEY": KEY})[0] == "offline"
    with pytest.raises(SweepopsError, match="unknown sweep_backend"):
        choose_backend("cloud", url="http://h", env={})


def test_no_key_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("NETRC", str(tmp_path / "none"))
    with pytest.raises(SweepopsError, match="needs an API key.*nothing was created"):
        require_api_key("http://h:1", env={"NETRC": str(tmp_path / "none")})


def test_sweep_name_and_url():
    name = sweep_name("composite", ("noisy", "regularised"), {"method": "grid"}, when=0)
    assert re.fullmatch(r"composite_19700101_noisy-regularised_[0-9a-f]{7}", name)
    assert sweep_name("base", (), {"a": 1}, when=0).count("_") == 2
    assert sweep_name("b", (), {"a": 1}) != sweep_name("b", (), {"a": 2})
    assert app_url("https://api.wandb.ai") == "https://wandb.ai"
    assert sweep_url("http://127.0.0.1:5", "e", "p", "s1") == "http://127.0.0.1:5/e/p/sweeps/s1"


def test_key_from_the_private_key_file(tmp_path):
    from sweepops.backends.wandb import KEY_FILE_ENV

    path = tmp_path / "k"
    path.write_text(KEY + "\n")
    assert find_api_key("http://h", env={KEY_FILE_ENV: str(path)}, netrc_path=tmp_path / "n") == KEY
