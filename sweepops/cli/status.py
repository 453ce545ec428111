"""Sub-commands ``status`` and ``cancel``: a deploy's progress, and stopping it, on each of
its executors (this machine, its clusters) alike."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from sweepops.cli.common import (
    SubParsers,
    add_command,
    add_deploy_id,
    add_exp,
    add_inventory,
)
from sweepops.executors.base import Executor
from sweepops.executors.choose import executors_for
from sweepops.ops.status import deploy_status, exit_code, format_status
from sweepops.ops.which_deploy import deploy_for
from sweepops.records import ledger


def cmd_status(args: argparse.Namespace) -> int:
    deploys = (
        [deploy_for(args.root, args.exp, args.deploy)]
        if args.exp
        else ledger.deploy_lines(args.root)[-5:]
    )
    statuses = [
        deploy_status(args.root, d, executors_for(args.root, d, args.inventory)) for d in deploys
    ]
    if args.json:
        print(json.dumps(statuses, indent=1, default=str))
    elif not deploys:
        print("nothing deployed yet")
    for status in [] if args.json else statuses:
        print("\n".join(format_status(status)))
    return exit_code(statuses)


def cmd_cancel(args: argparse.Namespace) -> int:
    deploy = deploy_for(args.root, args.exp, args.deploy)
    return cancel(executors_for(args.root, deploy, args.inventory))


def cancel(executors: Sequence[Executor]) -> int:
    """Cancel on every executor, printing what each did; 1 if one could not."""
    failed = False
    for executor in executors:
        for notice in executor.cancel():
            failed = failed or notice.failed
            print(notice.text, file=sys.stderr if notice.failed else sys.stdout)
    return 1 if failed else 0


def register(sub: SubParsers) -> None:
    sp = add_command(
        sub, "status", cmd_status, "progress of an experiment's sweeps, here and on clusters"
    )
    sp.add_argument("exp", nargs="?", help="experiment name or path (default: the last 5 deploys)")
    add_deploy_id(sp)
    sp.add_argument("--json", action="store_true", help="print the status as JSON for scripts")
    add_inventory(sp)

    sp = add_command(
        sub, "cancel", cmd_cancel, "stop an experiment's sweeps (running runs are requeued)"
    )
    add_exp(sp)
    add_deploy_id(sp)
    add_inventory(sp)
