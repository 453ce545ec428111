"""Sub-command ``deploy``: run ``deploy.yml`` (create the sweeps, start their agents here or
submit their jobs), and with ``--wait`` wait for every executor of the deploy, then print
the results."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sweepops.ansible.runner import Outcome
from sweepops.cli.common import (
    SubParsers,
    add_command,
    add_exp,
    add_inventory,
    add_view_flags,
    parse_extra_vars,
    run_viewed,
)
from sweepops.core import paths
from sweepops.core.records import new_deploy_id
from sweepops.core.settings import check_deploy_vars
from sweepops.executors.base import Executor
from sweepops.executors.choose import executors_for
from sweepops.experiment.paths import resolve_experiment
from sweepops.records import ledger
from sweepops.remote.failures import run_reason
from sweepops.results.gather import gather
from sweepops.results.rows import format_table


def cmd_deploy(args: argparse.Namespace) -> int:
    extra = parse_extra_vars(args.extra_vars)
    if args.yes:
        extra["confirm_runs"] = "yes"
    # An unknown name fails here at once; the file itself is validated once, by the
    # playbook's sweepops_sweeps module (validating here too cost ~2 s of imports a deploy).
    resolve_experiment(args.exp, args.root)
    check_deploy_vars(extra)
    deploy_id = str(extra.pop("deploy_id", None) or new_deploy_id())
    extravars = {"exp": args.exp, "deploy_id": deploy_id, **extra}
    outcome = Outcome()
    log = paths.check_log(deploy_id) if args.check else paths.deploy_log(args.root, deploy_id)
    rc = run_viewed(args, "deploy.yml", extravars, log, outcome, diff=args.diff, limit=args.limit)
    if rc != 0:
        print(deploy_failure(rc, outcome, deploy_id, check=args.check, log=log), file=sys.stderr)
        return rc
    if args.wait and not args.check:
        return wait_and_show(args.root, deploy_id, timeout=args.timeout, inventory=args.inventory)
    return 0


def deploy_failure(
    rc: int, outcome: Any, deploy_id: str, *, check: bool = False, log: Path | None = None
) -> str:
    """What a failed deploy says on stderr: the cause (each failed task's message), where
    the whole log is and, only when sweeps were created (a retry then finishes them), how to
    finish the deploy."""
    lines = [f"sweepops: the deploy failed (exit {rc}):"]
    lines += [f"  {error}" for error in outcome.errors] or ["  see the output above"]
    if log is not None:
        lines.append(f"the whole Ansible log: {log}")
    if "sweepops_sweeps" in outcome.ok_actions and not check:
        lines.append(
            f"Its sweeps were created: fix the cause, then run it again with "
            f"-e deploy_id={deploy_id} to finish this deploy (nothing is submitted twice)."
        )
    else:
        lines.append("Nothing was created; fix the cause and deploy again.")
    return "\n".join(lines)


def wait_and_show(
    root: Path, deploy_id: str, timeout: float | None, inventory: list[str] | None = None
) -> int:
    """Wait until the deploy's agents are done — on every executor: here and on every
    cluster it was submitted to — then fetch and print every run, best first. Exit 1 if a
    run did not finish."""
    deploy = ledger.find_deploy(root, deploy_id)
    assert deploy is not None
    return wait_for(root, deploy, executors_for(root, deploy, inventory), timeout, inventory)


def wait_for(
    root: Path,
    deploy: dict[str, Any],
    executors: Sequence[Executor],
    timeout: float | None,
    inventory: list[str] | None = None,
) -> int:
    """Wait on each executor in turn, then print the results and why runs did not finish."""
    start = time.monotonic()
    why: list[str] = []
    for executor in executors:
        outcome = executor.wait(start, timeout)
        why += outcome.why
        if outcome.early:  # every job of a sweep failed while others still run: stop now
            print("\n".join(why), file=sys.stderr)
            return 1
    rows, metric, _ = gather(root, deploy, inventory=inventory)
    print(format_table(rows, metric))
    bad = [r for r in rows if r["state"] not in ("finished", "stopped")]
    if bad:
        print(f"sweepops: {len(bad)} run(s) did not finish:", file=sys.stderr)
        for r in bad[:5]:
            print(f"  run {r['run_id']}: {run_why(r, executors)}", file=sys.stderr)
        print(f"logs: sweepops logs {deploy['experiment']} RUN_ID", file=sys.stderr)
    if why:  # e.g. the agents could not start: no run at all
        print("\n".join(why), file=sys.stderr)
    return 1 if bad or why else 0


def run_why(row: dict[str, Any], executors: Sequence[Executor]) -> str:
    """One line of why a run did not finish: as the executor it ran on says (its log here,
    or its cluster's answer)."""
    if row.get("record") and row.get("state") == "unreadable":
        # no log to read: name the record (results keeps its row, sweepops.results.rows)
        return f"its run record {row['record']} cannot be read ({row.get('error') or '?'})"
    said = (executor.run_why(row) for executor in executors)
    return next((why for why in said if why is not None), None) or run_reason(row)


def register(sub: SubParsers) -> None:
    sp = add_command(
        sub, "deploy", cmd_deploy, "create the sweeps and start their agents (runs deploy.yml)"
    )
    add_exp(sp)
    sp.add_argument(
        "-e",
        "--extra-vars",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting for this deploy, over the inventory's (repeatable; the value is YAML), "
        "e.g. -e clusters=atlas -e time=02:00:00 -e allow_dirty=true -e deploy_id=ID",
    )
    sp.add_argument("--wait", action="store_true", help="wait for the runs, then print the results")
    sp.add_argument(
        "--yes",
        action="store_true",
        help="deploy even more runs than confirm_runs_above (as -e confirm_runs=N)",
    )
    sp.add_argument("--timeout", type=float, default=None, help="seconds to --wait at most")
    sp.add_argument("--check", action="store_true", help="show what would happen; change nothing")
    sp.add_argument(
        "--diff", action="store_true", help="show the changes (with --check: what would change)"
    )
    sp.add_argument("--limit", default=None, help="Ansible host pattern")
    add_inventory(sp, "an inventory to add to the repository's inventory/ (repeatable)")
    add_view_flags(sp)
