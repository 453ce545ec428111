"""Sub-commands ``report``, ``export`` and ``note`` (registered in :mod:`sweepops.cli`)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from sweepops.core import paths
from sweepops.core.errors import SweepopsError
from sweepops.core.records import Deploy
from sweepops.ops.which_deploy import deploy_for
from sweepops.records import journal
from sweepops.results.fetch import fetch_warnings
from sweepops.results.gather import gather
from sweepops.results.rows import write_csv


def report_dir(root: Path, deploy: dict[str, Any]) -> Path:
    """The default output directory of a deploy's report."""
    return paths.reports_dir(root) / f"{deploy['experiment']}-{deploy['deploy_id']}"


def _rows_of(
    root: Path, deploy: dict[str, Any], *, history: bool, inventory: list[str] | None = None
) -> tuple[list[dict[str, Any]], Any]:
    """Rows of every run of the deploy: local sweeps and, fetched, those on its clusters."""
    rows, metric, fetched = gather(root, deploy, history=history, inventory=inventory)
    for warning in fetch_warnings(fetched):
        print(f"sweepops: {warning}", file=sys.stderr)
    if not rows and not Deploy.of(deploy).local_sweep_dirs and not fetched:
        raise SweepopsError(
            f"deploy {deploy['deploy_id']} has no sweep on this machine or any cluster",
            hint=f"`sweepops status {deploy['experiment']}` shows its progress",
        )
    return rows, metric


def _meta_lines(root: Path, deploy: dict[str, Any]) -> list[str]:
    commit = str(deploy.get("commit") or "-")[:12]
    dirty = len(deploy.get("dirty_files") or [])
    when = time.strftime("%Y-%m-%d %H:%M %z", time.localtime(deploy.get("time") or time.time()))
    sweeps = ", ".join(f"{s['name']} ({s['id']})" for s in deploy.get("sweeps", []))
    return [
        f"experiment {deploy.get('experiment_path') or deploy['experiment']}",
        f"deploy {deploy['deploy_id']} on {when}, commit {commit}"
        + (f" with {dirty} uncommitted file(s)" if dirty else ""),
        f"sweeps: {sweeps}",
    ]


def cmd_report(args: argparse.Namespace) -> int:
    from sweepops.results.report import PlotStyle, write_report

    deploy = deploy_for(args.root, args.exp, args.deploy)
    rows, metric = _rows_of(args.root, deploy, history=True, inventory=args.inventory)
    out_dir = Path(args.out).resolve() if args.out else report_dir(args.root, deploy)
    style = PlotStyle(width_px=args.width, height_px=args.height)
    page = write_report(
        rows,
        metric,
        out_dir,
        title=f"{deploy['experiment']}: deploy {deploy['deploy_id']}",
        meta_lines=_meta_lines(args.root, deploy),
        style=style,
    )
    if not args.no_journal:
        path = journal.record_outcome(args.root, deploy, rows, metric, report=page)
        print(f"journal: {path}", file=sys.stderr)
    print(page)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    deploy = deploy_for(args.root, args.exp, args.deploy)
    rows, metric = _rows_of(args.root, deploy, history=False, inventory=args.inventory)
    try:
        write_csv(rows, args.csv, metric)
    except BrokenPipeError:  # `sweepops export EXP | head`: the reader has seen enough
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - no flush error at exit
    if args.csv != "-":
        print(f"{len(rows)} runs written to {args.csv}", file=sys.stderr)
    if not args.no_journal:
        page = report_dir(args.root, deploy) / "index.html"
        journal.record_outcome(
            args.root, deploy, rows, metric, report=page if page.exists() else None
        )
    return 0


def cmd_note(args: argparse.Namespace) -> int:
    deploy = deploy_for(args.root, args.exp, args.deploy)
    path = journal.add_note(args.root, deploy, " ".join(args.text))
    print(f"noted under deploy {deploy['deploy_id']} in {path}")
    return 0


def register(sub: Any) -> None:
    """Add ``report``, ``export`` and ``note`` to the ``sweepops`` sub-command parsers."""
    help_ = "write an HTML report with plots of an experiment's latest deploy"
    sp = sub.add_parser("report", help=help_, description=help_)
    sp.set_defaults(func=cmd_report)
    sp.add_argument("exp", help="experiment name (experiments/NAME) or path")
    sp.add_argument("--deploy", default=None, help="a deploy id (default: the latest)")
    sp.add_argument(
        "--out", default=None, help="output directory (default: .sweepops/reports/EXP-DEPLOY)"
    )
    sp.add_argument("--width", type=int, default=960, help="plot width in pixels")
    sp.add_argument("--height", type=int, default=600, help="plot height in pixels")
    sp.add_argument(
        "--no-journal", action="store_true", help="do not write the outcome into the journal"
    )
    sp.add_argument("-i", "--inventory", action="append", default=[], help="extra inventory")

    help_ = "write the results table of an experiment's latest deploy as CSV"
    sp = sub.add_parser("export", help=help_, description=help_)
    sp.set_defaults(func=cmd_export)
    sp.add_argument("exp")
    sp.add_argument("--csv", default="-", metavar="FILE", help="file to write, - for stdout")
    sp.add_argument("--deploy", default=None, help="a deploy id (default: the latest)")
    sp.add_argument(
        "--no-journal", action="store_true", help="do not write the outcome into the journal"
    )
    sp.add_argument("-i", "--inventory", action="append", default=[], help="extra inventory")

    help_ = "add a timestamped note to the journal entry of an experiment's latest deploy"
    sp = sub.add_parser("note", help=help_, description=help_)
    sp.set_defaults(func=cmd_note)
    sp.add_argument("exp")
    sp.add_argument("text", nargs="+", help="the note (Markdown)")
    sp.add_argument("--deploy", default=None, help="a deploy id (default: the latest)")
