"""What code is this: commit, remote, dirty files, diff (git via subprocess, no library)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class GitState:
    commit: str | None = None
    remote: str | None = None
    branch: str | None = None
    dirty_files: tuple[str, ...] = field(default_factory=tuple)

    @property
    def dirty(self) -> bool:
        return bool(self.dirty_files)


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.rstrip("\n")


#: What sweepops itself writes in a repository (its state, the journal): never the user's
#: uncommitted changes (the snapshot leaves them out the same way, sweepops.artifacts.snapshot).
NOT_CODE = (".sweepops", "journal")


def git_state(root: Path) -> GitState:
    """The repository state at ``root``; all None/empty when it is not a git work tree.
    ``dirty_files`` leaves out what sweepops writes (:data:`NOT_CODE`)."""
    commit = _git(root, "rev-parse", "HEAD")
    if commit is None:
        return GitState()
    excludes = [f":(exclude){path}" for path in NOT_CODE]
    status = _git(root, "status", "--porcelain", "--untracked-files=normal", "--", ".", *excludes)
    status = status or ""
    dirty = tuple(line[3:] for line in status.splitlines() if line.strip())
    return GitState(
        commit=commit,
        remote=_git(root, "remote", "get-url", "origin") or None,
        branch=_git(root, "rev-parse", "--abbrev-ref", "HEAD"),
        dirty_files=dirty,
    )


def git_diff(root: Path) -> str:
    """The working tree's diff against HEAD (tracked files), for the record of a dirty deploy."""
    return _git(root, "diff", "HEAD") or ""
