"""Immutable code snapshots: what a deploy puts on the cluster, keyed by its content.

A snapshot is the working tree *as git would commit it* (``.gitignore`` honoured): its key is
the git tree hash computed with a temporary index (``git add -A && git write-tree``), so the
key of a clean tree is ``HEAD^{tree}`` and any edit, new or deleted file changes it. The
files to sync are exactly the entries of that tree. The repository's own index is never
touched (blobs of changed files are written to its object store, as ``git add`` does).

A dirty tree is refused unless ``allow_dirty``; then the diff against HEAD is kept so the
deploy stays reproducible. The cluster side (rsync ``--link-dest`` into a temporary name,
renamed into place) is the ``code_sync`` role; this module only says *what* to sync.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sweepops.artifacts.git import run_git
from sweepops.core.errors import SweepopsError
from sweepops.core.paths import NOT_CODE

#: The tool's own state directory inside a repository; never part of a snapshot.
#: The experiment journal (Markdown, versioned with the code): notes about runs are not code,
#: so writing them never makes the tree dirty nor changes a snapshot (sweepops.core.paths.NOT_CODE).
STATE_DIR_NAME, JOURNAL_DIR_NAME = NOT_CODE
#: At most this many changed files are listed when a dirty tree is refused.
MAX_LISTED = 20
#: Trees of this many first-parent commits (HEAD first) are offered as rsync --link-dest.
LINK_CANDIDATES = 10
DIRTY_HINT = (
    "commit or stash them, or deploy with -e allow_dirty=true (the diff is stored with the deploy)"
)


@dataclass(frozen=True)
class Snapshot:
    """The code a deploy syncs, as a git tree."""

    code_dir: Path
    #: git tree hash of the working tree as git would commit it (== HEAD^{tree} when clean).
    key: str
    #: HEAD's commit sha, None in a repository without commits.
    commit: str | None
    #: ``(status, path)`` per path that differs from HEAD: M modified, A new (untracked or
    #: staged), D deleted, T type change. Empty when clean.
    changes: tuple[tuple[str, str], ...]
    #: ``git diff`` from HEAD to the snapshot (untracked files as new files), "" when clean.
    diff: str
    #: Relative paths (POSIX, from code_dir) of the files to sync, sorted as git sorts them.
    files: tuple[str, ...]
    #: Trees of HEAD and its first-parent ancestors (newest first, the key itself left out):
    #: earlier snapshots of this repository most likely to share files with this one.
    ancestors: tuple[str, ...] = ()

    @property
    def dirty(self) -> bool:
        return bool(self.changes)

    @property
    def dirty_files(self) -> tuple[str, ...]:
        return tuple(path for _, path in self.changes)


def _git(
    code_dir: Path,
    *args: str,
    index: Path | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    return run_git(code_dir, *args, index=index, check=check)


def _git_input(code_dir: Path, data: bytes, *args: str, index: Path) -> None:
    run_git(code_dir, *args, index=index, data=data)


def _out(proc: subprocess.CompletedProcess[bytes]) -> str:
    return proc.stdout.decode().strip()


def _split0(data: bytes) -> list[str]:
    return [os.fsdecode(item) for item in data.split(b"\0") if item]


def _toplevel(code_dir: Path) -> Path:
    if not code_dir.is_dir():
        raise SweepopsError(
            f"{code_dir}: no such directory", hint="point code_dir at your repository"
        )
    # One git call: "true" and the top level inside a work tree; "false" (or an error) in a
    # bare repository or a .git directory.
    proc = _git(code_dir, "rev-parse", "--is-inside-work-tree", "--show-toplevel", check=False)
    inside, _, top_line = proc.stdout.partition(b"\n")
    if proc.returncode != 0 or inside.strip() != b"true":
        raise SweepopsError(
            f"{code_dir} is not a git work tree; a deploy snapshots a git repository",
            hint="run `git init && git add -A && git commit -m init` there, or set code_dir to "
            "your repository",
        )
    top = Path(os.fsdecode(top_line.rstrip(b"\n")))
    if top.resolve() != code_dir.resolve():
        raise SweepopsError(
            f"{code_dir} is inside the git repository {top}, not its top level",
            hint=f"set code_dir to {top}",
        )
    return top


def _head(code_dir: Path) -> tuple[str | None, str | None]:
    """HEAD's commit and tree in one git call; (None, None) without commits."""
    proc = _git(code_dir, "rev-parse", "HEAD^{commit}", "HEAD^{tree}", check=False)
    lines = _out(proc).split()
    if proc.returncode != 0 or len(lines) != 2:
        return None, None
    return lines[0], lines[1]


