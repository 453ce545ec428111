"""Sub-command ``dashboard`` (registered in :mod:`sweepops.cli.commands`): a live local web
page of experiments' sweeps (:mod:`sweepops.results.dashboard`)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from sweepops.cli.common import SubParsers, add_command, add_inventory


def chosen_deploys(root: Path, exps: list[str], deploy_ids: list[str]) -> list[dict[str, Any]]:
    """The latest deploy of each experiment named (and each deploy id given); with none
    named, the latest deploy of each experiment deployed (the last 10)."""
    from sweepops.core.errors import SweepopsError
    from sweepops.ops.which_deploy import deploy_for
    from sweepops.records import ledger

    out = [deploy_for(root, exp, None) for exp in exps]
    out += [deploy_for(root, "", d) for d in deploy_ids]
    if not exps and not deploy_ids:
        latest: dict[str, dict[str, Any]] = {}
        for rec in ledger.deploy_lines(root):
            latest.pop(str(rec.get("experiment")), None)
            latest[str(rec.get("experiment"))] = rec
        out = list(latest.values())[-10:]
    if not out:
        raise SweepopsError("nothing deployed yet", hint="sweepops deploy EXP first")
    unique: dict[str, dict[str, Any]] = {}
    for deploy in out:
        unique.setdefault(str(deploy["deploy_id"]), deploy)
    return list(unique.values())


def cmd_dashboard(args: argparse.Namespace) -> int:
    from sweepops.results.dashboard import Dashboard
    from sweepops.results.live import Live

    live = Live(
        args.root, chosen_deploys(args.root, args.exp, args.deploy), inventory=args.inventory
    )
    board = Dashboard(live, port=args.port, interval=args.interval)
    board.start()
    print(f"sweepops dashboard: {board.url} (Ctrl-C stops it)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        board.stop()
    return 0


def register(sub: SubParsers) -> None:
    help_ = "a live web page (127.0.0.1) of experiments' sweeps: progress, curves, failures, logs"
    sp = add_command(sub, "dashboard", cmd_dashboard, help_)
    sp.add_argument("exp", nargs="*", help="experiments (default: the latest deploy of each)")
    sp.add_argument("--deploy", action="append", default=[], help="a deploy id (repeatable)")
    sp.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (0: any free one)")
    sp.add_argument(
        "--interval", type=float, default=3.0, help="seconds between refreshes of a cluster"
    )
    add_inventory(sp)
