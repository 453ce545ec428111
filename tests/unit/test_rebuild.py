"""sweepops.artifacts.rebuild: a deploy's snapshot rebuilt from its commit and stored diff, on real git
repositories in tmp_path; the tree hash must be the snapshot's key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sweepops.artifacts.rebuild import rebuild
from sweepops.artifacts.snapshot import snapshot_of
from sweepops.core.errors import SweepopsError
from tests import conftest


def git(repo: Path, *args: str) -> str:
    return conftest.git(repo, *args).strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    (repo / "train.py").write_text("print('train')\n")
    (repo / "run.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(repo / "run.sh", 0o755)
    (repo / "src" / "model.py").write_text("W = 1\n")
    (repo / "weights.bin").write_bytes(bytes(range(256)) * 4)
    (repo / ".gitignore").write_text("*.ckpt\n")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    return repo


def test_clean_snapshot_is_the_commit(repo: Path, tmp_path: Path) -> None:
    snap = snapshot_of(repo, allow_dirty=False)
    made = rebuild(repo, str(snap.commit), None, snap.key, tmp_path / "out")
    assert made.key == snap.key
    assert set(made.files) == set(snap.files)
    assert (tmp_path / "out" / "train.py").read_text() == "print('train')\n"
    assert os.access(tmp_path / "out" / "run.sh", os.X_OK)


def test_dirty_snapshot_from_commit_plus_diff(repo: Path, tmp_path: Path) -> None:
    # modified, new, deleted, binary-changed and mode-changed files, and an ignored one
    (repo / "train.py").write_text("print('v2')\n")
    (repo / "new.py").write_text("NEW = 1\n")
    (repo / "src" / "model.py").unlink()
    (repo / "weights.bin").write_bytes(bytes(range(255, -1, -1)) * 4)
    os.chmod(repo / "train.py", 0o755)
    (repo / "model.ckpt").write_text("ignored")
    snap = snapshot_of(repo, allow_dirty=True)
    commit = str(snap.commit)
    # The work tree moves on (committed or not): the rebuild uses only commit + diff.
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "later")
    (repo / "train.py").write_text("print('v3')\n")

    made = rebuild(repo, commit, snap.diff, snap.key, tmp_path / "out")
    out = tmp_path / "out"
    assert made.key == snap.key
    assert (out / "train.py").read_text() == "print('v2')\n"
    assert (out / "new.py").read_text() == "NEW = 1\n"
    assert not (out / "src" / "model.py").exists()
    assert (out / "weights.bin").read_bytes() == bytes(range(255, -1, -1)) * 4
    assert not (out / "model.ckpt").exists()
    assert sorted(made.files) == sorted(snap.files)


def test_unknown_commit_is_refused(repo: Path, tmp_path: Path) -> None:
    snap = snapshot_of(repo, allow_dirty=False)
    with pytest.raises(SweepopsError, match="is not in") as err:
        rebuild(repo, "0" * 40, None, snap.key, tmp_path / "out")
    assert "git fetch" in str(err.value)


def test_a_tree_that_differs_is_refused(repo: Path, tmp_path: Path) -> None:
    (repo / "train.py").write_text("print('v2')\n")
    snap = snapshot_of(repo, allow_dirty=True)
    # the diff of another change: applies, but gives another tree
    other = snap.diff.replace("+print('v2')", "+print('v9')")
    with pytest.raises(SweepopsError, match="not the recorded snapshot"):
        rebuild(repo, str(snap.commit), other, snap.key, tmp_path / "out")
    # a diff that does not apply at all
    with pytest.raises(SweepopsError, match="does not apply"):
        rebuild(
            repo,
            str(snap.commit),
            snap.diff.replace("-print('train')", "-nope"),
            snap.key,
            tmp_path / "out2",
        )
    # and no diff at all for a dirty snapshot
    with pytest.raises(SweepopsError, match="not the recorded snapshot"):
        rebuild(repo, str(snap.commit), None, snap.key, tmp_path / "out3")


def test_the_repository_is_untouched(repo: Path, tmp_path: Path) -> None:
    (repo / "train.py").write_text("print('v2')\n")
    snap = snapshot_of(repo, allow_dirty=True)
    index = (repo / ".git" / "index").read_bytes()
    status = git(repo, "status", "--porcelain")
    rebuild(repo, str(snap.commit), snap.diff, snap.key, tmp_path / "out")
    assert (repo / ".git" / "index").read_bytes() == index
    assert git(repo, "status", "--porcelain") == status
    assert (repo / "train.py").read_text() == "print('v2')\n"


def test_a_snapshot_with_submodules_is_not_rebuilt(repo: Path, tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "layers.py").write_text("DEPTH = 3\n")
    git(lib, "init", "-q")
    git(lib, "add", "-A")
    git(lib, "commit", "-qm", "lib")
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "vendor/lib")
    git(repo, "commit", "-qm", "add lib")
    snap = snapshot_of(repo, allow_dirty=False)
    with pytest.raises(SweepopsError, match=r"has git submodules \(vendor/lib\)"):
        rebuild(repo, str(snap.commit), None, snap.key, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_dirty_non_utf8_file_is_rebuilt_byte_for_byte(repo: Path, tmp_path: Path) -> None:
    (repo / "notes.txt").write_bytes("caf\xe9 = 1\n".encode("latin-1"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "latin-1")
    (repo / "notes.txt").write_bytes("caf\xe9 = 2\n".encode("latin-1"))
    snap = snapshot_of(repo, allow_dirty=True)
    stored = tmp_path / "dirty.diff"
    stored.write_text(snap.diff, errors="surrogateescape")  # as the deploy stores it
    diff = stored.read_text(errors="surrogateescape")  # as reproduce reads it
    made = rebuild(repo, str(snap.commit), diff, snap.key, tmp_path / "out")
    assert made.key == snap.key
    assert (tmp_path / "out" / "notes.txt").read_bytes() == "caf\xe9 = 2\n".encode("latin-1")
