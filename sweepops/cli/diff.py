"""Sub-command ``diff`` (registered in :mod:`sweepops.cli.commands`): what differs between two
deploys, runs or experiments (:mod:`sweepops.ops.diff`)."""

from __future__ import annotations

import argparse
import json

from sweepops.cli.common import SubParsers, add_command, add_inventory


def cmd_diff(args: argparse.Namespace) -> int:
    from sweepops.ops.diff import diff, format_diff

    result = diff(args.root, args.a, args.b, offline=args.offline, inventory=args.inventory)
    if args.json:
        print(json.dumps(result, indent=1, default=str))
    else:
        print(format_diff(result, patch=not args.stat))
    return 0


def register(sub: SubParsers) -> None:
    help_ = "what differs between two deploys, runs or experiments (code, parameters, env, ...)"
    sp = add_command(sub, "diff", cmd_diff, help_)
    sp.add_argument("a", metavar="A", help="a deploy id, a run id or an experiment name")
    sp.add_argument("b", metavar="B", help="the same for the other side")
    sp.add_argument("--json", action="store_true", help="print every section as JSON")
    sp.add_argument("--stat", action="store_true", help="name what differs; no patches")
    sp.add_argument(
        "--offline",
        action="store_true",
        help="ask no cluster: the job scripts only from the copies fetched before",
    )
    add_inventory(sp)
