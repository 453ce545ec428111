"""Sub-command ``logs`` (registered in :mod:`sweepops.cli`); the work is
:func:`sweepops.ops.logs.cmd_logs`."""

from __future__ import annotations

from typing import Any

from sweepops.ops.logs import cmd_logs


def register(sub: Any) -> None:
    help_ = "print or follow the log of a run or job of an experiment, wherever it ran"
    sp = sub.add_parser("logs", help=help_, description=help_)
    sp.set_defaults(func=cmd_logs)
    sp.add_argument("exp", help="experiment name (experiments/NAME) or path")
    sp.add_argument(
        "id", nargs="?", default=None, help="a run id or Slurm job id (default: list the logs)"
    )
    sp.add_argument("-f", "--follow", action="store_true", help="follow until it has ended")
    sp.add_argument("--deploy", default=None, help="a deploy id (default: the latest)")
    sp.add_argument("-i", "--inventory", action="append", default=[], help="extra inventory")
