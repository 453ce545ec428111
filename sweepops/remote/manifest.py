"""A manifest of a directory tree (an env prefix): what the env drift check compares.

Standard library only: the same file runs on the workstation (``sweepops.artifacts.envsync``)
and, as
``module_utils/sweepops_manifest.py`` (a link to this file), inside the Ansible module that
computes the cluster's side — so both sides walk the tree the same way by construction.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

#: Top-level directories never synced: conda's package cache (of a whole conda root).
TOP_EXCLUDES = ("pkgs",)
#: Directory names never synced anywhere in the tree (bytecode the cluster writes itself).
DIR_EXCLUDES = ("__pycache__",)
#: File suffixes never synced.
SUFFIX_EXCLUDES = (".pyc",)

#: One manifest entry: path relative to the prefix, kind ("f" file, "l" symlink), size,
#: mtime (int seconds) or sha256 of the content, and whether the file is executable.
Entry = tuple[str, str, int, str, bool]


def rsync_excludes() -> list[str]:
    """rsync --exclude patterns matching what :func:`manifest` skips."""
    return (
        [f"/{d}/" for d in TOP_EXCLUDES]
        + [f"{d}/" for d in DIR_EXCLUDES]
        + [f"*{s}" for s in SUFFIX_EXCLUDES]
    )


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def manifest(prefix: str | Path, *, content: bool = False) -> list[Entry]:
    """The entries of ``prefix``, sorted by path. ``content`` hashes files instead of using
    their mtime (slower; for copies made without preserving times)."""
    root = os.fspath(prefix)
    out: list[Entry] = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        keep = []
        for d in sorted(dirnames):
            full = os.path.join(dirpath, d)
            if d in DIR_EXCLUDES or (rel_dir == "." and d in TOP_EXCLUDES):
                continue
            if os.path.islink(full):  # a symlink to a directory: an entry, not walked
                filenames.append(d)
                continue
            keep.append(d)
        dirnames[:] = keep
        for name in filenames:
            if name.endswith(SUFFIX_EXCLUDES):
                continue
            full = os.path.join(dirpath, name)
            rel = os.path.normpath(os.path.join(rel_dir, name))
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                out.append((rel, "l", 0, os.readlink(full), False))
            elif stat.S_ISREG(st.st_mode):
                stamp = _sha256(full) if content else str(int(st.st_mtime))
                out.append((rel, "f", st.st_size, stamp, bool(st.st_mode & 0o111)))
    out.sort()
    return out


def digest(entries: Iterable[Sequence[Any]]) -> str:
    """A hash of a manifest (local and remote manifests hash alike when equal)."""
    h = hashlib.sha256()
    for e in entries:
        h.update(json.dumps(list(e), separators=(",", ":")).encode())
        h.update(b"\n")
    return h.hexdigest()


def describe_prefix(
    prefix: str,
    *,
    content: bool = False,
    expect_digest: str | None = None,
    entries: bool = True,
) -> dict[str, Any]:
    """What a cluster can say of an env path: whether it exists (and its digest, with the
    entries when the digest is not ``expect_digest`` and ``entries``), else the nearest
    existing ancestor,
    whether it is writable and its free space; and the home directory. Raises OSError
    when the prefix exists but cannot be read."""
    ancestor = prefix
    while not os.path.exists(ancestor) and ancestor != "/":
        ancestor = os.path.dirname(ancestor)
    try:
        vfs = os.statvfs(ancestor)
        free = vfs.f_bavail * vfs.f_frsize
    except OSError:
        free = 0
    result: dict[str, Any] = {
        "exists": os.path.isdir(prefix),
        "ancestor": ancestor,
        "writable": os.path.isdir(ancestor) and os.access(ancestor, os.W_OK | os.X_OK),
        "free_bytes": free,
        "home": os.path.expanduser("~"),
        "digest": "",
        "entries": [],
    }
    if result["exists"]:
        found = manifest(prefix, content=content)
        result["digest"] = digest(found)
        if entries and result["digest"] != expect_digest:
            result["entries"] = [list(e) for e in found]
    return result
