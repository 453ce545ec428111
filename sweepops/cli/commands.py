"""The ``sweepops`` command line (see DESCRIPTION and EXIT_CODES for what --help shows)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from sweepops.cli.common import add_view_flags, find_root, parse_extra_vars, short_view
from sweepops.core import paths
from sweepops.core.errors import SweepopsError
from sweepops.ops.which_deploy import deploy_for, local_sweep_dirs
from sweepops.records import ledger


# ---------------------------------------------------------------------- commands
def cmd_validate(args: argparse.Namespace) -> int:
    from sweepops.experiment.expand import load_experiment
    from sweepops.experiment.paths import resolve_experiment

    exp = load_experiment(resolve_experiment(args.exp, args.root), args.root)
    print(f"{exp.path}: ok, {len(exp.sweeps)} sweep(s): " + ", ".join(s.name for s in exp.sweeps))
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from sweepops.experiment.expand import load_experiment
    from sweepops.experiment.paths import resolve_experiment
    from sweepops.experiment.plan import format_plan, plan_experiment

    exp = load_experiment(resolve_experiment(args.exp, args.root), args.root)
    plan = plan_experiment(
        exp, default_agents=args.agents, confirm_runs_above=args.confirm_runs_above
    )
    print(json.dumps(plan, indent=2) if args.json else format_plan(plan))
    return 0


def cmd_deploy(args: argparse.Namespace) -> int:
    from sweepops.ansible.runner import Outcome, run_playbook
    from sweepops.core.records import new_deploy_id
    from sweepops.core.settings import check_deploy_vars
    from sweepops.experiment.paths import resolve_experiment

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
    log = paths.deploy_log(args.root, deploy_id)
    view = short_view(args, log)
    rc = run_playbook(
        args.root,
        "deploy.yml",
        extravars,
        check=args.check,
        diff=args.diff,
        limit=args.limit,
        inventory=args.inventory,
        verbosity=max(0, args.verbose - 1),
        outcome=outcome,
        view=view,
    )
    if rc != 0:
        print(deploy_failure(rc, outcome, deploy_id, check=args.check, log=log), file=sys.stderr)
        return rc
    if view.display:
        print("\n".join(view.summary))
    if args.wait and not args.check:
        return _wait_and_show(args.root, deploy_id, timeout=args.timeout, inventory=args.inventory)
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


def _wait_and_show(
    root: Path, deploy_id: str, timeout: float | None, inventory: list[str] | None = None
) -> int:
    """Wait until the deploy's agents are done — here and on every cluster it was submitted
    to — then fetch and print every run, best first. Exit 1 if a run did not finish."""
    from sweepops.executors.local import running_agents
    from sweepops.results.fetch import gather
    from sweepops.results.rows import format_table
    from sweepops.runtime.offline_sweep import OfflineSweep

    deploy = ledger.find_deploy(root, deploy_id)
    assert deploy is not None
    sweeps = [OfflineSweep(d) for d in local_sweep_dirs(deploy)]
    from sweepops.core.progress import Progress

    start = time.monotonic()
    bar = Progress("waiting", stream=sys.stdout)
    while True:
        alive = sum(len(running_agents(s)) for s in sweeps)
        counts = [s.progress() for s in sweeps]
        done = sum(int(c["finished"] or 0) + int(c["stopped"] or 0) for c in counts)
        failed = sum(int(c["failed"] or 0) for c in counts)
        running = sum(int(c["running"] or 0) for c in counts)
        totals = [c["total"] for c in counts]
        total = "?" if any(t is None for t in totals) else str(sum(int(t or 0) for t in totals))
        bar.update(
            done,
            total=None if total == "?" else int(total),
            message=f"runs done, {failed} failed, {running} running, {alive} agents",
        )
        if alive == 0:
            break
        if timeout is not None and time.monotonic() - start > timeout:
            bar.close()
            raise SweepopsError(
                f"gave up waiting after {timeout:.0f}s; the agents keep running",
                hint=f"check `sweepops status {deploy['experiment']}`",
            )
        time.sleep(1.0)
    bar.close()
    why: list[str] = []
    answers: dict[str, dict[str, Any]] = {}
    if ledger.submissions(root, deploy_id):
        why, early, answers = _wait_for_clusters(root, deploy, start, timeout, inventory or [])
        if early:  # every job of a sweep failed while others still run: stop now
            print("\n".join(why), file=sys.stderr)
            return 1
    rows, metric, _ = gather(root, deploy, inventory=inventory)
    print(format_table(rows, metric))
    bad = [r for r in rows if r["state"] not in ("finished", "stopped")]
    if bad:
        print(f"sweepops: {len(bad)} run(s) did not finish:", file=sys.stderr)
        for r in bad[:5]:
            print(f"  run {r['run_id']}: {_run_why(r, answers)}", file=sys.stderr)
        print(f"logs: sweepops logs {deploy['experiment']} RUN_ID", file=sys.stderr)
    if why:  # e.g. the agents could not start: no run at all
        print("\n".join(why), file=sys.stderr)
    return 1 if bad or why else 0


def _run_why(row: dict[str, Any], answers: dict[str, dict[str, Any]]) -> str:
    """One line of why a run did not finish: from its log here, or as its cluster said."""
    from sweepops.remote.failures import read_tail, run_reason

    if row.get("record") and row.get("state") == "unreadable":
        # no log to read: name the record (results keeps its row, sweepops.results.rows)
        return f"its run record {row['record']} cannot be read ({row.get('error') or '?'})"
    cluster = row.get("cluster")
    if cluster in (None, "local"):
        return run_reason(row, read_tail(str(row.get("log") or "")))
    sweep = ((answers.get(str(cluster)) or {}).get("sweeps") or {}).get(row["sweep_id"]) or {}
    said = {r.get("id"): r.get("why") for r in sweep.get("failed_runs") or []}
    return str(said.get(row["run_id"]) or run_reason(row))


def _wait_for_clusters(
    root: Path,
    deploy: dict[str, Any],
    start: float,
    timeout: float | None,
    inventory: list[str],
    poll: float = 5.0,
) -> tuple[list[str], bool, dict[str, dict[str, Any]]]:
    """Poll the clusters (runs by state, squeue/sacct) until none of the jobs is live, or
    until every job of a sweep has failed while others still run (``early``). Returns the
    lines saying which sweeps' jobs all failed and why, ``early``, and the last answers."""
    from sweepops.core.progress import Progress
    from sweepops.ops.status import failed_sweeps
    from sweepops.remote.slurm import FINAL_STATES

    bar = Progress("waiting for the clusters", stream=sys.stdout)
    try:
        while True:
            answers = _ask_clusters(root, deploy, "status", inventory)
            broken = {h: r.get("msg") for h, r in answers.items() if r.get("failed")}
            if broken:
                raise SweepopsError(
                    f"cannot ask {', '.join(broken)} about the deploy: {list(broken.values())[0]}",
                    hint=f"the jobs keep running; check `sweepops status {deploy['experiment']}`",
                )
            jobs = [j for r in answers.values() for j in r.get("jobs", {}).values()]
            live = sum(j.get("state") not in FINAL_STATES for j in jobs)
            runs = [s for r in answers.values() for s in r.get("sweeps", {}).values()]
            done = sum(int(s.get("finished", 0)) + int(s.get("stopped", 0)) for s in runs)
            failed = sum(int(s.get("failed", 0)) for s in runs)
            running = sum(int(s.get("running", 0)) for s in runs)
            bar.update(
                done,
                total=None,
                message=f"runs done, {failed} failed, {running} running, {live} jobs live",
            )
            dead = failed_sweeps(deploy, ledger.submissions(root, deploy["deploy_id"]), answers)
            why = (
                [
                    f"sweepops: every job of {', '.join(dead)} failed"
                    + ("; stopped waiting" if live else ""),
                    *dead.values(),
                    f"logs: sweepops logs {deploy['experiment']} JOB_OR_RUN_ID",
                ]
                if dead
                else []
            )
            if dead and live:
                return why, True, answers
            if jobs and live == 0:
                return why, False, answers
            if timeout is not None and time.monotonic() - start > timeout:
                raise SweepopsError(
                    f"gave up waiting after {timeout:.0f}s; the jobs keep running",
                    hint=f"check `sweepops status {deploy['experiment']}`",
                )
            time.sleep(poll)
    finally:
        bar.close()


