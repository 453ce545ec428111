"""Rebuild a deploy's code snapshot on the workstation from its commit and stored diff.

A snapshot on a cluster (``LAB/code/KEY``) may be deleted or garbage-collected. The deploy
recorded what it was made of: the commit (HEAD at the time) and, for an ``allow_dirty``
deploy, the diff from that commit to the snapshot (``.sweepops/deploys/ID/dirty.diff``,
see :mod:`sweepops.artifacts.snapshot`). :func:`rebuild` writes exactly that tree into a directory:

1. the commit's files, checked out from a private index (``git read-tree`` +
   ``git checkout-index --prefix``: the repository's index and work tree are not touched);
2. the diff applied with ``git apply`` (binary hunks included);
3. the result's git tree hash computed the way the snapshot computed it (the same index,
   ``git add -A`` over the rebuilt directory, ``git write-tree``) and compared with the
   recorded key: a tree that differs in one byte is refused.

It returns the file list to sync, so the ``code_sync`` role can put the tree on the cluster
again as ``LAB/code/KEY``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sweepops.artifacts.git import run_git
from sweepops.core.errors import SweepopsError


@dataclass(frozen=True)
class Rebuilt:
    """A snapshot rebuilt in ``path`` whose tree hash is ``key``."""

    path: Path
    key: str
    files: tuple[str, ...]


def _git(
    repo: Path,
    *args: str,
    index: Path | None = None,
    work_tree: Path | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    return run_git(repo, *args, index=index, work_tree=work_tree, cwd=repo, check=check)


def commit_known(repo: Path, commit: str) -> bool:
    return _git(repo, "cat-file", "-e", f"{commit}^{{commit}}", check=False).returncode == 0


def tree_of(repo: Path, directory: Path, base_commit: str, index: Path) -> str:
    """The git tree hash of ``directory`` as the snapshot computes it: ``add -A`` over an
    index that starts from ``base_commit`` (tracked files stay tracked even if ignored)."""
    _git(repo, "read-tree", base_commit, index=index)
    _git(repo, "add", "-A", index=index, work_tree=directory)
    return _git(repo, "write-tree", index=index).stdout.decode().strip()


def rebuild(repo: Path, commit: str, diff: str | None, key: str, dest: Path) -> Rebuilt:
    """Write the tree ``key`` = ``commit`` + ``diff`` into ``dest`` (emptied first).

    Raises SweepopsError, saying why and what to do, when the commit is not in ``repo``,
    the diff does not apply, or the rebuilt tree's hash is not ``key``."""
    repo = Path(repo)
    if not commit:
        raise SweepopsError(
            "the deploy recorded no commit, so its snapshot cannot be rebuilt",
            hint="re-run the experiment with a new deploy",
        )
    if not commit_known(repo, commit):
        raise SweepopsError(
            f"commit {commit} is not in {repo}, so the snapshot {key} cannot be rebuilt",
            hint="fetch the branch or tag that holds it (git fetch --all), then try again",
        )
    listing = _git(repo, "ls-tree", "-r", "-z", commit).stdout
    submodules = [
        os.fsdecode(entry.split(b"\t", 1)[1])
        for entry in listing.split(b"\0")
        if entry.startswith(b"160000 ")
    ]
    if submodules:
        # Their files are not in this repository's objects: a rebuilt tree would lack them
        # and still hash to the key (a gitlink is only a commit id).
        raise SweepopsError(
            f"the snapshot {key} has git submodules ({', '.join(submodules)}), whose files "
            "cannot be rebuilt from this repository, so it is not rebuilt",
            hint="keep the snapshot on the cluster (sweepops gc keeps what live jobs use and "
            "the newest; --keep N for more), or check out the commit and deploy it again",
        )
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="sweepops-rebuild-") as tmp:
        index = Path(tmp) / "index"
        _git(repo, "read-tree", commit, index=index)
        _git(repo, "checkout-index", "-a", "-f", f"--prefix={dest}/", index=index)
        if diff and diff.strip():
            patch = Path(tmp) / "dirty.diff"
            patch.write_text(diff, errors="surrogateescape")  # the bytes git gave
            # Outside any repository (GIT_CEILING_DIRECTORIES), so paths are dest's own.
            env = dict(os.environ, LC_ALL="C", GIT_CEILING_DIRECTORIES=str(dest.parent))
            env.pop("GIT_DIR", None)
            proc = subprocess.run(
                ["git", "apply", "--whitespace=nowarn", str(patch)],
                cwd=dest,
                capture_output=True,
                env=env,
                check=False,
            )
            if proc.returncode != 0:
                err = proc.stderr.decode(errors="replace").strip()
                raise SweepopsError(
                    f"the stored diff does not apply to commit {commit[:12]}: {err}",
                    hint="the diff file was edited or belongs to another deploy",
                )
        got = tree_of(repo, dest, commit, index)
        if got != key:
            raise SweepopsError(
                f"the tree rebuilt from commit {commit[:12]} and the stored diff is {got}, "
                f"not the recorded snapshot {key}: refusing to run other code",
                hint="the stored diff or the repository's ignore rules changed since; "
                "restore LAB/code/KEY on the cluster from a backup, or re-run the experiment",
            )
        listed = _git(repo, "ls-files", "-z", index=index).stdout
    files = tuple(os.fsdecode(f) for f in listed.split(b"\0") if f)
    return Rebuilt(path=dest, key=key, files=files)
