"""Which executors a deploy has: the one place the local-vs-cluster (and which scheduler)
choice is made.

Every deploy has the :class:`~sweepops.executors.local.LocalExecutor` of its sweeps on this
machine (it has nothing to do when there are none), then one executor per scheduler its
cluster submissions were recorded with (:attr:`sweepops.core.records.ClusterSubmission.
scheduler`; a submission recorded before schedulers were recorded is Slurm's), covering
those hosts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sweepops.core.errors import SweepopsError
from sweepops.core.records import ClusterSubmission
from sweepops.executors.base import ClusterExecutor, Executor
from sweepops.executors.local import LocalExecutor
from sweepops.executors.slurm import SlurmExecutor
from sweepops.records import ledger

#: The executor of each scheduler a cluster submission can name.
EXECUTORS: dict[str, type[ClusterExecutor]] = {"slurm": SlurmExecutor}


def executor_class(submission: ClusterSubmission) -> type[ClusterExecutor]:
    """The executor of a ledger's cluster submission, by its recorded scheduler."""
    try:
        return EXECUTORS[submission.scheduler]
    except KeyError:
        raise SweepopsError(
            f"{submission.host}: the deploy was submitted with scheduler "
            f"{submission.scheduler!r}, which this sweepops cannot drive",
            hint="use the sweepops version that made the deploy",
        ) from None


def executors_for(
    root: Path, deploy: dict[str, Any], inventory: list[str] | None = None
) -> list[Executor]:
    """The executors of a deploy, in the order the CLI reports them: this machine first,
    then each scheduler's hosts."""
    hosts: dict[type[ClusterExecutor], list[str]] = {}
    for host, info in sorted(ledger.submissions(root, deploy["deploy_id"]).items()):
        hosts.setdefault(executor_class(ClusterSubmission.of(host, info)), []).append(host)
    out: list[Executor] = [LocalExecutor(root, deploy, inventory)]
    out += [cls(root, deploy, inventory, hosts=names) for cls, names in hosts.items()]
    return out