def cmd_results(args: argparse.Namespace) -> int:
    from sweepops.cli.report import report_dir
    from sweepops.records import journal
    from sweepops.results.fetch import fetch_warnings, gather
    from sweepops.results.rows import format_table, metric_note, results_exit_code, write_csv

    if args.csv and args.csv != "-":
        _check_writable(Path(args.csv))  # before anything is fetched or journalled
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


def _check_writable(path: Path) -> None:
    """Refuse at once a file that cannot be written (its directory missing or read-only)."""
    folder = path.resolve().parent
    if not folder.is_dir():
        raise SweepopsError(
            f"cannot write {path}: the directory {folder} does not exist",
            hint=f"create it (mkdir -p {folder}) or give another path",
        )
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise SweepopsError(f"cannot write {path}: permission denied", hint="give another path")


def _ask_clusters(
    root: Path, deploy: dict[str, Any], action: str, inventory: list[str]
) -> dict[str, dict[str, Any]]:
    """Status (or cancel) of a deploy on each cluster it was submitted to. A cluster no
    inventory knows (the deploy's recorded ones included) answers as failed, saying so."""
    from sweepops.ansible.runner import collect

    submitted = ledger.submissions(root, deploy["deploy_id"])
    if not submitted:
        return {}
    targets = {
        host: {
            "lab_root": info["lab_root"],
            "sweep_ids": [s["id"] for s in deploy["sweeps"]],
            "job_ids": sorted({str(j) for j in (info.get("jobs") or {}).values()}),
            "deploy_id": deploy["deploy_id"],
        }
        for host, info in submitted.items()
    }
    extravars = {"action": action, "sweepops_targets": targets}
    inventory = [*inventory, *ledger.inventories_of(root, deploy["deploy_id"])]
    answers = collect(root, "playbooks/cluster.yml", extravars, inventory=inventory)
    for host in targets:
        answers.setdefault(host, {"failed": True, "msg": ledger.unknown_host_message(host)})
    return answers


