"""Nodes a sweep no longer uses: the rule, and the two files that hold it.

A node is excluded for the rest of a sweep when

- Slurm ended one of the sweep's jobs there with NODE_FAIL (the requeued job's batch script
  reads its earlier instances from ``sacct`` and hands the nodes to its agent), or
- ``bad_node_failures`` (K, default 3) runs failed in a row there while runs finished on
  another node that is not excluded (so a program that fails everywhere excludes nothing: its
  error is a program error, shown once by ``status``).

An agent on an excluded node stops claiming; the failed runs of the streak that excluded a
node are handed out again elsewhere, once (``sweepops.remote.sweep_retry.requeue``); the batch
script keeps the sweep's pending array tasks off the node (``scontrol update
ExcNodeList``) and ``sweepops retry`` submits with ``--exclude``. ``sweepops status`` names
the node and why.

Files in the sweep directory, written under the sweep's lock (the caller holds it):

- ``nodes.json``: per node, the ids of its trailing failed runs (``streak``) and how many
  runs finished there;
- ``excluded_nodes``: one line per excluded node, ``NODE<TAB>UNIX TIME<TAB>WHY``: plain text,
  so that the batch script reads it with ``cut`` (a job's shell has no Python of ours).

Standard library only: it runs in the agent (runtime) and on the login host (module_utils).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .slurm import write_json_atomic

NODES_FILE = "nodes.json"
EXCLUDED_FILE = "excluded_nodes"
#: ``bad_node_failures``: runs failing in a row on one node before it is excluded.
DEFAULT_BAD_NODE_FAILURES = 3

_NODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass
class Exclusion:
    """A node newly excluded, why, and the failed runs that made it (to be run again)."""

    node: str
    reason: str
    runs: list[str] = field(default_factory=list)


def node_of(agent: Mapping[str, Any] | None) -> str | None:
    """The Slurm node an agent ran on (its identity's ``slurm.node``), None outside Slurm:
    the workstation's agents are never excluded."""
    slurm = (agent or {}).get("slurm") or {}
    node = slurm.get("node") if isinstance(slurm, Mapping) else None
    return str(node) if node and _NODE.match(str(node)) else None


def excluded(sweep_dir: str | os.PathLike[str]) -> dict[str, str]:
    """{node: why} of the sweep's excluded nodes ({} when none)."""
    try:
        with open(os.path.join(sweep_dir, EXCLUDED_FILE)) as fh:
            text = fh.read()
    except OSError:
        return {}
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split("\t", 2)
        if parts and _NODE.match(parts[0]):
            out[parts[0]] = parts[2] if len(parts) == 3 else ""
    return out


def exclude(sweep_dir: str | os.PathLike[str], node: str, reason: str) -> bool:
    """Add ``node`` to the excluded nodes (the caller holds the sweep's lock); False when it
    was excluded already or is not a node name."""
    if not _NODE.match(node):
        return False
    have = excluded(sweep_dir)
    if node in have:
        return False
    have[node] = " ".join(reason.split())  # one line, no tabs
    now = int(time.time())
    path = os.path.join(sweep_dir, EXCLUDED_FILE)
    tmp = os.path.join(sweep_dir, f".{EXCLUDED_FILE}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w") as fh:
            fh.writelines(f"{n}\t{now}\t{why}\n" for n, why in have.items())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return True


def read_stats(sweep_dir: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    try:
        with open(os.path.join(sweep_dir, NODES_FILE)) as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def newly_bad(
    stats: Mapping[str, Mapping[str, Any]], already: Iterable[str], threshold: int
) -> list[str]:
    """The nodes the K-in-a-row rule excludes now (the module's rule), given each node's
    ``streak`` and ``finished`` and the nodes ``already`` excluded. A node is excluded only
    while another node, not excluded and not on a streak itself, has finished runs: the rule
    never excludes the last node that works."""
    if threshold <= 0:
        return []
    out: set[str] = set(already)
    bad: list[str] = []

    def works(node: str) -> bool:
        s = stats[node]
        return node not in out and int(s.get("finished") or 0) > 0 and (
            len(s.get("streak") or []) < threshold
        )

    for node in sorted(stats, key=lambda n: (-len(stats[n].get("streak") or []), n)):
        if node in out or len(stats[node].get("streak") or []) < threshold:
            continue
        if any(works(other) for other in stats if other != node):
            out.add(node)
            bad.append(node)
    return bad


def note_end(
    sweep_dir: str | os.PathLike[str],
    node: str,
    run_id: str,
    *,
    ok: bool,
    threshold: int,
) -> list[Exclusion]:
    """Count the end of run ``run_id`` on ``node`` (``ok``: it finished; else it failed) and
    exclude what the rule now says is bad (the caller holds the sweep's lock): the new
    exclusions, each with the failed runs of its streak."""
    stats = read_stats(sweep_dir)
    s = stats.setdefault(node, {"streak": [], "finished": 0, "failed": 0})
    if ok:
        s["finished"] = int(s.get("finished") or 0) + 1
        s["streak"] = []
    else:
        s["failed"] = int(s.get("failed") or 0) + 1
        streak = [r for r in (s.get("streak") or []) if r != run_id]
        s["streak"] = [*streak, run_id]
    write_json_atomic(os.path.join(sweep_dir, NODES_FILE), stats)
    have = excluded(sweep_dir)
    out: list[Exclusion] = []
    for bad in newly_bad(stats, have, threshold):
        runs = list(stats[bad].get("streak") or [])
        reason = (
            f"{len(runs)} runs failed in a row there (bad_node_failures {threshold}) while "
            "runs finished on other nodes; its failed runs run again elsewhere"
        )
        if exclude(sweep_dir, bad, reason):
            out.append(Exclusion(bad, reason, runs))
    return out


def exclude_option(nodes: Iterable[str], sbatch_args: Iterable[str] = ()) -> list[str]:
    """``sbatch_args`` with ``--exclude`` naming ``nodes`` too (merged with an ``--exclude``
    or ``-x`` already there, which it replaces)."""
    args = list(sbatch_args)
    names = list(nodes)
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("--exclude="):
            names += arg.split("=", 1)[1].split(",")
        elif arg in ("--exclude", "-x") and i + 1 < len(args):
            names += args[i + 1].split(",")
            i += 1
        elif arg.startswith("-x") and len(arg) > 2:
            names += arg[2:].split(",")
        else:
            rest.append(arg)
        i += 1
    names = list(dict.fromkeys(n for n in names if n))
    return [f"--exclude={','.join(names)}", *rest] if names else rest