def _empty_tree(code_dir: Path) -> str:
    return _out(run_git(code_dir, "hash-object", "-t", "tree", "--stdin", data=b""))


def _stage_tree(code_dir: Path, index: Path, head_tree: str | None, exclude: Sequence[str]) -> str:
    """Fill ``index`` with the working tree as ``git add -A`` would; return its tree hash."""
    real = Path(_out(_git(code_dir, "rev-parse", "--path-format=absolute", "--git-path", "index")))
    staged = False
    if real.is_file():
        # Starting from the real index keeps its stat cache: unchanged files are not rehashed.
        shutil.copyfile(real, index)
        staged = _git(code_dir, "add", "-A", index=index, check=False).returncode == 0
    if not staged:
        # No index yet, or one git cannot reuse under another name (split index): from HEAD.
        index.unlink(missing_ok=True)
        if head_tree is not None:
            _git(code_dir, "read-tree", head_tree, index=index)
        _git(code_dir, "add", "-A", index=index)
    if exclude:
        # Drop what `add -A` picked up there; files HEAD tracks stay (git's rules, not ours).
        picked = set(_split0(_git(code_dir, "ls-files", "-z", "--", *exclude, index=index).stdout))
        if head_tree is not None:
            tracked = _git(
                code_dir, "ls-tree", "-r", "-z", "--name-only", head_tree, "--", *exclude
            )
            picked -= set(_split0(tracked.stdout))
        if head_tree is not None:
            # ... and a tracked one keeps HEAD's version: editing it does not dirty the tree.
            _git(code_dir, "reset", "-q", "HEAD", "--", *exclude, index=index, check=False)
        if picked:
            _git_input(
                code_dir,
                b"".join(os.fsencode(p) + b"\0" for p in sorted(picked)),
                "update-index",
                "-z",
                "--force-remove",
                "--stdin",
                index=index,
            )
    return _out(_git(code_dir, "write-tree", index=index))


def _changes(code_dir: Path, base: str, key: str) -> tuple[tuple[str, str], ...]:
    out = _git(code_dir, "diff-tree", "-r", "-z", "--no-renames", "--name-status", base, key).stdout
    items = _split0(out)
    return tuple((items[i][:1], items[i + 1]) for i in range(0, len(items) - 1, 2))


def _ancestors(code_dir: Path, key: str) -> tuple[str, ...]:
    out = _git(code_dir, "log", "--first-parent", f"-n{LINK_CANDIDATES + 1}", "--format=%T", "HEAD")
    trees = [t for t in _out(out).split() if t != key]
    return tuple(dict.fromkeys(trees))[:LINK_CANDIDATES]


def _gitlinks(code_dir: Path, index: Path) -> list[str]:
    """Paths of the submodules (gitlink entries, mode 160000) in ``index``."""
    out = _git(code_dir, "ls-files", "-z", "-s", index=index).stdout
    return [
        os.fsdecode(entry.split(b"\t", 1)[1])
        for entry in out.split(b"\0")
        if entry.startswith(b"160000 ")
    ]


