"""Sub-command ``logs EXP [RUN_ID|JOB_ID] [-f]``: a run's or a job's log, wherever it ran.

Without an id it lists the deploy's logs (this machine's runs, then each cluster's runs and
job tasks). With one it prints that log (the last MiB of a long one); ``-f`` follows it until
the run or job has ended. Each executor of the deploy looks in its own place (clusters are
read through ``playbooks/logs.yml``, ``library/sweepops_log.py``), so the user never needs to
know the lab layout.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from sweepops.cli.common import SubParsers, add_command, add_deploy_id, add_exp, add_inventory
from sweepops.core.errors import SweepopsError
from sweepops.executors.base import Executor, LogMiss
from sweepops.executors.choose import executors_for
from sweepops.ops.which_deploy import deploy_for


def cmd_logs(args: argparse.Namespace) -> int:
    deploy = deploy_for(args.root, args.exp, args.deploy)
    executors = executors_for(args.root, deploy, args.inventory)
    if not args.id:
        return list_all(deploy, executors)
    return show(deploy, executors, args.id, args.follow)


def list_all(deploy: dict[str, Any], executors: Sequence[Executor]) -> int:
    """Print every log of the deploy, this machine's first, then each cluster's."""
    rows = []
    for executor in executors:
        found, warnings = executor.list_logs()
        rows += found
        for warning in warnings:
            print(f"sweepops: {warning}", file=sys.stderr)
    if not rows:
        print(f"deploy {deploy['deploy_id']} has no logs yet")
        return 0
    print(f"{'where':<16} {'kind':<4} {'id':<14} {'state':<10} log")
    for where, e in rows:
        print(f"{where:<16} {e['kind']:<4} {e['id']:<14} {e.get('state') or '-':<10} {e['path']}")
    print(f"show one: sweepops logs {deploy['experiment']} ID [-f]")
    return 0


def show(deploy: dict[str, Any], executors: Sequence[Executor], log_id: str, follow: bool) -> int:
    """Print (and with ``follow`` follow) the log of run or job ``log_id`` from the first
    executor that has it; SweepopsError naming where it was looked for when none has."""
    misses: list[LogMiss] = []
    for executor in executors:
        miss = executor.show_log(log_id, follow)
        if miss is None:
            return 0
        misses.append(miss)
    where = " or on ".join(m.where for m in misses if m.where)
    broken = [b for m in misses for b in m.broken]
    raise SweepopsError(
        f"deploy {deploy['deploy_id']} has no run or job {log_id!r} on {where}"
        + (f" (could not ask {'; '.join(broken)})" if broken else ""),
        hint=f"`sweepops logs {deploy['experiment']}` lists its runs and jobs",
    )


def register(sub: SubParsers) -> None:
    help_ = "print or follow the log of a run or job of an experiment, wherever it ran"
    sp = add_command(sub, "logs", cmd_logs, help_)
    add_exp(sp)
    sp.add_argument(
        "id", nargs="?", default=None, help="a run id or Slurm job id (default: list the logs)"
    )
    sp.add_argument("-f", "--follow", action="store_true", help="follow until it has ended")
    add_deploy_id(sp)
    add_inventory(sp)