def cmd_status(args: argparse.Namespace) -> int:
    from sweepops.ops.status import deploy_status, exit_code, format_status

    deploys = (
        [deploy_for(args.root, args.exp, args.deploy)]
        if args.exp
        else ledger.deploy_lines(args.root)[-5:]
    )
    statuses = [deploy_status(args.root, d, args.inventory, _ask_clusters) for d in deploys]
    if args.json:
        print(json.dumps(statuses, indent=1, default=str))
    elif not deploys:
        print("nothing deployed yet")
    for status in [] if args.json else statuses:
        print("\n".join(format_status(status)))
    return exit_code(statuses)


def cmd_cancel(args: argparse.Namespace) -> int:
    from sweepops.executors.local import running_agents
    from sweepops.ops.status import job_summary
    from sweepops.runtime.offline_sweep import OfflineSweep

    deploy = deploy_for(args.root, args.exp, args.deploy)
    for entry in deploy["sweeps"]:
        if not entry.get("dir"):
            continue
        sweep = OfflineSweep(entry["dir"])
        agents = running_agents(sweep)
        if not agents:  # its agents have ended: the sweep is over, not cancelled
            print(f"{entry['name']} ({entry['id']}): no agent running here; nothing to cancel")
            continue
        sweep.cancel()
        for agent in agents:
            os.kill(int(agent["pid"]), signal.SIGTERM)
        print(f"cancelled {entry['name']} ({entry['id']}) on this machine")
    failed = False
    for host, res in sorted(_ask_clusters(args.root, deploy, "cancel", args.inventory).items()):
        if res.get("failed"):
            failed = True
            print(f"{host}: could not cancel: {res.get('msg')}", file=sys.stderr)
        elif not res.get("changed"):
            print(f"{host}: no job of the deploy is live; nothing to cancel")
        else:
            print(f"cancelled on {host}: jobs {job_summary(res.get('jobs', {}))}")
    return 1 if failed else 0


def cmd_gc(args: argparse.Namespace) -> int:
    from sweepops.ansible.runner import Outcome, run_playbook

    if args.keep is not None and args.keep < 0:
        raise SweepopsError("--keep takes 0 or more")
    extravars: dict[str, Any] = {
        **parse_extra_vars(args.extra_vars),
        "clusters": ",".join(args.clusters),
    }
    if args.keep is not None:
        extravars["keep"] = args.keep
    outcome = Outcome()
    rc = run_playbook(
        args.root,
        "playbooks/gc.yml",
        extravars,
        check=args.check,
        inventory=args.inventory,
        outcome=outcome,
    )
    if rc != 0:
        causes = "".join(f"\n  {e}" for e in outcome.errors) or " see the output above"
        print(f"sweepops: gc failed (exit {rc}):{causes}", file=sys.stderr)
    return rc


