"""Sub-command ``reproduce`` (registered in :mod:`sweepops.cli`); the work is
:func:`sweepops.ops.reproduce.cmd_reproduce`."""

from __future__ import annotations

from typing import Any

from sweepops.cli.common import add_view_flags
from sweepops.ops.reproduce import cmd_reproduce


def register(sub: Any) -> None:
    help_ = "re-run one finished run exactly (same code snapshot, parameters, env) on a cluster"
    sp = sub.add_parser("reproduce", help=help_, description=help_)
    sp.set_defaults(func=cmd_reproduce)
    sp.add_argument("run_id", help="the run to re-run (as `sweepops results` shows it)")
    sp.add_argument(
        "--cluster", default=None, help="inventory host to run on (default: where it ran)"
    )
    sp.add_argument("--wait", action="store_true", help="wait and compare the metric")
    sp.add_argument("--timeout", type=float, default=600.0, help="seconds to --wait at most")
    sp.add_argument(
        "--json",
        action="store_true",
        help="print JSON only on stdout: the submission, or with --wait the comparison",
    )
    sp.add_argument("-i", "--inventory", action="append", default=[], help="extra inventory")
    add_view_flags(sp)