def _submodule(code_dir: Path, path: str) -> list[str]:
    """The files of the submodule checked out at ``path`` (and of its own submodules),
    as paths from ``code_dir``. Its commit is in the snapshot's key (the gitlink); its
    working tree must be that commit's, or the files synced would not be the key's."""
    sub = code_dir / path
    if not (sub / ".git").exists():
        raise SweepopsError(
            f"{code_dir}: submodule {path} is not checked out, so its files cannot be synced",
            hint="run `git submodule update --init --recursive`",
        )
    status = _git(
        sub,
        "status",
        "--porcelain=v1",
        "-z",
        "--untracked-files=normal",
        "--ignore-submodules=none",
    ).stdout
    changed = [f"{path}/{entry[3:]}" for entry in _split0(status) if len(entry) > 3]
    if changed:
        listed = "\n".join(f"  {p}" for p in changed[:MAX_LISTED])
        more = f"\n  ... and {len(changed) - MAX_LISTED} more" if len(changed) > MAX_LISTED else ""
        raise SweepopsError(
            f"{code_dir}: submodule {path} has uncommitted change(s):\n{listed}{more}",
            hint="commit them in the submodule and the new submodule commit here (a snapshot "
            "keeps a submodule by its commit: allow_dirty cannot store its changes)",
        )
    out = _git(sub, "ls-files", "-z", "--recurse-submodules").stdout
    return [f"{path}/{name}" for name in _split0(out)]


def _refusal(code_dir: Path, changes: Sequence[tuple[str, str]]) -> SweepopsError:
    lines = [
        f"  {status} {path!r}" if "\n" in path else f"  {status} {path}"
        for status, path in changes[:MAX_LISTED]
    ]
    if len(changes) > MAX_LISTED:
        lines.append(f"  ... and {len(changes) - MAX_LISTED} more")
    return SweepopsError(
        f"{code_dir} has {len(changes)} uncommitted change(s) "
        "(M modified, A new or untracked, D deleted, T type changed):\n" + "\n".join(lines),
        hint=DIRTY_HINT,
    )


def _require(
    code_dir: Path,
    required: Sequence[str],
    listed: Sequence[str],
    changes: Sequence[tuple[str, str]],
    allow_dirty: bool,
    excluded: Sequence[str],
) -> None:
    """Refuse when a file the runs need (the program) would not be in the snapshot."""
    have = set(listed)
    untracked = {path for status, path in changes if status == "A"}
    for path in required:
        if path not in have:
            top = path.split("/", 1)[0]
            if top in excluded:
                why = f"{top}/ holds what sweepops writes, never code"
                hint = "move the program out of it"
            else:
                rule = _out(_git(code_dir, "check-ignore", "-v", "--", path, check=False))
                source = rule.split("\t", 1)[0] if rule else ""
                why = f"git ignores it ({source})" if source else "git does not list it"
                hint = (
                    f"track it (`git add -f {path}` and commit) or move it out of the ignored path"
                )
            raise SweepopsError(
                f"{code_dir}: the program {path} would not be in the code snapshot: {why}; "
                "nothing was created",
                hint=hint,
            )
        if path in untracked and not allow_dirty:
            raise SweepopsError(
                f"{code_dir}: the program {path} is untracked (the snapshot holds what git "
                "would commit); nothing was created",
                hint=f"`git add {path}` and commit it, or deploy with -e allow_dirty=true",
            )


