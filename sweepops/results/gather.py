"""Every run of a deploy as one table: the rows from each executor's run records (this
machine's sweeps, the cached copies of each cluster's, fetched first) and from each sweep
server (wandb), best first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sweepops.core.progress import Progress
from sweepops.executors.base import Executor
from sweepops.executors.choose import executors_for
from sweepops.results.fetch import HostFetch, join_acct
from sweepops.results.rows import finish_rows, read_sweep_rows
from sweepops.results.wandb_rows import gather_wandb, wandb_sweeps
from sweepops.runtime.offline_sweep import OfflineSweep


def sweep_dirs(executors: list[Executor]) -> list[tuple[str, Path, bool]]:
    """(where, sweep directory, accounted) of every sweep of the deploy that has data here:
    the local ones (``local``) and the cached copies of each cluster's."""
    return [d for ex in executors for d in ex.result_dirs()]


def gather(
    root: Path,
    deploy: dict[str, Any],
    *,
    history: bool = False,
    inventory: list[str] | None = None,
    fetch_remote: bool = True,
    progress: Progress | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None, dict[str, HostFetch]]:
    """(rows, metric, what each place answered): every run of the deploy, wherever it ran,
    best first, each row with ``cluster`` and ``commit`` and its job's accounting."""
    executors = executors_for(root, deploy, inventory)
    fetched: dict[str, HostFetch] = {}
    if fetch_remote:
        for ex in executors:
            fetched.update(ex.fetch(progress))
    rows: list[dict[str, Any]] = []
    metric: dict[str, Any] | None = None
    on_wandb = {s["id"] for s in wandb_sweeps(deploy)}
    for cluster, path, accounted in sweep_dirs(executors):
        if path.name in on_wandb:
            continue  # its runs are on the wandb server (the directory holds agents' exits)
        sweep_metric = OfflineSweep(path).meta["config"].get("metric")
        metric = metric or sweep_metric
        keys = (str(sweep_metric["name"]),) if history and sweep_metric else ()
        _meta, sweep_rows = read_sweep_rows(path, history=keys if history else None)
        acct = fetched[cluster].acct if cluster in fetched else {}
        for row in sweep_rows:
            row["cluster"] = cluster
            row["commit"] = deploy.get("commit")
            if accounted:
                join_acct(row, acct)
        rows.extend(sweep_rows)
    # wandb-backed sweeps: their runs through wandb's public API, in the same table
    wandb_rows, answers = gather_wandb(
        root,
        deploy,
        history=history,
        fetch_remote=fetch_remote,
        progress=None
        if progress is None
        else Progress("wandb", stream=progress.stream, tty=progress.tty),
    )
    rows.extend(wandb_rows)
    for sweep in deploy["sweeps"]:
        if sweep["id"] in on_wandb:
            metric = metric or (sweep.get("meta") or {}).get("config", {}).get("metric")
    for url, got in answers.items():
        fetched[f"wandb {url}"] = HostFetch(f"wandb {url}", error=got.error)
    finish_rows(rows, metric)
    return rows, metric, fetched
