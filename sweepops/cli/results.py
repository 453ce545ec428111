"""Sub-command ``results``: the table of every run of a deploy, wherever it ran (fetched
through each executor, sweepops.results.gather), recorded in the journal."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from sweepops.cli.common import SubParsers, add_command, add_deploy_id, add_exp, add_inventory
from sweepops.cli.report import report_dir
from sweepops.core.errors import SweepopsError
from sweepops.ops.which_deploy import deploy_for
from sweepops.records import journal
from sweepops.results.fetch import fetch_warnings
from sweepops.results.gather import gather
from sweepops.results.rows import format_table, metric_note, results_exit_code, write_csv


def cmd_results(args: argparse.Namespace) -> int:
    if args.csv and args.csv != "-":
        check_writable(Path(args.csv))  # before anything is fetched or journalled
    deploy = deploy_for(args.root, args.exp, args.deploy)
    rows, metric, fetched = gather(
        args.root, deploy, inventory=args.inventory, fetch_remote=not args.no_fetch
    )
    for warning in fetch_warnings(fetched):
        print(f"sweepops: {warning}", file=sys.stderr)
    note = metric_note(rows, metric)
    if note:
        print(f"sweepops: {note}", file=sys.stderr)
    page = report_dir(args.root, deploy) / "index.html"
    journal.record_outcome(args.root, deploy, rows, metric, report=page if page.exists() else None)
    if args.csv:
        try:
            write_csv(rows, args.csv, metric)
        except OSError as exc:
            raise SweepopsError(f"cannot write {args.csv}: {exc.strerror or exc}") from None
    elif args.json:
        print(json.dumps(rows, indent=1, default=str))
    else:
        print(
            f"{deploy['experiment']} (deploy {deploy['deploy_id']}, "
            f"commit {str(deploy.get('commit'))[:10]})"
        )
        print(format_table(rows, metric))
    return results_exit_code(rows)


def check_writable(path: Path) -> None:
    """Refuse at once a file that cannot be written (its directory missing or read-only)."""
    folder = path.resolve().parent
    if not folder.is_dir():
        raise SweepopsError(
            f"cannot write {path}: the directory {folder} does not exist",
            hint=f"create it (mkdir -p {folder}) or give another path",
        )
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise SweepopsError(f"cannot write {path}: permission denied", hint="give another path")


def register(sub: SubParsers) -> None:
    sp = add_command(
        sub, "results", cmd_results, "the results table of an experiment's latest deploy"
    )
    add_exp(sp)
    sp.add_argument("--json", action="store_true", help="print the rows as a JSON list")
    sp.add_argument("--csv", default=None, metavar="FILE", help="write the rows as CSV (-: stdout)")
    add_deploy_id(sp)
    add_inventory(sp)
    sp.add_argument(
        "--no-fetch", action="store_true", help="use the cached cluster records; ask no cluster"
    )
