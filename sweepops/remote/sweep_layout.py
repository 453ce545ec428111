"""The layout of an offline sweep directory, and making one from its meta atomically.

Standard library only: login hosts use it as Ansible module_utils to create sweep
directories before jobs are submitted (module_utils/sweepops_remote links to this package);
the workstation uses it through ``OfflineSweep.create_from_meta``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from typing import Any

#: Sub-directories of a sweep directory.
SWEEP_SUBDIRS = ("runs", "params", "logs", "wandb", "agents")

#: Where sweep directories are under a lab root (sweepops.core.paths.SWEEPS).
SWEEPS = "sweeps"


def sweep_dirs(lab_root: str, sweep_ids: list[str]) -> dict[str, str]:
    """Each sweep's directory, ``LAB/sweeps/ID``, by id."""
    return {sid: os.path.join(lab_root, SWEEPS, sid) for sid in sweep_ids}


def materialise(parent: str | os.PathLike[str], meta: dict[str, Any]) -> bool:
    """Create ``parent/ID`` (``sweep.json`` = ``meta``, its sub-directories, the lock file)
    under a temporary name and rename it into place, so agents never see half a sweep.
    False (and nothing touched) when the sweep is already there."""
    parent = os.fspath(parent)
    sweep_id = str(meta["id"])
    path = os.path.join(parent, sweep_id)
    if os.path.isfile(os.path.join(path, "sweep.json")):
        return False
    # A private name per caller: two deploys of one deploy id (two shells) may create the
    # same sweep at the same time; each builds its own copy and one rename wins.
    tmp = tempfile.mkdtemp(prefix=f".{sweep_id}.", suffix=".creating", dir=parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it 0700; mkdir's mode, as before
        for sub in SWEEP_SUBDIRS:
            os.makedirs(os.path.join(tmp, sub), exist_ok=True)
        with open(os.path.join(tmp, "sweep.json.tmp"), "w") as fh:
            json.dump(meta, fh, indent=1, sort_keys=True)
        os.replace(os.path.join(tmp, "sweep.json.tmp"), os.path.join(tmp, "sweep.json"))
        open(os.path.join(tmp, "lock"), "a").close()
        try:
            os.rename(tmp, path)  # fails when path is already a (non-empty) directory
        except OSError:
            if not os.path.isfile(os.path.join(path, "sweep.json")):
                raise
            return False  # created by someone else meanwhile
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return True


# --------------------------------------------------------------------------- run records
#: Run states a run waits in to be run again (mirrors sweepops.runtime.offline_sweep).
REQUEUE_STATES = ("preempted", "lost", "retry")  # waiting to be handed out again
#: The pseudo-state of a run record that cannot be read (truncated, not JSON).
UNREADABLE = "unreadable"
DEFAULT_LEASE_SECONDS = 60.0
#: A run interrupted this many times is shown as a requeue loop.
LOOP_ATTEMPTS = 3


def read_record(path: str) -> dict[str, Any]:
    """One run record; ValueError (with the reason) when it is not a JSON object.

    Records are replaced atomically (never written in place), so a record that does not
    parse is damaged (truncated by a full disk, a crash of the filesystem, a hand edit)."""
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        rec = json.loads(data)
    except ValueError as exc:
        what = "empty" if not data.strip() else f"not JSON ({exc})"
        raise ValueError(f"{what}, {len(data)} bytes") from None
    if not isinstance(rec, dict) or "id" not in rec or "state" not in rec:
        raise ValueError("not a run record (no id or state)")
    return rec


def read_records(sweep_dir: str) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """(the readable run records, {path: why} of those that cannot be read)."""
    runs_dir = os.path.join(os.fspath(sweep_dir), "runs")
    records: list[dict[str, Any]] = []
    unreadable: dict[str, str] = {}
    try:
        names = sorted(os.listdir(runs_dir))
    except FileNotFoundError:
        return records, unreadable
    for name in names:
        if not name.endswith(".json") or name.startswith("."):
            continue
        path = os.path.join(runs_dir, name)
        try:
            records.append(read_record(path))
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as exc:
            unreadable[path] = str(exc)
    return records, unreadable


def heartbeat_age(sweep_dir: str, rec: dict[str, Any], now: float) -> float:
    """Seconds since the run's agent last renewed its lease."""
    try:
        last = os.stat(os.path.join(os.fspath(sweep_dir), "runs", f"{rec['id']}.hb")).st_mtime
    except FileNotFoundError:
        last = float(rec.get("started") or 0.0)
    return now - last


def lease_left(sweep_dir: str, rec: dict[str, Any], now: float) -> float:
    """Seconds until a running run's lease lapses (negative: it has)."""
    lease = float(rec.get("lease_seconds") or DEFAULT_LEASE_SECONDS)
    return lease - heartbeat_age(sweep_dir, rec, now)


def interruptions(rec: dict[str, Any]) -> int:
    """How many attempts of the run were interrupted (preempted, or lost with its agent)."""
    return sum(1 for a in rec.get("history_of_attempts") or [] if a.get("state") in REQUEUE_STATES)


def attempts(runs: list[dict[str, Any]]) -> dict[str, int]:
    """``retried``: runs handed out again by ``sweepops retry``; ``resumed``: interrupted
    attempts run again (preempted, lost: resumed from the run's checkpoint when its program
    keeps one); ``attempts``: attempts of every run in all."""
    return {
        "retried": sum(1 for r in runs if int(r.get("retries") or 0) > 0),
        "resumed": sum(interruptions(r) for r in runs),
        "attempts": sum(int(r.get("attempt") or 1) for r in runs),
    }


def report(
    sweep_dir: str,
    now: float | None = None,
    records: tuple[list[dict[str, Any]], dict[str, str]] | None = None,
) -> dict[str, Any]:
    """What status needs of a sweep directory, read once (or given as ``records``, what
    ``read_records`` returned): ``states`` (runs per state, with ``unreadable``), ``lapsed``
    (running runs whose lease lapsed: their agent is gone), ``waiting`` (runs waiting to be
    run again), ``unreadable`` ({path: why}), ``loops`` ({run id: interrupted attempts} of
    runs interrupted LOOP_ATTEMPTS times or more), ``attempts`` (:func:`attempts`)."""
    now = time.time() if now is None else now
    runs, unreadable = records if records is not None else read_records(sweep_dir)
    states: dict[str, int] = {}
    for rec in runs:
        states[rec["state"]] = states.get(rec["state"], 0) + 1
    if unreadable:
        states[UNREADABLE] = len(unreadable)
    return {
        "states": states,
        "lapsed": sorted(
            r["id"] for r in runs if r["state"] == "running" and lease_left(sweep_dir, r, now) < 0
        ),
        "waiting": sorted(r["id"] for r in runs if r["state"] in REQUEUE_STATES),
        "unreadable": unreadable,
        "loops": {r["id"]: n for r in runs if (n := interruptions(r)) >= LOOP_ATTEMPTS},
        "attempts": attempts(runs),
    }
