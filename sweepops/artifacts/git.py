"""The one wrapper of git (a subprocess, no library): :func:`run_git` for every git call the
package makes (snapshots, rebuilds), and :func:`git_state`, what code this is (commit,
remote, branch, dirty files)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from sweepops.core.errors import SweepopsError
from sweepops.core.paths import NOT_CODE

__all__ = ["NOT_CODE", "GitState", "git_state", "run_git"]


def run_git(
    repo: Path,
    *args: str,
    index: Path | None = None,
    work_tree: Path | None = None,
    cwd: Path | None = None,
    data: bytes | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """``git -C REPO [--work-tree=W] ARGS`` with parseable messages, no prompts and no
    opportunistic writes to the real index (``index``: a temporary one). Raises
    SweepopsError when git cannot run, or (``check``) when it fails, with git's words."""
    env = dict(os.environ, LC_ALL="C", GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0")
    if index is not None:
        env["GIT_INDEX_FILE"] = str(index)
    cmd = ["git", "-C", str(repo)]
    if work_tree is not None:
        cmd.append(f"--work-tree={work_tree}")
    try:
        proc = subprocess.run(
            [*cmd, *args], input=data, capture_output=True, env=env, check=False, cwd=cwd
        )
    except OSError as exc:
        raise SweepopsError(f"cannot run git: {exc}", hint="install git") from exc
    if check and proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip()
        raise SweepopsError(f"git {' '.join(args)} failed in {repo}: {err}")
    return proc


def _text(root: Path, *args: str) -> str | None:
    """git's output as text, None when git fails (not a work tree, no remote, ...)."""
    try:
        proc = run_git(root, *args, check=False)
    except SweepopsError:
        return None
    if proc.returncode != 0:
        return None
    return proc.stdout.decode(errors="replace").rstrip("\n")


@dataclass(frozen=True)
class GitState:
    commit: str | None = None
    remote: str | None = None
    branch: str | None = None
    dirty_files: tuple[str, ...] = field(default_factory=tuple)

    @property
    def dirty(self) -> bool:
        return bool(self.dirty_files)


def git_state(root: Path) -> GitState:
    """The repository state at ``root``; all None/empty when it is not a git work tree.
    ``dirty_files`` leaves out what sweepops writes (sweepops.core.paths.NOT_CODE)."""
    commit = _text(root, "rev-parse", "HEAD")
    if commit is None:
        return GitState()
    excludes = [f":(exclude){path}" for path in NOT_CODE]
    status = _text(root, "status", "--porcelain", "--untracked-files=normal", "--", ".", *excludes)
    dirty = tuple(line[3:] for line in (status or "").splitlines() if line.strip())
    return GitState(
        commit=commit,
        remote=_text(root, "remote", "get-url", "origin") or None,
        branch=_text(root, "rev-parse", "--abbrev-ref", "HEAD"),
        dirty_files=dirty,
    )
