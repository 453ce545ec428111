"""The cluster side of the code snapshots: LAB/KIND/KEY directories, LATEST, and the
``.incoming-*`` directories syncs write into before they are renamed into place.

Standard library only: it runs on login hosts as Ansible module_utils
(module_utils/sweepops_remote links to this package), used by the code_sync
role's module and by the deploy's one-round-trip cluster probe.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from typing import Any

KINDS = ("code", "agent")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_age(text: str) -> float:
    match = re.fullmatch(r"\s*(-?\d+)\s*([smhdw]?)\s*", str(text).lower())
    if not match:
        raise ValueError(f"incoming_max_age {text!r}: use a number with s, m, h, d or w")
    return int(match.group(1)) * _UNITS[match.group(2)]


def read_latest(base: str) -> str:
    try:
        with open(os.path.join(base, "LATEST")) as fh:
            return fh.read().strip()
    except OSError:
        return ""


def stale_incoming(base: str, max_age: float, now: float) -> list[str]:
    """``.incoming-*`` directories of ``base`` as old as ``max_age`` (find's age semantics)."""
    out: list[str] = []
    try:
        entries = list(os.scandir(base))
    except OSError:
        return out
    for entry in entries:
        if not entry.name.startswith(".incoming-") or not entry.is_dir(follow_symlinks=False):
            continue
        age = now - entry.stat(follow_symlinks=False).st_mtime
        if (max_age >= 0 and age >= max_age) or (max_age < 0 and age <= -max_age):
            out.append(entry.path)
    return sorted(out)


def remove_tree(path: str) -> None:
    # Snapshot files are read-only; their directories are not: rmtree needs no chmod.
    shutil.rmtree(path)


def write_latest(base: str, key: str) -> None:
    tmp = os.path.join(base, f".LATEST.{os.getpid()}")
    with open(tmp, "w") as fh:
        fh.write(key + "\n")
    os.replace(tmp, os.path.join(base, "LATEST"))


def incoming_dir(lab: str, kind: str, key: str, tag: str) -> str:
    return os.path.join(lab, kind, f".incoming-{key}-{tag}")


def place(base: str, key: str, incoming: str) -> bool:
    """Rename ``incoming`` to ``base/key`` and record it as LATEST; False if already there."""
    final = os.path.join(base, key)
    if os.path.isdir(final):
        # another sync of the same snapshot got there first (two deploys at once): theirs
        # stays, this sync's copy goes
        if os.path.isdir(incoming):
            remove_tree(incoming)
        return False
    try:
        os.rename(incoming, final)
    except OSError:
        if not os.path.isdir(final):
            raise
        # another deploy renamed the same snapshot into place first: keep theirs
        remove_tree(incoming)
    write_latest(base, key)
    return True


#: rsync takes at most 20 --link-dest directories.
MAX_LINK_DESTS = 19


def link_dests(base: str, candidates: list[str]) -> list[str]:
    """The snapshots among ``candidates`` (best first) that exist under ``base``: rsync's
    hard-link sources. Only existing ones are passed, so that rsync prints no "--link-dest
    arg does not exist" line per missing one (seven of them before a real error, once)."""
    out: list[str] = []
    for key in candidates:
        if (
            isinstance(key, str)
            and re.fullmatch(r"[0-9a-f]{8,64}", key)
            and key not in out
            and os.path.isdir(os.path.join(base, key))
        ):
            out.append(key)
    return out[:MAX_LINK_DESTS]


def check_trees(trees: list[dict[str, Any]], tag: str | None) -> str | None:
    """What is wrong with ``trees`` / ``tag``, or None."""
    for tree in trees:
        if tree.get("kind") not in KINDS or not re.fullmatch(
            r"[0-9a-f]{8,64}", tree.get("key", "")
        ):
            return f"bad tree {tree!r}: kind one of {KINDS}, key a hex hash"
    if tag is not None and ("/" in tag or not tag.strip()):
        return f"incoming_tag {tag!r}: no '/' and not empty"
    return None


def probe(
    lab: str, trees: list[dict[str, Any]], tag: str | None, max_age: float, *, remove: bool
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Per kind: ``present``, ``latest``, (given ``tag``) ``incoming`` and (for a tree with
    ``candidates``, earlier snapshot keys best first) ``link_dests``, those that exist; and
    the leftover ``.incoming-*`` directories at least ``max_age`` old, removed when
    ``remove``."""
    now = time.time()
    found: dict[str, dict[str, Any]] = {}
    stale: list[str] = []
    for kind in dict.fromkeys(t["kind"] for t in trees):
        base = os.path.join(lab, kind)
        found[kind] = {"latest": read_latest(base)}
        stale += stale_incoming(base, max_age, now)
    for tree in trees:
        kind, key = tree["kind"], tree["key"]
        found[kind]["present"] = os.path.isdir(os.path.join(lab, kind, key))
        if tag is not None:
            found[kind]["incoming"] = incoming_dir(lab, kind, key, tag)
        if "candidates" in tree:
            found[kind]["link_dests"] = link_dests(
                os.path.join(lab, kind), list(tree["candidates"] or []) + [found[kind]["latest"]]
            )
    if remove:
        for path in stale:
            try:
                remove_tree(path)
            except OSError as exc:
                raise OSError(f"cannot remove the leftover {path}: {exc}") from exc
    return found, stale


# --------------------------------------------------------------------------- collection

_SNAPSHOT_NAME = re.compile(r"^[0-9a-f]{8,64}$")


def referenced(lab: str, texts: list[str]) -> set[tuple[str, str]]:
    """The snapshots (kind, key) that batch scripts name as ``LAB/KIND/KEY``."""
    pattern = re.compile(re.escape(lab.rstrip("/")) + r"/(code|agent)/([0-9a-f]{8,64})\b")
    return {(m.group(1), m.group(2)) for text in texts for m in pattern.finditer(text)}


def collect(lab: str, keep: int, live: set[tuple[str, str]]) -> tuple[list[str], dict[str, str]]:
    """What a collection would remove under ``lab`` and why the rest stays.

    Kept, per kind: what ``LATEST`` names, the ``keep`` newest snapshots (by the time they
    were put in place), and every snapshot a live job's batch script names (``live``).
    Returns (paths to remove, {kept path: why})."""
    remove: list[str] = []
    kept: dict[str, str] = {}
    for kind in KINDS:
        base = os.path.join(lab, kind)
        try:
            entries = [
                e
                for e in os.scandir(base)
                if _SNAPSHOT_NAME.match(e.name) and e.is_dir(follow_symlinks=False)
            ]
        except OSError:
            continue
        entries.sort(key=lambda e: e.stat(follow_symlinks=False).st_mtime, reverse=True)
        latest = read_latest(base)
        for rank, entry in enumerate(entries):
            if entry.name == latest:
                kept[entry.path] = "LATEST"
            elif (kind, entry.name) in live:
                kept[entry.path] = "a live job runs it"
            elif rank < keep:
                kept[entry.path] = f"one of the {keep} newest"
            else:
                remove.append(entry.path)
    return sorted(remove), kept
