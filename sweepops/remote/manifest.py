"""A manifest of a directory tree (an env prefix): what the env drift check compares.

Standard library only: the same file runs on the workstation (``sweepops.artifacts.envsync``)
and, shipped as Ansible module_utils (``module_utils/sweepops_remote`` links to this package),
is the module that computes the cluster's side (``sweepops_env_manifest``: :data:`SPEC`,
:func:`env_manifest`), so both sides walk the tree the same way by construction.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .module_spec import ModuleFailed, ModuleSpec, Params, Result

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


# --------------------------------------------------------------------------- the module


def env_manifest(p: Params, check_mode: bool) -> Result:
    """The module: see SPEC."""
    prefix = p["prefix"]
    if not os.path.isabs(prefix):
        raise ModuleFailed(f"prefix {prefix!r} is not an absolute path")
    try:
        result = describe_prefix(prefix, content=p["content"], expect_digest=p["expect_digest"])
    except OSError as exc:
        raise ModuleFailed(f"cannot read {prefix}: {exc}", changed=False) from exc
    # as asked: a deploy records them with the digest, so reproduce can compute it again
    result.update(changed=False, prefix=prefix, content=p["content"])
    return result


SPEC = ModuleSpec(
    name="sweepops_env_manifest",
    short_description="Fingerprint an env prefix and say whether it can exist at that path",
    description=(
        (
            "Walks I(prefix) and returns its manifest digest; one entry per file or "
            "symlink (path, kind, size, mtime or sha256, executable). Skips C(pkgs/) at "
            "the top, C(__pycache__) and C(*.pyc), as the sync does."
        ),
        (
            "The entries themselves are returned only when they differ from "
            "I(expect_digest) (or it is not given), so a drift check of an unchanged env "
            "moves one hash over the wire."
        ),
        (
            "Also reports whether the prefix could be created here (nearest existing "
            'ancestor, writable, free bytes) and this user\'s home, for the "same path" '
            "check."
        ),
        "Reads only; never reports a change.",
    ),
    options={
        "prefix": {
            "description": "Absolute path of the env on this host.",
            "type": "path",
            "required": True,
        },
        "content": {
            "description": "Hash file contents instead of using mtimes.",
            "type": "bool",
            "default": False,
        },
        "expect_digest": {
            "description": "The workstation's manifest digest; entries are left out when equal.",
            "type": "str",
        },
    },
    returns={
        "exists": {
            "description": "Whether the prefix exists.",
            "returned": "always",
            "type": "bool",
        },
        "digest": {
            "description": "Manifest digest (empty when the prefix does not exist).",
            "returned": "always",
            "type": "str",
        },
        "entries": {
            "description": "The manifest, when it differs from I(expect_digest).",
            "returned": "always",
            "type": "list",
        },
        "ancestor": {
            "description": "The prefix or its nearest existing ancestor.",
            "returned": "always",
            "type": "str",
        },
        "writable": {
            "description": "Whether this user can write there (create the prefix or update it).",
            "returned": "always",
            "type": "bool",
        },
        "free_bytes": {
            "description": "Free bytes for this user on the ancestor's file system.",
            "returned": "always",
            "type": "int",
        },
        "home": {
            "description": "This user's home directory.",
            "returned": "always",
            "type": "str",
        },
        "prefix": {
            "description": "The prefix fingerprinted (as given).",
            "returned": "always",
            "type": "str",
        },
        "content": {
            "description": "Whether file contents were hashed (as given).",
            "returned": "always",
            "type": "bool",
        },
    },
)
