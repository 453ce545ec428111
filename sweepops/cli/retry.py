"""Sub-command ``retry``: run chosen runs of an experiment's latest deploy again, as new
attempts of the same runs (same id, parameters, code snapshot, environment and image), on
every executor of the deploy, starting or submitting agents where none is live."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sweepops.backends.select import backend_of
from sweepops.cli.common import (
    SubParsers,
    add_command,
    add_deploy_id,
    add_exp,
    add_inventory,
    parse_extra_vars,
)
from sweepops.cli.deploy import wait_for
from sweepops.core.errors import SweepopsError
from sweepops.executors.base import RetryChoice
from sweepops.executors.choose import executors_for
from sweepops.ops.which_deploy import deploy_for


def server_sweeps(deploy: dict[str, Any]) -> list[str]:
    """One line per sweep of the deploy whose runs a sweep server hands out (wandb): what
    retry can and cannot do there."""
    lines = []
    for entry in deploy.get("sweeps") or []:
        backend = backend_of(deploy, entry)
        if backend.name == "offline":
            continue
        lines.append(
            f"{entry.get('name')} ({entry['id']}) is a {backend.name} sweep: its server decides "
            "what its agents run, so retry cannot re-run chosen runs there. What you can do: "
            "re-run one run's parameters with `sweepops reproduce`, or deploy the experiment "
            "again with -e sweep_backend=offline to have retry, resume and attempts."
        )
    return lines


def cmd_retry(args: argparse.Namespace) -> int:
    settings = parse_extra_vars(args.extra_vars)
    run_ids = tuple(args.run or ())
    for run_id in run_ids:
        if not run_id.isalnum():
            raise SweepopsError(
                f"--run {run_id!r}: not a run id (letters and digits)",
                hint=f"see the ids in `sweepops results {args.exp}`",
            )
    failed, lost = args.failed, args.lost
    if not (failed or lost or run_ids):
        failed = lost = True  # the default: every run that did not finish
    deploy = deploy_for(args.root, args.exp, args.deploy)
    server = server_sweeps(deploy)
    for line in server:
        print(f"sweepops: {line}", file=sys.stderr)
    if server and len(server) == len(deploy.get("sweeps") or []):
        return 2
    choice = RetryChoice(failed=failed, lost=lost, run_ids=run_ids, settings=settings)
    bad = False
    executors = executors_for(args.root, deploy, args.inventory)
    for executor in executors:
        for notice in executor.retry(choice):
            bad = bad or notice.failed
            print(notice.text, file=sys.stderr if notice.failed else sys.stdout)
    if args.wait and not bad:
        sys.stdout.flush()
        return wait_for(args.root, deploy, executors, args.timeout, args.inventory)
    return 1 if bad else 0


def register(sub: SubParsers) -> None:
    sp = add_command(
        sub,
        "retry",
        cmd_retry,
        "run failed or lost runs of an experiment again, as new attempts of the same runs",
    )
    add_exp(sp)
    add_deploy_id(sp)
    sp.add_argument("--failed", action="store_true", help="the runs that failed")
    sp.add_argument(
        "--lost", action="store_true", help="the runs whose agent died (lost, or lease lapsed)"
    )
    sp.add_argument(
        "--run", action="append", metavar="ID", help="this run (repeatable; not a finished one)"
    )
    sp.add_argument(
        "-e",
        "--extra-vars",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a job setting for the jobs submitted for the retries, e.g. -e mem=8G "
        "(clusters only; repeatable)",
    )
    sp.add_argument("--wait", action="store_true", help="wait for the runs, then print the results")
    sp.add_argument("--timeout", type=float, default=None, help="seconds to --wait at most")
    add_inventory(sp)
