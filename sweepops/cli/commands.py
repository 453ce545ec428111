"""The ``sweepops`` command line: the parser, built from the explicit registry of command
groups (:func:`command_groups`, one module per group), and :func:`main` (see DESCRIPTION
and EXIT_CODES for what --help shows)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from sweepops import __version__
from sweepops.cli import (
    dashboard,
    deploy,
    diff,
    experiment,
    gc,
    logs,
    provision,
    report,
    reproduce,
    results,
    retry,
    status,
    sync,
)
from sweepops.cli.common import SubParsers, find_root
from sweepops.core.errors import SweepopsError
from sweepops.runtime import agent_cli

DESCRIPTION = "sweepops: run wandb sweeps on this machine or Slurm clusters with one command."

EXIT_CODES = """exit codes:
  0  done; for status and results: no run or job failed
  1  a command failed, or (status, results, deploy --wait) some run or job failed
  2  bad input or a refused check (the message says what to fix)
  3  status and results: runs or jobs failed and none finished (every run failed)"""


def command_groups() -> list[Callable[[SubParsers], None]]:
    """The ``register(sub)`` of every command group, in the order ``--help`` lists them: the
    one registry of sub-commands. Each module is imported above, so a missing one fails at
    once (it is never skipped)."""
    return [
        experiment.register,  # validate, plan
        deploy.register,
        results.register,
        status.register,  # status, cancel
        retry.register,
        gc.register,
        report.register,  # report, export, note
        provision.register,
        sync.register,
        reproduce.register,
        logs.register,
        agent_cli.register,
        diff.register,
        dashboard.register,
    ]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sweepops",
        description=DESCRIPTION,
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"sweepops {__version__}")
    p.add_argument(
        "--root", type=Path, default=None, help="the sweepops repository (default: found from cwd)"
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in command_groups():
        register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.root = (args.root or find_root()).resolve()
    try:
        return int(args.func(args))
    except SweepopsError as exc:
        print(f"sweepops: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `sweepops results ... | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