# ---------------------------------------------------------------------- parser
DESCRIPTION = "sweepops: run wandb sweeps on this machine or Slurm clusters with one command."

EXIT_CODES = """exit codes:
  0  done; for status and results: no run or job failed
  1  a command failed, or (status, results, deploy --wait) some run or job failed
  2  bad input or a refused check (the message says what to fix)
  3  status and results: runs or jobs failed and none finished (every run failed)"""


def command_groups() -> list[Any]:
    """The ``register(sub)`` of every command group kept in a module of its own: the one
    registry of sub-commands beyond those defined here (imported when the parser is built)."""
    from sweepops.cli import dashboard, diff, logs, provision, report, reproduce, sync
    from sweepops.runtime import agent_cli

    return [
        report.register,
        provision.register,
        sync.register,
        reproduce.register,
        logs.register,
        agent_cli.register,
        diff.register,
        dashboard.register,
    ]


def build_parser() -> argparse.ArgumentParser:
    from sweepops import __version__

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

    def add(name: str, func: Any, help_: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.set_defaults(func=func)
        return sp

    sp = add("validate", cmd_validate, "check an experiment file")
    sp.add_argument("exp", help="experiment name (experiments/NAME) or path")

    sp = add("plan", cmd_plan, "show what an experiment would run")
    sp.add_argument("exp", help="experiment name (experiments/NAME) or path")
    sp.add_argument("--json", action="store_true", help="print JSON for scripts")
    sp.add_argument(
        "--agents", type=int, default=2, help="agents per sweep when the file gives none"
    )
    sp.add_argument(
        "--confirm-runs-above",
        type=int,
        default=None,
        metavar="N",
        help="warn when the experiment makes more runs (default 1000, as a deploy's "
        "confirm_runs_above)",
    )

    sp = add("deploy", cmd_deploy, "create the sweeps and start their agents (runs deploy.yml)")
    sp.add_argument("exp", help="experiment name (experiments/NAME) or path")
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
    sp.add_argument(
        "-i",
        "--inventory",
        action="append",
        default=[],
        help="an inventory to add to the repository's inventory/ (repeatable)",
    )
    add_view_flags(sp)

    sp = add("results", cmd_results, "the results table of an experiment's latest deploy")
    sp.add_argument("exp", help="experiment name (experiments/NAME) or path")
    sp.add_argument("--json", action="store_true", help="print the rows as a JSON list")
    sp.add_argument("--csv", default=None, metavar="FILE", help="write the rows as CSV (-: stdout)")
    sp.add_argument("--deploy", default=None, help="a deploy id (default: the latest)")
    sp.add_argument("-i", "--inventory", action="append", default=[], help="extra inventory")
    sp.add_argument(
        "--no-fetch", action="store_true", help="use the cached cluster records; ask no cluster"
    )

    sp = add("status", cmd_status, "progress of an experiment's sweeps, here and on clusters")
    sp.add_argument("exp", nargs="?", help="experiment name or path (default: the last 5 deploys)")
    sp.add_argument("--deploy", default=None, help="a deploy id (default: the latest)")
    sp.add_argument("--json", action="store_true", help="print the status as JSON for scripts")
    sp.add_argument("-i", "--inventory", action="append", default=[], help="extra inventory")

    sp = add("cancel", cmd_cancel, "stop an experiment's sweeps (running runs are requeued)")
    sp.add_argument("exp", help="experiment name (experiments/NAME) or path")
    sp.add_argument("--deploy", default=None, help="a deploy id (default: the latest)")
    sp.add_argument("-i", "--inventory", action="append", default=[], help="extra inventory")

    sp = add("gc", cmd_gc, "remove old code snapshots no live job needs from clusters")
    sp.add_argument("clusters", nargs="+", help="clusters (inventory groups or hosts)")
    sp.add_argument(
        "--keep", type=int, default=None, help="newest kept (default: snapshot_keep, else 5)"
    )
    sp.add_argument("--check", action="store_true", help="only say what would be removed")
    sp.add_argument(
        "-e", "--extra-vars", action="append", default=[], help="KEY=VALUE (e.g. lab_root=...)"
    )
    sp.add_argument("-i", "--inventory", action="append", default=[], help="extra inventory")

    # The commands that live in their own modules, each adding its parsers (registry below).
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
