"""Sub-command ``sync`` (registered by :mod:`sweepops.cli.commands`): upload the offline runs of an
experiment's wandb sweeps from clusters whose compute nodes have no internet."""

from __future__ import annotations

import argparse
from typing import Any

from sweepops.cli.common import add_view_flags, short_view
from sweepops.core.errors import SweepopsError
from sweepops.core.paths import run_log
from sweepops.experiment.paths import resolve_experiment
from sweepops.records import ledger
from sweepops.results.sync import sync


def cmd_sync(args: argparse.Namespace) -> int:
    if args.watch is not None and args.watch <= 0:
        raise SweepopsError("--watch takes a positive number of seconds")
    if args.deploy:
        rec = ledger.find_deploy(args.root, args.deploy)
        if rec is None:
            raise SweepopsError(f"no deploy {args.deploy} in {ledger.ledger_path(args.root)}")
        deploys = [rec]
    else:
        path = resolve_experiment(args.exp, args.root)
        deploys = ledger.deploys_of(args.root, path)
        if not deploys:
            raise SweepopsError(
                f"{args.exp} has not been deployed from {args.root}",
                hint=f"run `sweepops deploy {args.exp}` first",
            )
    # each pass's playbook run: its stage lines; the whole log of every pass kept in one
    # file (a failure names it)
    log = run_log(args.root, "sync")
    return sync(
        args.root,
        deploys,
        watch=args.watch,
        inventory=args.inventory,
        view=lambda: short_view(args, log),
    )


def register(sub: Any) -> None:
    sp = sub.add_parser(
        "sync",
        help="upload finished offline runs of wandb sweeps from clusters without internet",
        description="Upload, with the real `wandb sync` on this machine, every finished offline "
        "run of EXP's wandb sweeps from the clusters whose compute nodes have no internet "
        "(compute_internet: false), attached to its sweep; each run once (a marker on the "
        "cluster and here). Unfinished runs are left for a later sync.",
    )
    sp.add_argument("exp", help="experiment name (experiments/NAME) or path")
    sp.add_argument(
        "--watch",
        type=float,
        default=None,
        metavar="SECONDS",
        help="sync again every SECONDS until no job of the experiment is left",
    )
    sp.add_argument("--deploy", default=None, help="only this deploy id (default: all deploys)")
    sp.add_argument("-i", "--inventory", action="append", default=[], help="extra inventory")
    add_view_flags(sp)
    sp.set_defaults(func=cmd_sync)
