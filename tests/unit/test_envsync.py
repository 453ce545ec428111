"""sweepops.artifacts.envsync: manifests, drift, package lists, the ledger record; and the cluster-side
module's walk (library/sweepops_env_manifest.py) agreeing with the package's."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sweepops.artifacts import envsync
from sweepops.core.errors import SweepopsError
from sweepops.records import ledger
from tests.conftest import REPO


def load_module(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "library" / f"{name}.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def env(tmp_path: Path) -> Path:
    """A small fake conda env with the things the sync must skip."""
    p = tmp_path / "envs" / "demo"
    (p / "bin").mkdir(parents=True)
    (p / "bin" / "python").write_text("#!/bin/sh\nexit 1\n")
    (p / "bin" / "python").chmod(0o755)
    (p / "conda-meta").mkdir()
    (p / "conda-meta" / "six-1.16.0.json").write_text("{}")
    site = p / "lib" / "python3.11" / "site-packages"
    (site / "six-1.16.0.dist-info").mkdir(parents=True)
    (site / "six-1.16.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\n\nbody\n"
    )
    (site / "six.py").write_text("x = 1\n")
    (site / "__pycache__").mkdir()
    (site / "__pycache__" / "six.cpython-311.pyc").write_bytes(b"\0")
    (site / "stray.pyc").write_bytes(b"\0")
    (p / "pkgs").mkdir()  # a cache at the top: skipped
    (p / "pkgs" / "big.tar.bz2").write_bytes(b"\0" * 100)
    (p / "lib" / "pkgs").mkdir()  # not at the top: kept
    (p / "lib" / "pkgs" / "keep.txt").write_text("k")
    (p / "bin" / "python3").symlink_to("python")
    (p / "share").symlink_to("lib")  # a directory symlink: an entry, not walked
    return p


def test_manifest_skips_caches_and_bytecode(env: Path) -> None:
    paths = [e[0] for e in envsync.manifest(env)]
    assert "lib/python3.11/site-packages/six.py" in paths
    assert "lib/pkgs/keep.txt" in paths
    assert not any(p.startswith("pkgs/") for p in paths)
    assert not any("__pycache__" in p or p.endswith(".pyc") for p in paths)
    entries = {e[0]: e for e in envsync.manifest(env)}
    assert entries["bin/python3"][1:4] == ("l", 0, "python")
    assert entries["share"][1] == "l"
    assert entries["bin/python"][4] is True
    assert entries["lib/pkgs/keep.txt"][4] is False


def test_cluster_module_walks_with_the_packages_code() -> None:
    """The cluster-side module imports the package's own manifest code (shipped by Ansible
    as module_utils), so both sides walk the tree the same way by construction."""
    repo = Path(__file__).resolve().parents[2]
    link = repo / "module_utils" / "sweepops_remote"
    assert link.resolve() == (repo / "sweepops" / "remote").resolve()
    module = (repo / "library" / "sweepops_env_manifest.py").read_text()
    assert "from ansible.module_utils.sweepops_remote.manifest import SPEC, env_manifest" in module
    assert "os.walk" not in module


def test_rsync_excludes_match_the_manifest(env: Path, tmp_path: Path) -> None:
    """What rsync copies with these excludes is exactly what the manifest lists."""
    dest = tmp_path / "copy"
    subprocess.run(
        [
            "rsync",
            "-a",
            *(f"--exclude={x}" for x in envsync.rsync_excludes()),
            f"{env}/",
            str(dest),
        ],
        check=True,
    )
    assert envsync.manifest(dest) == envsync.manifest(env)


def test_drift_names_changed_missing_and_extra_files(env: Path) -> None:
    before = envsync.manifest(env)
    assert envsync.drift(before, before).clean
    (env / "lib" / "python3.11" / "site-packages" / "six.py").write_text("x = 22\n")
    (env / "new.txt").write_text("n")
    (env / "lib" / "pkgs" / "keep.txt").unlink()
    d = envsync.drift(envsync.manifest(env), before)
    assert d.changed == ["lib/python3.11/site-packages/six.py"]
    assert d.missing == ["new.txt"]
    assert d.extra == ["lib/pkgs/keep.txt"]
    text = d.describe()
    assert "six.py" in text and "new.txt" in text and "keep.txt" in text
    # entries that went through JSON (lists, as Ansible returns them) compare the same
    as_json = [list(e) for e in before]
    assert envsync.drift(before, as_json).clean


def test_drift_sees_a_touched_file_by_mtime_and_content_mode_ignores_it(env: Path) -> None:
    f = env / "lib" / "pkgs" / "keep.txt"
    before, before_c = envsync.manifest(env), envsync.manifest(env, content=True)
    os.utime(f, (1_000_000, 1_000_000))
    assert envsync.drift(envsync.manifest(env), before).changed == ["lib/pkgs/keep.txt"]
    assert envsync.drift(envsync.manifest(env, content=True), before_c).clean


def test_describe_limits_the_list() -> None:
    d = envsync.Drift(changed=[f"f{i}" for i in range(30)])
    assert "(+10 more)" in d.describe(limit=20)


def test_check_prefix_errors(tmp_path: Path) -> None:
    with pytest.raises(SweepopsError, match="not an absolute path"):
        envsync.check_prefix("envs/x")
    with pytest.raises(SweepopsError, match="no such conda env"):
        envsync.check_prefix(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SweepopsError, match="no bin/python"):
        envsync.check_prefix(tmp_path / "empty")


def test_find_conda_of_an_env_under_a_root(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONDA_EXE", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    assert envsync.find_conda(env) is None
    conda = env.parent.parent / "bin" / "conda"  # ROOT/envs/demo -> ROOT/bin/conda
    conda.parent.mkdir()
    conda.write_text("#!/bin/sh\n")
    conda.chmod(0o755)
    assert envsync.find_conda(env) == str(conda)


def test_package_list_uses_conda_list_explicit_for_a_conda_env(env: Path) -> None:
    conda = env.parent / "fake-conda"
    conda.write_text('#!/bin/sh\necho "@EXPLICIT"\necho "https://x/six-1.16.0.conda#abc $*"\n')
    conda.chmod(0o755)
    source, text = envsync.package_list(env, conda=str(conda))
    assert source == "conda list --explicit"
    assert "@EXPLICIT" in text and f"--prefix {env}" in text


def test_package_list_falls_back_to_dist_info(env: Path) -> None:
    # bin/python here is not a python: pip freeze fails, the dist-info scan remains
    source, text = envsync.package_list(env, conda="/nonexistent/conda")
    assert (source, text) == ("dist-info", "six==1.16.0\n")


def test_package_list_of_a_real_venv_is_pip_freeze(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    source, _ = envsync.package_list(venv)
    # no pip in a --without-pip venv: the scan; with pip: pip freeze
    assert source in ("pip freeze --all", "dist-info")


def test_lock_text_is_stable_and_hashes_the_list() -> None:
    sha, text = envsync.lock_text("demo", "/p", "pip freeze --all", "six==1.16.0\n")
    assert (sha, text) == envsync.lock_text("demo", "/p", "pip freeze --all", "six==1.16.0\n")
    assert f"# sha256: {sha}" in text and text.endswith("six==1.16.0\n")
    assert sha != envsync.lock_text("demo", "/p", "pip freeze --all", "six==1.17.0\n")[0]


def test_record_env_appends_only_changes(tmp_path: Path) -> None:
    info = {"name": "demo", "prefix": "/p", "lock_sha256": "a"}
    assert envsync.record_env(tmp_path, "atlas-login", info, dry_run=True)
    assert ledger.records(tmp_path) == []
    assert envsync.record_env(tmp_path, "atlas-login", info)
    assert not envsync.record_env(tmp_path, "atlas-login", info)
    assert envsync.record_env(tmp_path, "babel-login", info)
    assert envsync.record_env(tmp_path, "atlas-login", {**info, "lock_sha256": "b"})
    assert envsync.latest_env(tmp_path, "atlas-login", "demo") == {**info, "lock_sha256": "b"}
    assert len(ledger.records(tmp_path)) == 3