def snapshot_of(
    code_dir: Path,
    *,
    allow_dirty: bool,
    exclude: Iterable[str] = (STATE_DIR_NAME, JOURNAL_DIR_NAME),
    required: Sequence[str] = (),
) -> Snapshot:
    """The snapshot of ``code_dir`` (a git repository's top level).

    ``exclude``: top-level paths that are not code (default: the tool's state dir and the
    experiment journal): untracked files there are left out, tracked ones are taken as
    committed, so what sweepops writes there never makes the tree dirty.
    ``required``: files the runs need (the program, sweepops.experiment.program); one that is
    ignored,
    excluded or (without ``allow_dirty``) untracked is refused, naming it and why.
    Raises SweepopsError for a dirty tree unless ``allow_dirty``, and when ``code_dir`` is
    not the top level of a git work tree.
    """
    code_dir = Path(code_dir)
    _toplevel(code_dir)
    excluded = tuple(exclude)
    commit, head_tree = _head(code_dir)
    with tempfile.TemporaryDirectory(prefix="sweepops-snapshot-") as tmp:
        index = Path(tmp) / "index"
        key = _stage_tree(code_dir, index, head_tree, excluded)
        listed = _split0(_git(code_dir, "ls-files", "-z", index=index).stdout)
        submodules = _gitlinks(code_dir, index)
    changes = (
        () if key == head_tree else _changes(code_dir, head_tree or _empty_tree(code_dir), key)
    )
    _require(code_dir, required, listed, changes, allow_dirty, excluded)
    if changes and not allow_dirty:
        raise _refusal(code_dir, changes)
    # Entries not on disk (e.g. skip-worktree in a sparse checkout) cannot be synced.
    top = os.fspath(code_dir)
    if submodules:
        # A submodule is one gitlink entry: sync its files instead of its bare directory.
        inside = [f for path in submodules for f in _submodule(code_dir, path)]
        listed = sorted((set(listed) - set(submodules)) | set(inside), key=os.fsencode)
    files = tuple(f for f in listed if os.path.lexists(os.path.join(top, f)))
    diff = ""
    if changes:
        base = head_tree or _empty_tree(code_dir)
        patch = _git(
            # --binary: binary files too can be rebuilt from the diff (sweepops.artifacts.rebuild)
            code_dir,
            "diff",
            "--binary",
            "--no-color",
            "--no-ext-diff",
            "--no-renames",
            base,
            key,
        ).stdout.decode(errors="surrogateescape")  # bytes kept: see rebuild
        header = [
            f"# sweepops snapshot {key} = commit {commit or '(none)'} + the changes below",
            *(f"# {status} {path}" for status, path in changes),
        ]
        diff = "\n".join(header) + "\n" + patch
    return Snapshot(
        code_dir=code_dir,
        key=key,
        commit=commit,
        changes=changes,
        diff=diff,
        files=files,
        ancestors=_ancestors(code_dir, key) if commit else (),
    )


#: git's mode of a submodule (gitlink) entry: its files are not in the tree's blobs.
GITLINK_MODE = "160000"


def tree_changes(code_dir: Path, base: str, key: str) -> list[tuple[str, str]] | None:
    """``(status, path)`` of every file that differs from tree ``base`` to tree ``key`` (A
    added, M modified or mode changed, D deleted, T type changed), from git's object store:
    what a snapshot made from an earlier one on the cluster must change. None when git cannot
    tell (``base`` unknown to this repository) or a submodule is involved (its files are not
    in the trees)."""
    try:
        proc = run_git(
            code_dir, "diff-tree", "-r", "-z", "--no-renames", "--raw", base, key, check=False
        )
    except SweepopsError:
        return None
    if proc.returncode != 0:
        return None
    items = _split0(proc.stdout)
    out: list[tuple[str, str]] = []
    # --raw -z: ":OLDMODE NEWMODE OLDSHA NEWSHA STATUS" NUL PATH NUL, per entry
    for meta, path in zip(items[::2], items[1::2], strict=False):
        fields = meta.lstrip(":").split()
        if len(fields) != 5 or GITLINK_MODE in fields[:2]:
            return None
        out.append((fields[4][:1], path))
    return out


def write_file_list(files: Iterable[str], path: Path) -> bool:
    """Write ``files`` NUL-separated for ``rsync --files-from=PATH --from0``.

    No ``.`` entry: rsync would copy every top-level entry of the source with it (ignored
    files included). rsync creates the destination directory even for an empty list.
    Written atomically; returns False when the file already had this content (manifests are
    keyed by content: nothing to do).
    """
    data = b"".join(os.fsencode(f) + b"\0" for f in files)
    path = Path(path)
    if path.is_file() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def write_manifest(snapshot: Snapshot, path: Path) -> bool:
    """The snapshot's file list for ``rsync --files-from=PATH --from0`` (see write_file_list)."""
    return write_file_list(snapshot.files, path)
