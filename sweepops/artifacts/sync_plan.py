"""What the code_sync role rsyncs, and how, decided in Python (the role's step
``sweepops_code_sync_plan``).

A deploy puts two content-addressed trees on a cluster: the code snapshot (``LAB/code/KEY``)
and the agent's runtime (``LAB/agent/KEY``). :func:`sync_plan` names their directories and
the trees the cluster probe looks for; given what the probe found (``present``), it gives per
missing tree the rsync that fills its temporary directory (hard links to the likeliest
earlier trees, read-only files, Ansible's ControlMaster joined) and the trees to rename into
place afterwards.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweepops.core import paths

#: A tree's key (a git tree hash or a runtime key): only those are hard-link candidates.
KEY = re.compile(r"^[0-9a-f]{8,64}$")
#: rsync takes at most 20 --link-dest directories.
MAX_LINK_DESTS = 19


def control_path(path: str | None, directory: str | None) -> str:
    """The ssh connection plugin's ``control_path`` with its ``%(directory)s`` filled and
    ``%%`` unescaped: the ControlPath rsync's ssh joins ('' when Ansible names none)."""
    if not path:
        return ""
    return path.replace("%(directory)s", directory or "").replace("%%", "%")


def trees(snapshot: Mapping[str, Any], runtime: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The trees the cluster probe looks for: the code, and the agent's runtime when synced."""
    out = [
        {
            "kind": paths.CODE,
            "key": snapshot["key"],
            "candidates": list(snapshot.get("ancestors") or []),
        }
    ]
    if runtime:
        out.append({"kind": paths.AGENT, "key": runtime["key"], "candidates": []})
    return out


def link_dests(tree: Mapping[str, Any]) -> list[str]:
    """Hard-link candidates, best first: the probe's answer (those that exist) if it gave
    one, else this repository's earlier trees and then LATEST (keys only, each once)."""
    if tree.get("link_dests") is not None:
        return list(tree["link_dests"])
    out: list[str] = []
    for key in [*(tree.get("ancestors") or []), tree.get("latest")]:
        if isinstance(key, str) and KEY.match(key) and key not in out:
            out.append(key)
    return out[:MAX_LINK_DESTS]


#: A snapshot is made from an earlier one on the cluster (below) when at most this many
#: paths change, and the shell line unlinking them stays well under the kernel's 128 kB limit
#: on one argument (ssh hands the remote side one ``sh -c`` string). Beyond, rsync compares
#: every file with --link-dest, and costs little more than the change itself.
MAX_CHANGED = 2000
MAX_REMOVE_LINE = 64_000


@dataclass(frozen=True)
class FromEarlier:
    """A code snapshot made on the cluster from an earlier one that is there: a hard-link
    copy of it (``cp -al``, local to the cluster's disk), the changed paths unlinked from
    the copy (so no file of the earlier snapshot is ever written or chmod-ed), and an rsync
    of only the added and changed files. After a one-file change of a 50,000-file
    repository this sends one file instead of comparing 50,000 (bench/big_repo.py)."""

    base: str  # the earlier snapshot's key (the probe saw LAB/code/BASE)
    files_from: str  # the list of the files to send (NUL-separated)
    remove: tuple[str, ...]  # paths to unlink from the copy: changed, deleted, retyped
    dirs: tuple[str, ...]  # parents of deleted paths, removed when left empty

    def prepare(self, base_dir: str, incoming: str) -> str:
        """The remote shell line that makes ``incoming`` the copy minus ``remove``."""
        q = shlex.quote
        line = f"cp -al -- {q(f'{base_dir}/{self.base}')} {q(incoming)}"
        if self.remove:
            inside = f"rm -f -- {' '.join(q(p) for p in self.remove)}"
            if self.dirs:
                dirs = " ".join(q(d) for d in self.dirs)
                inside += (
                    f" && {{ rmdir -p --ignore-fail-on-non-empty -- {dirs} 2>/dev/null || :; }}"
                )
            line += f" && ( cd -- {q(incoming)} && {inside} )"
        return line


def from_earlier(
    base: str, changes: Sequence[tuple[str, str]], src: str, files_from: str
) -> tuple[FromEarlier, list[str]] | None:
    """The :class:`FromEarlier` plan from ``changes`` (``(status, path)``, git's A/M/D/T from
    tree ``base`` to the snapshot) and the files to send, or None when the plain rsync is
    the better way: too many changes, or a file to send missing under ``src`` (then ``src``
    does not hold the snapshot's tree as git has it)."""
    if len(changes) > MAX_CHANGED:
        return None
    send = [path for status, path in changes if status in "AMT"]
    remove = tuple(path for status, path in changes if status in "MDT")
    if any(not os.path.lexists(os.path.join(src, path)) for path in send):
        return None
    dirs = tuple(sorted({os.path.dirname(p) for s, p in changes if s == "D"} - {""}))
    if sum(len(p) + 3 for p in (*remove, *dirs)) > MAX_REMOVE_LINE:
        return None
    return FromEarlier(base=base, files_from=files_from, remove=remove, dirs=dirs), send


#: ``earlier(tree, bases)``: how to make the missing code tree from one of ``bases`` (earlier
#: snapshots the cluster has, best first), or None. The step gives one backed by git
#: (:func:`earlier_by_git`); without one, every missing tree is rsynced whole.
Earlier = Callable[[Mapping[str, Any], Sequence[str]], FromEarlier | None]


def earlier_by_git(code_dir: str, files_from: str) -> Earlier:
    """An :data:`Earlier` that asks ``code_dir``'s git what changed since the first of the
    bases it knows, and writes the files to send next to the snapshot's file list
    (``files_from``), keyed by both trees."""
    from sweepops.artifacts.snapshot import tree_changes, write_file_list

    def earlier(tree: Mapping[str, Any], bases: Sequence[str]) -> FromEarlier | None:
        for base in bases[:1]:  # the nearest ancestor: the smallest change, usually
            changes = tree_changes(Path(code_dir), base, str(tree["key"]))
            if changes is None:
                return None
            listed = str(Path(files_from).with_name(f"{tree['key']}.from-{base}.files"))
            made = from_earlier(base, changes, code_dir, listed)
            if made is None:
                return None
            plan, send = made
            write_file_list(send, Path(listed))
            return plan
        return None

    return earlier


def finalise(base: str, key: str, incoming: str) -> str:
    """The remote shell line that puts ``incoming`` into place as ``base/key`` and records it
    as LATEST, as snapshot_store.place does (a snapshot another deploy placed first stays, this
    sync's copy goes)."""
    q = shlex.quote
    final, latest = q(f"{base}/{key}"), q(f"{base}/LATEST")
    tmp = q(f"{base}/.LATEST.") + "$$"  # the shell's pid, as write_latest's
    incoming = q(incoming)
    return (
        f"if [ -d {final} ]; then rm -rf -- {incoming}; "
        f"else {{ mv -T -- {incoming} {final} || {{ [ -d {final} ] && rm -rf -- {incoming}; }}; }}"
        f" && printf '%s\\n' {q(key)} > {tmp} && mv -f -- {tmp} {latest}; fi"
    )


def remote_command(prepare: Sequence[str], base: str, key: str, incoming: str) -> str:
    """rsync's remote side in one round trip (its ``--rsync-path``; rsync appends the server's
    arguments): ``prepare``, the rsync server, then the rename into place and LATEST (the
    step that used to be its own round trip, ``sweepops_code_sync state=present``)."""
    script = " && ".join([*prepare, 'rsync "$@"']) + " && " + finalise(base, key, incoming)
    return f"sh -c {shlex.quote(script)} rsync"


def rsync_of(
    tree: Mapping[str, Any],
    *,
    lab_root: str,
    check_mode: bool,
    control: str,
    ssh_extra_args: str,
    extra_opts: Sequence[str],
    earlier: FromEarlier | None = None,
) -> dict[str, Any]:
    """The synchronize arguments of one missing tree (kind, key, src, files_from, ancestors
    and the probe's latest, incoming, link_dests), made ``earlier`` from an earlier one when
    given."""
    base = f"{lab_root}/{tree['kind']}"
    incoming = str(tree["incoming"])
    files_from = earlier.files_from if earlier else str(tree["files_from"])
    # synchronize runs the rsync command line through shlex: paths are quoted
    opts = [f"--files-from={shlex.quote(files_from)}", "--from0", "--chmod=Fa-w"]
    opts += [shlex.quote(f"--link-dest={base}/{d}") for d in link_dests(tree)]
    # Remote side, one round trip: drop a half-done attempt of this very sync, make LAB/KIND
    # (and the copy of the earlier snapshot). Not in check mode: rsync --dry-run then changes
    # nothing on either side.
    prepare = [f"rm -rf -- {shlex.quote(incoming)}", f"mkdir -p -- {shlex.quote(base)}"]
    if earlier:
        prepare.append(earlier.prepare(base, incoming))
    return {
        "kind": tree["kind"],
        "key": tree["key"],
        "src": f"{tree['src']}/",
        "dest": f"{incoming}/",
        "from": earlier.base if earlier else None,
        "rsync_path": None
        if check_mode
        else remote_command(prepare, base, str(tree["key"]), incoming),
        "rsync_opts": [*opts, *extra_opts],
        "multiplexing": bool(control),
        "ssh_extra_args": ssh_extra_args
        + (f" -o {shlex.quote('ControlPath=' + control)}" if control else ""),
    }


def sync_plan(
    *,
    lab_root: str,
    snapshot: Mapping[str, Any],
    runtime: Mapping[str, Any],
    host: str,
    present: Mapping[str, Any] | None,
    check_mode: bool = False,
    control: str = "",
    ssh_extra_args: str = "",
    extra_opts: Sequence[str] = (),
    earlier: Earlier | None = None,
) -> dict[str, Any]:
    """The role's facts: ``snapshot_dir``, ``agent_dir``, ``trees`` and ``incoming_tag`` (what
    the probe is asked), and, once ``present`` (the probe's answer, with ``trees``) is known,
    ``syncs`` (the rsync of each missing tree), ``synced`` (the trees to rename into place) and
    ``rename`` (whether there are any)."""
    sync_id = snapshot.get("sync_id") or snapshot.get("deploy_id")
    wanted = trees(snapshot, runtime)
    out: dict[str, Any] = {
        "snapshot_dir": paths.lab_code(lab_root, snapshot["key"]),
        "agent_dir": paths.lab_agent(lab_root, runtime["key"]) if runtime else "",
        "trees": wanted,
        # unique per sync and login host: two syncs never write into the same directory
        "incoming_tag": f"{sync_id}-{host}",
        "known": bool(present and present.get("trees")),
    }
    if not out["known"]:
        return out
    found = dict((present or {})["trees"])
    sources = {
        paths.CODE: {
            "src": snapshot["code_dir"],
            "files_from": snapshot["files_from"],
            "ancestors": list(snapshot.get("ancestors") or []),
        }
    }
    if runtime:
        sources[paths.AGENT] = {
            "src": runtime["src"],
            "files_from": runtime["files_from"],
            "ancestors": [],
        }
    missing = [t for t in wanted if not found[t["kind"]].get("present")]
    out["syncs"] = []
    for t in missing:
        tree = {**t, **sources[t["kind"]], **found[t["kind"]]}
        # only snapshots the probe saw on the cluster can be copied
        bases = list(tree.get("link_dests") or [])
        made = earlier(tree, bases) if earlier and t["kind"] == paths.CODE and bases else None
        out["syncs"].append(
            rsync_of(
                tree,
                lab_root=lab_root,
                check_mode=check_mode,
                control=control,
                ssh_extra_args=ssh_extra_args,
                extra_opts=extra_opts,
                earlier=made,
            )
        )
    out["synced"] = missing
    out["rename"] = bool(missing)
    return out
