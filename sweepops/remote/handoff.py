"""The hand-off for clusters whose compute nodes have no internet (``compute_internet: false``).

Such a cluster still gets a real wandb sweep (made on the workstation, so the dashboard
exists), but its jobs run the offline agent (``sweepops agent``) against a sweep directory with
the same id and config; the runs log offline under ``SWEEP_DIR/wandb/``. ``sweepops sync``
later uploads each finished run with the real ``wandb sync``, attached to its sweep.

This module is the part both sides share, with the standard library only: it also ships to
the login node as Ansible module_utils (``module_utils/sweepops_remote`` links to this package)
and is the module ``sweepops_handoff`` (:data:`SPEC`, :func:`handoff`).

* :func:`handoff_hosts` decides, per cluster host, whether its compute nodes need the hand-off:
  the inventory's ``compute_internet`` (true / false / auto), where auto reads the internet
  probe that ``sweepops provision`` recorded (``.sweepops/facts/HOST.json``).
* :func:`pending_runs` lists a sweep's runs that are done and not uploaded yet, and
  :func:`mark_synced` records an upload on the cluster. The marker is wandb's own:
  ``run-RUNID.wandb.synced`` next to the run's ``.wandb`` file, which is what ``wandb sync``
  itself writes (and skips), so a second sync, another workstation or a ``wandb sync`` run by
  hand on the login node does not upload the run again.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .module_spec import ModuleFailed, ModuleSpec, Params, Result
from .slurm import FINAL_STATES, SlurmError, job_states
from .sweep_layout import sweep_dirs

#: Run states after which a run never changes again (``sweepops.runtime.offline_sweep.DONE_STATES``;
#: kept in step by a unit test, since this module must stay stdlib-only).
DONE_STATES = ("finished", "failed", "stopped")
SYNCED_SUFFIX = ".wandb.synced"
_RUN_DIR_RE = re.compile(r"offline-run-(\d{8}_\d{6})-(.+)")
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


# ---------------------------------------------------------------------- the decision
def parse_setting(value: Any) -> bool | None:
    """``compute_internet`` as given (bool, "true"/"false"/"auto", None): True, False or
    None (auto: ask the provisioning facts)."""
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("", "auto"):
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"compute_internet must be true, false or auto, not {value!r}")


def read_facts(facts_dir: Path, host: str) -> dict[str, Any] | None:
    """The facts ``sweepops provision`` stored for ``host`` on the workstation, if any."""
    try:
        data = json.loads((Path(facts_dir) / f"{host}.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def compute_internet(host: str, setting: Any, facts_dir: Path) -> tuple[bool, str]:
    """(do the compute nodes of ``host`` reach the internet, why we think so)."""
    value = parse_setting(setting)
    if value is not None:
        return value, f"compute_internet: {str(value).lower()}"
    facts = read_facts(facts_dir, host) or {}
    probed = facts.get("internet")
    if probed is False:
        return False, (
            f"compute_internet: auto, and provisioning found that its compute nodes cannot "
            f"reach {facts.get('internet_probe_url') or 'the internet'}"
        )
    if probed is True:
        return True, "compute_internet: auto, and provisioning's probe job reached the internet"
    return True, "compute_internet: auto, no recorded probe (assumed online)"


def handoff_hosts(settings: Mapping[str, Any], facts_dir: Path) -> dict[str, str]:
    """{host: reason} of the hosts among ``settings`` ({host: compute_internet}) whose compute
    nodes have no internet, so that their jobs must log offline and hand off to sync."""
    out = {}
    for host, setting in settings.items():
        online, why = compute_internet(host, setting, facts_dir)
        if not online:
            out[host] = why
    return out


# ---------------------------------------------------------------------- the runs
def offline_run_dirs(sweep_dir: Path) -> dict[str, str]:
    """{run id: name of its newest ``offline-run-TS-ID`` directory under ``SWEEP/wandb``}
    (a run re-run after preemption has one per attempt; the newest is the one that ended)."""
    best: dict[str, str] = {}
    try:
        entries = list(os.scandir(Path(sweep_dir) / "wandb"))
    except OSError:
        return best
    for entry in entries:
        match = _RUN_DIR_RE.fullmatch(entry.name)
        if match is None or not entry.is_dir():
            continue
        run_id = match.group(2)
        if run_id not in best or entry.name > best[run_id]:
            best[run_id] = entry.name
    return best


def synced_marker(sweep_dir: Path, run_dir: str, run_id: str) -> Path:
    return Path(sweep_dir) / "wandb" / run_dir / f"run-{run_id}{SYNCED_SUFFIX}"


def pending_runs(sweep_dir: Path) -> dict[str, Any]:
    """A sweep's runs as ``sweepops sync`` sees them.

    Returns ``{"runs": [...], "synced": N, "unfinished": N, "no_data": [...]}`` where each
    run is ``{"run_id", "dir" (the run's offline-run directory, relative to the sweep
    directory), "state"}``: the done runs (finished, failed, stopped) whose ``.wandb`` file
    exists and carries no synced marker. Unfinished runs (running, preempted, lost) are
    counted and left for a later sync; ``no_data`` names done runs that logged nothing to
    wandb (e.g. a program that failed before ``wandb.init``).
    """
    sweep_dir = Path(sweep_dir)
    out: dict[str, Any] = {"runs": [], "synced": 0, "unfinished": 0, "no_data": []}
    dirs = offline_run_dirs(sweep_dir)
    try:
        names = sorted(os.listdir(sweep_dir / "runs"))
    except OSError:
        return out
    for name in names:
        if not name.endswith(".json") or name.startswith("."):
            continue
        try:
            record = json.loads((sweep_dir / "runs" / name).read_text())
        except (OSError, ValueError):
            continue
        run_id = str(record.get("id") or name[: -len(".json")])
        state = str(record.get("state"))
        if state not in DONE_STATES:
            out["unfinished"] += 1
            continue
        run_dir = dirs.get(run_id)
        if run_dir is None or not (sweep_dir / "wandb" / run_dir / f"run-{run_id}.wandb").is_file():
            out["no_data"].append(run_id)
            continue
        if synced_marker(sweep_dir, run_dir, run_id).exists():
            out["synced"] += 1
            continue
        out["runs"].append({"run_id": run_id, "dir": f"wandb/{run_dir}", "state": state})
    return out


def mark_synced(sweep_dir: Path, run_dir: str, run_id: str, info: Mapping[str, Any]) -> bool:
    """Write the run's synced marker (``info``: where and when it was uploaded, as JSON).
    False if it was already marked."""
    name = Path(run_dir).name
    if not _RUN_DIR_RE.fullmatch(name) or "/" in run_id or not run_id:
        raise ValueError(f"not an offline run directory: {run_dir!r} ({run_id!r})")
    marker = synced_marker(sweep_dir, name, run_id)
    if marker.exists():
        return False
    body = {**info, "marked": time.time(), "marked_on": socket.gethostname()}
    tmp = marker.with_name(f".{marker.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(body, sort_keys=True) + "\n")
    os.replace(tmp, marker)
    return True


# --------------------------------------------------------------------------- the module


def rsync_includes(sweeps: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """rsync ``--include`` rules (relative to LAB/sweeps/) that select exactly the listed
    runs' directories of ``sweeps`` (:func:`pending_runs`' answers by sweep id)."""
    includes: list[str] = []
    for sid, found in sweeps.items():
        for run in found["runs"]:
            includes += [f"/{sid}/", f"/{sid}/wandb/", f"/{sid}/{run['dir']}/"]
            includes += [f"/{sid}/{run['dir']}/**"]
    return list(dict.fromkeys(includes))


def mark_runs(dirs: Mapping[str, str], items: list[dict[str, Any]], check_mode: bool) -> Result:
    """Mark each uploaded run of ``items`` synced; the run ids marked by this call."""
    marked: list[str] = []
    for item in items:
        sweep_dir = dirs.get(str(item.get("sweep_id")))
        if sweep_dir is None:
            raise ModuleFailed(f"run {item.get('run_id')}: sweep not among sweep_ids")
        info = {"url": item.get("url") or "", "sweep_id": item["sweep_id"]}
        if check_mode:
            continue
        try:
            if mark_synced(Path(sweep_dir), str(item["dir"]), str(item["run_id"]), info):
                marked.append(str(item["run_id"]))
        except (OSError, ValueError, KeyError) as exc:
            raise ModuleFailed(
                f"cannot mark run {item.get('run_id')}: {exc}", marked=marked
            ) from exc
    return {"changed": bool(marked), "marked": marked}


def handoff(p: Params, check_mode: bool) -> Result:
    """The module: see SPEC."""
    dirs = sweep_dirs(p["lab_root"], p["sweep_ids"])
    if p["mark"] is not None:
        return mark_runs(dirs, p["mark"], check_mode)
    try:
        # Jobs first: when none is live, the listing that follows is the final one.
        states = job_states(p["job_ids"])
    except SlurmError as exc:
        raise ModuleFailed(str(exc)) from exc
    live = sum(1 for s in states.values() if s.get("state") not in FINAL_STATES)
    sweeps = {sid: pending_runs(Path(d)) for sid, d in dirs.items()}
    return {
        "changed": False,
        "sweeps": sweeps,
        "live_jobs": live,
        "includes": rsync_includes(sweeps),
    }


SPEC = ModuleSpec(
    name="sweepops_handoff",
    short_description="List or mark the offline runs of wandb sweeps that sweepops sync uploads",
    description=(
        (
            "Without I(mark), lists per sweep the runs that are done (finished, failed, "
            "stopped), have an offline C(.wandb) file under C(LAB/sweeps/ID/wandb/) and "
            "no synced marker; counts the unfinished and the already synced ones; says "
            "whether any of I(job_ids) is still live."
        ),
        (
            "With I(mark), writes each run's marker C(run-RUNID.wandb.synced) (wandb's "
            "own) next to its C(.wandb) file; runs already marked are left alone."
        ),
    ),
    options={
        "lab_root": {
            "description": "The cluster's lab root.",
            "type": "path",
            "required": True,
        },
        "sweep_ids": {
            "description": "The sweeps to look at.",
            "type": "list",
            "elements": "str",
            "required": True,
        },
        "job_ids": {
            "description": "The Slurm jobs of these sweeps (to tell whether more runs may come).",
            "type": "list",
            "elements": "str",
            "default": [],
        },
        "mark": {
            "description": (
                "Runs uploaded, each with C(sweep_id), C(run_id), C(dir) (as listed) and "
                "optionally C(url)."
            ),
            "type": "list",
            "elements": "dict",
        },
    },
    returns={
        "sweeps": {
            "description": (
                "Per sweep id, C(runs) to upload (run_id, dir, state), C(synced), "
                "C(unfinished), C(no_data) (done runs that logged nothing to wandb)."
            ),
            "returned": "when listing",
            "type": "dict",
        },
        "live_jobs": {
            "description": "How many of I(job_ids) (array tasks) are pending or running.",
            "returned": "when listing",
            "type": "int",
        },
        "includes": {
            "description": (
                "rsync C(--include) patterns (relative to C(LAB/sweeps/)) that select "
                "exactly the listed runs' directories."
            ),
            "returned": "when listing",
            "type": "list",
            "elements": "str",
        },
        "marked": {
            "description": "The run ids marked by this call.",
            "returned": "when marking",
            "type": "list",
            "elements": "str",
        },
    },
)
