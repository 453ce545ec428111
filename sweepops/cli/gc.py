"""Sub-command ``gc``: remove old code snapshots no live job needs from clusters
(``playbooks/gc.yml``)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sweepops.ansible.runner import Outcome
from sweepops.cli.common import (
    SubParsers,
    add_command,
    add_inventory,
    add_view_flags,
    parse_extra_vars,
    run_viewed,
)
from sweepops.core import paths
from sweepops.core.errors import SweepopsError


def cmd_gc(args: argparse.Namespace) -> int:
    if args.keep is not None and args.keep < 0:
        raise SweepopsError("--keep takes 0 or more")
    extravars: dict[str, Any] = {
        **parse_extra_vars(args.extra_vars),
        "clusters": ",".join(args.clusters),
    }
    if args.keep is not None:
        extravars["keep"] = args.keep
    outcome = Outcome()
    log = paths.check_log("gc") if args.check else paths.run_log(args.root, "gc")
    rc = run_viewed(args, "playbooks/gc.yml", extravars, log, outcome)
    if rc != 0:
        causes = "".join(f"\n  {e}" for e in outcome.errors) or " see the output above"
        print(
            f"sweepops: gc failed (exit {rc}):{causes}\nthe whole Ansible log: {log}",
            file=sys.stderr,
        )
    return rc


def register(sub: SubParsers) -> None:
    sp = add_command(sub, "gc", cmd_gc, "remove old code snapshots no live job needs from clusters")
    sp.add_argument("clusters", nargs="+", help="clusters (inventory groups or hosts)")
    sp.add_argument(
        "--keep", type=int, default=None, help="newest kept (default: snapshot_keep, else 5)"
    )
    sp.add_argument("--check", action="store_true", help="only say what would be removed")
    sp.add_argument(
        "-e", "--extra-vars", action="append", default=[], help="KEY=VALUE (e.g. lab_root=...)"
    )
    add_inventory(sp)
    add_view_flags(sp)
