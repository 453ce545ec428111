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

import re
import shlex
from collections.abc import Mapping, Sequence
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


def rsync_of(
    tree: Mapping[str, Any],
    *,
    lab_root: str,
    check_mode: bool,
    control: str,
    ssh_extra_args: str,
    extra_opts: Sequence[str],
) -> dict[str, Any]:
    """The synchronize arguments of one missing tree (kind, key, src, files_from, ancestors
    and the probe's latest, incoming, link_dests)."""
    base = f"{lab_root}/{tree['kind']}"
    incoming = str(tree["incoming"])
    # synchronize runs the rsync command line through shlex: paths are quoted
    opts = [f"--files-from={shlex.quote(str(tree['files_from']))}", "--from0", "--chmod=Fa-w"]
    opts += [shlex.quote(f"--link-dest={base}/{d}") for d in link_dests(tree)]
    return {
        "kind": tree["kind"],
        "key": tree["key"],
        "src": f"{tree['src']}/",
        "dest": f"{incoming}/",
        # Remote side, one round trip: drop a half-done attempt of this very sync, make
        # LAB/KIND. Not in check mode: rsync --dry-run then changes nothing on either side.
        "rsync_path": None
        if check_mode
        else f"rm -rf -- {shlex.quote(incoming)} && mkdir -p -- {shlex.quote(base)} && rsync",
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
    out["syncs"] = [
        rsync_of(
            {**t, **sources[t["kind"]], **found[t["kind"]]},
            lab_root=lab_root,
            check_mode=check_mode,
            control=control,
            ssh_extra_args=ssh_extra_args,
            extra_opts=extra_opts,
        )
        for t in missing
    ]
    out["synced"] = missing
    out["rename"] = bool(missing)
    return out
