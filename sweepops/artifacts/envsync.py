"""A Python environment (conda env or venv) kept at the identical absolute prefix on a cluster.

Conda environments are not relocatable, so the env is copied (rsync) to the very same absolute
path on the cluster. This module holds what the ``conda_env`` role needs on the workstation:

- :func:`manifest`: a cheap fingerprint of a prefix, one entry per file or symlink
  ``(path, kind, size, mtime-or-sha256, executable)``; package caches (``pkgs/`` at the top)
  and bytecode (``__pycache__``, ``*.pyc``) are left out, as the sync leaves them out.
  ``library/sweepops_env_manifest.py`` computes the same entries on the cluster with the
  standard library only (tests check that both agree).
- :func:`drift`: compare the local manifest with the cluster's and name the differing files.
- :func:`package_list`: the env's package list (``conda list --explicit`` when conda is there,
  else ``pip freeze --all``, else the ``*.dist-info`` found) and its hash, for the lock file.
- :func:`record_env`: an ``env`` event in the ledger when a cluster's env lock changes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweepops.core.errors import SweepopsError
from sweepops.records import ledger
from sweepops.remote.manifest import (  # noqa: F401 - re-exported: envsync is where callers look
    DIR_EXCLUDES,
    SUFFIX_EXCLUDES,
    TOP_EXCLUDES,
    Entry,
    digest,
    manifest,
    rsync_excludes,
)


def total_size(entries: Iterable[Sequence[Any]]) -> int:
    return sum(int(e[2]) for e in entries if e[1] == "f")


@dataclass
class Drift:
    """How the cluster's copy differs from the workstation's."""

    missing: list[str] = field(default_factory=list)  # on the workstation, not on the cluster
    extra: list[str] = field(default_factory=list)  # on the cluster only
    changed: list[str] = field(default_factory=list)  # both, but different

    @property
    def clean(self) -> bool:
        return not (self.missing or self.extra or self.changed)

    @property
    def files(self) -> list[str]:
        return sorted(self.missing + self.extra + self.changed)

    def describe(self, limit: int = 20) -> str:
        parts = []
        for label, paths in (
            ("changed", self.changed),
            ("missing on the cluster", self.missing),
            ("only on the cluster", self.extra),
        ):
            if paths:
                shown = ", ".join(paths[:limit]) + (
                    f" (+{len(paths) - limit} more)" if len(paths) > limit else ""
                )
                parts.append(f"{len(paths)} {label}: {shown}")
        return "; ".join(parts) or "identical"

    def as_dict(self) -> dict[str, Any]:
        return {"missing": self.missing, "extra": self.extra, "changed": self.changed}


def drift(local: Iterable[Sequence[Any]], remote: Iterable[Sequence[Any]]) -> Drift:
    """Compare two manifests (lists of entries, e.g. as JSON lists) path by path."""
    lmap = {str(e[0]): tuple(e[1:]) for e in local}
    rmap = {str(e[0]): tuple(e[1:]) for e in remote}
    out = Drift()
    for path in sorted(lmap.keys() | rmap.keys()):
        if path not in rmap:
            out.missing.append(path)
        elif path not in lmap:
            out.extra.append(path)
        elif [str(x) for x in lmap[path]] != [str(x) for x in rmap[path]]:
            out.changed.append(path)
    return out


# ---------------------------------------------------------------------- the env itself
def check_prefix(prefix: str | Path) -> Path:
    """The env's prefix as an absolute path with a python in it, or a SweepopsError."""
    p = Path(prefix)
    if not p.is_absolute():
        raise SweepopsError(
            f"conda env prefix {prefix!r} is not an absolute path",
            hint="give the env's full path, e.g. conda_env_prefix=$CONDA_PREFIX",
        )
    if not p.is_dir():
        raise SweepopsError(
            f"no such conda env: {p} does not exist on the workstation",
            hint="create it (conda create -p PREFIX ...), or correct conda_env_prefix "
            "(`conda env list` shows the prefixes)",
        )
    if not (p / "bin" / "python").exists():
        raise SweepopsError(
            f"{p} has no bin/python: not a conda env or venv",
            hint="point conda_env_prefix at the env's top directory (the one holding bin/)",
        )
    return p


def is_conda_env(prefix: str | Path) -> bool:
    return (Path(prefix) / "conda-meta").is_dir()


def find_conda(prefix: str | Path) -> str | None:
    """The conda executable that manages ``prefix``: its own root's, $CONDA_EXE, or PATH's."""
    p = Path(prefix)
    candidates = [p / "bin" / "conda", p / "condabin" / "conda"]
    if p.parent.name == "envs":  # ROOT/envs/NAME
        candidates += [p.parent.parent / "bin" / "conda", p.parent.parent / "condabin" / "conda"]
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return str(c)
    return os.environ.get("CONDA_EXE") or shutil.which("conda")


def _dist_infos(prefix: Path) -> list[str]:
    lines = set()
    for meta in prefix.glob("lib/python*/site-packages/*.dist-info/METADATA"):
        name = version = ""
        for line in meta.read_text(errors="replace").splitlines():
            if line.startswith("Name:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("Version:"):
                version = line.split(":", 1)[1].strip()
            elif not line.strip():
                break
        if name:
            lines.add(f"{name}=={version}")
    return sorted(lines, key=str.lower)


def package_list(prefix: str | Path, *, conda: str | None = None) -> tuple[str, str]:
    """(source, text): the env's package list. ``source`` says how it was made."""
    p = check_prefix(prefix)
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    exe = (conda or find_conda(p)) if is_conda_env(p) else None
    attempts = [("pip freeze --all", [str(p / "bin" / "python"), "-m", "pip", "freeze", "--all"])]
    if exe:
        attempts.insert(
            0, ("conda list --explicit", [exe, "list", "--explicit", "--prefix", str(p)])
        )
    for source, cmd in attempts:
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if proc.returncode == 0 and proc.stdout.strip():
            return source, proc.stdout
    return "dist-info", "".join(line + "\n" for line in _dist_infos(p))


def lock_text(name: str, prefix: str | Path, source: str, packages: str) -> tuple[str, str]:
    """(sha256 of the package list, the lock file's text). No timestamps: stable content."""
    sha = hashlib.sha256(packages.encode()).hexdigest()
    head = f"# sweepops env lock: {name}\n# prefix: {prefix}\n# source: {source}\n# sha256: {sha}\n"
    return sha, head + packages


def latest_env(root: Path, host: str, name: str) -> dict[str, Any] | None:
    """The latest ``env`` event's content recorded for ``host`` and env ``name``."""
    latest = None
    for rec in ledger.records(root):
        if (
            rec.get("event") == "env"
            and rec.get("host") == host
            and rec.get("env", {}).get("name") == name
        ):
            latest = rec.get("env")
    return latest


def record_env(root: Path, host: str, info: dict[str, Any], *, dry_run: bool = False) -> bool:
    """Append an ``env`` event for ``host`` unless its latest one says the same. True if new
    (or, with ``dry_run``, if it would be)."""
    if latest_env(root, host, str(info.get("name"))) == info:
        return False
    if not dry_run:
        ledger.append(root, {"event": "env", "host": host, "env": info})
    return True
