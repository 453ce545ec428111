"""Creating an experiment's sweeps: the one code path behind `sweepops deploy` and the playbook.

``create_sweeps`` is idempotent by deploy id: called again with the same id (a retried deploy,
or the playbook after `sweepops deploy` already created them) it returns the sweeps already
made and creates nothing.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

from . import journal, ledger
from .experiment import Experiment, load_experiment, resolve_experiment
from .gitinfo import git_state
from .offline_sweep import OfflineSweep, sweep_meta
from .plan import plan_experiment


def new_deploy_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def local_lab_root(root: Path) -> Path:
    """Where the built-in local executor keeps its sweeps."""
    return root / ".sweepops" / "lab"


def sweep_parent(lab_root: Path) -> Path:
    return lab_root / "sweeps"


def create_sweeps(
    exp_ref: str,
    *,
    root: Path,
    lab_root: Path | None = None,
    deploy_id: str | None = None,
    default_agents: int = 2,
    clusters: tuple[str, ...] = ("local",),
    dry_run: bool = False,
) -> tuple[dict[str, Any], bool]:
    """Create every sweep of the experiment. Returns (deploy record, changed).

    Each sweep entry carries ``meta``, the exact ``sweep.json`` content, so that the sweep is
    the same wherever it is materialised: here (``local`` among ``clusters``, under
    ``lab_root``) or on a cluster's shared disk by the deploy playbook.
    """
    root = root.resolve()
    if deploy_id:
        existing = ledger.find_deploy(root, deploy_id)
        if existing is not None:
            return existing, False
    exp = load_experiment(resolve_experiment(exp_ref, root), root)
    deploy_id = deploy_id or new_deploy_id()
    lab_root = (lab_root or local_lab_root(root)).resolve()
    git = git_state(root)
    record: dict[str, Any] = {
        "deploy_id": deploy_id,
        "time": time.time(),
        "experiment": exp.name,
        "experiment_path": str(exp.path),
        "experiment_sha256": exp.sha256,
        "commit": git.commit,
        "dirty_files": list(git.dirty_files),
        "backend": "offline",
        "clusters": list(clusters),
        "lab_root": str(lab_root) if "local" in clusters else None,
        "sweeps": [],
    }
    plan = plan_experiment(exp, default_agents=default_agents)
    for spec, row in zip(exp.sweeps, plan["sweeps"], strict=True):
        meta = sweep_meta(
            config=spec.config,
            name=spec.name,
            tags=spec.tags,
            extra={
                "experiment": exp.name,
                "deploy_id": deploy_id,
                "run_env": run_env(exp, spec.tags, deploy_id, git.commit, git.remote),
            },
        )
        entry: dict[str, Any] = {
            "id": meta["id"],
            "name": spec.name,
            "tags": list(spec.tags),
            "agents": row["agents"],
            "runs": row["runs"],
            "meta": meta,
        }
        if "local" in clusters:
            entry["dir"] = str(sweep_parent(lab_root) / meta["id"])
            if not dry_run:
                OfflineSweep.create_from_meta(sweep_parent(lab_root), meta)
        record["sweeps"].append(entry)
    if not dry_run:
        ledger.append(root, record)
        journal.append_deploy(root, record)
    return record, True


def run_env(
    exp: Experiment,
    tags: tuple[str, ...],
    deploy_id: str,
    commit: str | None,
    remote: str | None,
) -> dict[str, str]:
    """wandb metadata every run of the sweep gets through its environment."""
    raw = exp.raw
    env = {
        "WANDB_PROJECT": str(raw.get("project") or exp.name),
        "WANDB_RUN_GROUP": deploy_id,
    }
    if raw.get("entity"):
        env["WANDB_ENTITY"] = str(raw["entity"])
    if tags:
        env["WANDB_TAGS"] = ",".join(tags)
    if commit:
        env["WANDB_GIT_COMMIT"] = commit
    if remote:
        env["WANDB_GIT_REMOTE_URL"] = remote
    return env
