"""Which deploy a command is about: an experiment's latest, or the one a deploy id names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sweepops.core.errors import SweepopsError
from sweepops.experiment.paths import resolve_experiment
from sweepops.records import ledger


def deploy_for(root: Path, exp_ref: str, deploy_id: str | None) -> dict[str, Any]:
    """The deploy ``deploy_id`` names, else the latest deploy of the experiment ``exp_ref``."""
    if deploy_id:
        rec = ledger.find_deploy(root, deploy_id)
        if rec is None:
            raise SweepopsError(f"no deploy {deploy_id} in {ledger.ledger_path(root)}")
        return rec
    path = resolve_experiment(exp_ref, root)
    deploys = ledger.deploys_of(root, path)
    if not deploys:
        raise SweepopsError(
            f"{exp_ref} has not been deployed from {root}",
            hint=f"run `sweepops deploy {exp_ref}` first",
        )
    return deploys[-1]
