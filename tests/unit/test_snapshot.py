"""sweepops.artifacts.snapshot on real git repositories in tmp_path."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from sweepops.artifacts.snapshot import (
    MAX_LISTED,
    snapshot_of,
    write_file_list,
    write_manifest,
)
from sweepops.core.errors import SweepopsError


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def head_tree(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD^{tree}")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    (repo / "train.py").write_text("print('train')\n")
    (repo / "src" / "model.py").write_text("W = 1\n")
    (repo / ".gitignore").write_text("*.ckpt\ndata/\n")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    return repo


def test_clean_tree_key_is_head_tree(repo: Path) -> None:
    snap = snapshot_of(repo, allow_dirty=False)
    assert snap.key == head_tree(repo)
    assert snap.commit == git(repo, "rev-parse", "HEAD")
    assert not snap.dirty and snap.dirty_files == () and snap.diff == ""
    assert snap.files == (".gitignore", "src/model.py", "train.py")


def test_snapshot_does_not_touch_the_real_index(repo: Path) -> None:
    (repo / "new.py").write_text("x = 1\n")
    before = (repo / ".git" / "index").read_bytes()
    snapshot_of(repo, allow_dirty=True)
    assert (repo / ".git" / "index").read_bytes() == before
    assert git(repo, "status", "--porcelain") == "?? new.py"


def test_key_changes_with_an_edit_and_matches_the_commit(repo: Path) -> None:
    clean = snapshot_of(repo, allow_dirty=False).key
    (repo / "train.py").write_text("print('train v2')\n")
    dirty = snapshot_of(repo, allow_dirty=True)
    assert dirty.key != clean
    assert dirty.changes == (("M", "train.py"),)
    git(repo, "commit", "-qam", "v2")
    # What was deployed dirty is exactly what got committed: same key.
    assert snapshot_of(repo, allow_dirty=False).key == dirty.key == head_tree(repo)


def test_ancestors_are_earlier_trees_newest_first(repo: Path) -> None:
    first = head_tree(repo)
    assert snapshot_of(repo, allow_dirty=False).ancestors == ()
    (repo / "train.py").write_text("v2\n")
    assert snapshot_of(repo, allow_dirty=True).ancestors == (first,)
    git(repo, "commit", "-qam", "v2")
    second = head_tree(repo)
    (repo / "train.py").write_text("v3\n")
    assert snapshot_of(repo, allow_dirty=True).ancestors == (second, first)


def test_gitignored_files_are_ignored(repo: Path) -> None:
    (repo / "model.ckpt").write_bytes(b"\0" * 100)
    (repo / "data").mkdir()
    (repo / "data" / "big.bin").write_bytes(b"x")
    snap = snapshot_of(repo, allow_dirty=False)
    assert snap.key == head_tree(repo)
    assert "model.ckpt" not in snap.files and "data/big.bin" not in snap.files


def test_state_dir_is_never_part_of_a_snapshot(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    repo.mkdir()
    (repo / "a.py").write_text("a\n")
    git(repo, "init", "-q")
    git(repo, "add", "a.py")
    git(repo, "commit", "-qm", "a")
    (repo / ".sweepops" / "snapshots").mkdir(parents=True)  # not in this repo's .gitignore
    (repo / ".sweepops" / "snapshots" / "x.files").write_text("x")
    snap = snapshot_of(repo, allow_dirty=False)
    assert snap.key == head_tree(repo) and snap.files == ("a.py",)


def test_a_tracked_state_dir_is_taken_as_committed(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    (repo / ".sweepops").mkdir(parents=True)
    (repo / ".sweepops" / "tracked.txt").write_text("t\n")
    (repo / "a.py").write_text("a\n")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "tracks .sweepops")
    (repo / ".sweepops" / "snapshots").mkdir()
    (repo / ".sweepops" / "snapshots" / "x[1].files").write_text("x")
    snap = snapshot_of(repo, allow_dirty=False)
    assert snap.key == head_tree(repo)
    assert snap.files == (".sweepops/tracked.txt", "a.py")
    # Excluded paths are not code: the snapshot takes them as committed, edits or not.
    (repo / ".sweepops" / "tracked.txt").write_text("changed\n")
    assert snapshot_of(repo, allow_dirty=False).key == head_tree(repo)


def test_untracked_files_are_dirty_and_listed(repo: Path) -> None:
    (repo / "notes.py").write_text("n = 1\n")
    with pytest.raises(SweepopsError) as err:
        snapshot_of(repo, allow_dirty=False)
    assert "A notes.py" in str(err.value)
    snap = snapshot_of(repo, allow_dirty=True)
    assert snap.dirty_files == ("notes.py",)
    assert "notes.py" in snap.files


def test_dirty_tree_is_refused_with_the_file_list_and_hint(repo: Path) -> None:
    (repo / "train.py").write_text("changed\n")
    (repo / "src" / "model.py").unlink()
    (repo / "extra.py").write_text("e\n")
    with pytest.raises(SweepopsError) as err:
        snapshot_of(repo, allow_dirty=False)
    text = str(err.value)
    assert "3 uncommitted change(s)" in text
    for line in ("M train.py", "D src/model.py", "A extra.py"):
        assert line in text
    assert "allow_dirty=true" in text and "commit or stash" in text


def test_long_dirty_list_is_cut(repo: Path) -> None:
    for i in range(MAX_LISTED + 5):
        (repo / f"f{i:02d}.py").write_text(f"{i}\n")
    with pytest.raises(SweepopsError) as err:
        snapshot_of(repo, allow_dirty=False)
    text = str(err.value)
    assert f"{MAX_LISTED + 5} uncommitted" in text and "and 5 more" in text
    assert "f24.py" not in text


def test_allow_dirty_returns_a_diff_that_rebuilds_the_snapshot(repo: Path, tmp_path: Path) -> None:
    (repo / "train.py").write_text("print('v2')\n")
    (repo / "new.py").write_text("NEW = 1\n")
    snap = snapshot_of(repo, allow_dirty=True)
    assert snap.dirty and set(snap.dirty_files) == {"train.py", "new.py"}
    assert "# M train.py" in snap.diff and "# A new.py" in snap.diff
    assert "+print('v2')" in snap.diff and "+NEW = 1" in snap.diff
    # HEAD + the stored diff == the snapshot
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    (tmp_path / "d.diff").write_text(snap.diff)
    git(clone, "apply", str(tmp_path / "d.diff"))
    assert snapshot_of(clone, allow_dirty=True).key == snap.key


def test_deleted_files_are_not_in_files(repo: Path) -> None:
    (repo / "src" / "model.py").unlink()
    snap = snapshot_of(repo, allow_dirty=True)
    assert snap.changes == (("D", "src/model.py"),)
    assert "src/model.py" not in snap.files


def test_odd_file_names(repo: Path, tmp_path: Path) -> None:
    odd = ["with space.py", "new\nline.py", "-dash.py", "ünï cødé.py", "star*[x].py", "tab\t.py"]
    for name in odd:
        (repo / name).write_text(name + "\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "odd")
    snap = snapshot_of(repo, allow_dirty=False)
    assert snap.key == head_tree(repo)
    assert set(odd) <= set(snap.files)
    manifest = tmp_path / "m" / "files"
    assert write_manifest(snap, manifest) is True
    assert write_manifest(snap, manifest) is False  # same content: untouched
    entries = manifest.read_bytes().split(b"\0")
    assert entries[-1] == b""
    assert [os.fsdecode(e) for e in entries[:-1]] == list(snap.files)


def test_dirty_listing_quotes_newlines(repo: Path) -> None:
    (repo / "a\nb.py").write_text("x\n")
    with pytest.raises(SweepopsError) as err:
        snapshot_of(repo, allow_dirty=False)
    assert "A 'a\\nb.py'" in str(err.value)


def test_symlinks_are_kept(repo: Path) -> None:
    (repo / "link.py").symlink_to("train.py")
    (repo / "dangling").symlink_to("nowhere")
    snap = snapshot_of(repo, allow_dirty=True)
    assert {"link.py", "dangling"} <= set(snap.files)


def test_not_a_git_repo(tmp_path: Path) -> None:
    with pytest.raises(SweepopsError, match="not a git work tree"):
        snapshot_of(tmp_path, allow_dirty=True)
    with pytest.raises(SweepopsError, match="no such directory"):
        snapshot_of(tmp_path / "missing", allow_dirty=True)


def test_subdirectory_is_refused_with_the_top_level(repo: Path) -> None:
    with pytest.raises(SweepopsError, match="not its top level") as err:
        snapshot_of(repo / "src", allow_dirty=True)
    assert str(repo) in str(err.value)


def test_repository_without_commits(tmp_path: Path) -> None:
    repo = tmp_path / "fresh"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "a.py").write_text("a\n")
    with pytest.raises(SweepopsError, match="A a.py"):
        snapshot_of(repo, allow_dirty=False)
    snap = snapshot_of(repo, allow_dirty=True)
    assert snap.commit is None and snap.files == ("a.py",) and "+a" in snap.diff


def test_tracked_files_matching_gitignore_stay(repo: Path) -> None:
    (repo / "keep.ckpt").write_text("tracked on purpose\n")
    git(repo, "add", "-f", "keep.ckpt")
    git(repo, "commit", "-qm", "force-added")
    snap = snapshot_of(repo, allow_dirty=False)
    assert snap.key == head_tree(repo) and "keep.ckpt" in snap.files


def test_write_file_list_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.files"
    write_file_list([], path)
    assert path.read_bytes() == b""


def test_journal_edits_do_not_dirty_the_tree_or_change_the_key(repo: Path) -> None:
    (repo / "journal").mkdir()
    (repo / "journal" / "base.md").write_text("# base\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "journal")
    clean = snapshot_of(repo, allow_dirty=False)
    (repo / "journal" / "base.md").write_text("# base\n\nA deploy entry written by sweepops.\n")
    (repo / "journal" / "other.md").write_text("# other\n")
    after = snapshot_of(repo, allow_dirty=False)  # no refusal
    assert after.key == clean.key == head_tree(repo)
    assert not after.dirty
    # Code edits still count.
    (repo / "journal.py").write_text("x = 1\n")
    with pytest.raises(SweepopsError):
        snapshot_of(repo, allow_dirty=False)


@pytest.fixture
def with_submodule(repo: Path, tmp_path: Path) -> Path:
    lib = tmp_path / "lib"
    (lib / "pkg").mkdir(parents=True)
    (lib / "pkg" / "layers.py").write_text("DEPTH = 3\n")
    git(lib, "init", "-q")
    git(lib, "add", "-A")
    git(lib, "commit", "-qm", "lib")
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "vendor/lib")
    git(repo, "commit", "-qm", "add lib")
    return repo


def test_submodule_files_are_synced_and_its_commit_is_in_the_key(with_submodule: Path) -> None:
    snap = snapshot_of(with_submodule, allow_dirty=False)
    assert "vendor/lib/pkg/layers.py" in snap.files
    assert "vendor/lib" not in snap.files  # the gitlink itself is no file to sync
    assert ".gitmodules" in snap.files and "train.py" in snap.files
    assert list(snap.files) == sorted(snap.files, key=os.fsencode)
    assert snap.key == head_tree(with_submodule)  # the gitlink (commit) is part of the tree


def test_a_dirty_submodule_is_refused_even_with_allow_dirty(with_submodule: Path) -> None:
    (with_submodule / "vendor" / "lib" / "pkg" / "layers.py").write_text("DEPTH = 4\n")
    for allow in (False, True):
        with pytest.raises(SweepopsError) as err:
            snapshot_of(with_submodule, allow_dirty=allow)
        assert "submodule vendor/lib has uncommitted change(s)" in str(err.value)
        assert "vendor/lib/pkg/layers.py" in str(err.value)


def test_a_submodule_at_another_commit_makes_the_tree_dirty(with_submodule: Path) -> None:
    sub = with_submodule / "vendor" / "lib"
    (sub / "pkg" / "layers.py").write_text("DEPTH = 5\n")
    git(sub, "commit", "-qam", "deeper")
    with pytest.raises(SweepopsError) as err:
        snapshot_of(with_submodule, allow_dirty=False)
    assert "vendor/lib" in str(err.value)
    snap = snapshot_of(with_submodule, allow_dirty=True)
    assert snap.key != head_tree(with_submodule)
    git(with_submodule, "commit", "-qam", "bump lib")
    assert snapshot_of(with_submodule, allow_dirty=False).key == head_tree(with_submodule)


def test_a_submodule_not_checked_out_is_refused(with_submodule: Path, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(with_submodule), str(clone))  # without --recursive
    with pytest.raises(SweepopsError) as err:
        snapshot_of(clone, allow_dirty=False)
    assert "submodule vendor/lib is not checked out" in str(err.value)
    assert "git submodule update --init" in str(err.value)
