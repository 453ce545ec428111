"""``sweepops agent SWEEP_DIR``: the command line of the offline agent.

Its own module so that what a job runs on a cluster is small: the agent's runtime
(sweepops.artifacts.agent_runtime) ships this module and what it imports, not the whole command
line.
``sweepops agent`` on the workstation and ``python -s RUNTIME agent`` in a job are both this.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from sweepops.core.errors import SweepopsError
from sweepops.remote.bad_nodes import DEFAULT_BAD_NODE_FAILURES
from sweepops.remote.sweep_layout import DEFAULT_LEASE_SECONDS


def cmd_agent(args: argparse.Namespace) -> int:
    from sweepops.runtime.agent import Agent, AgentOptions
    from sweepops.runtime.offline_sweep import OfflineSweep, parse_shard

    sweep = OfflineSweep(
        args.sweep,
        shard=parse_shard(args.shard) if args.shard else None,
        bad_node_failures=args.bad_node_failures,
    )
    sweep.meta  # noqa: B018 - fail early with a clear message if it is not a sweep
    opts = AgentOptions(
        code_dir=Path(args.code_dir).resolve(),
        count=args.count,
        max_consecutive_failures=args.max_consecutive_failures,
        lease_seconds=args.lease,
        kill_delay=args.kill_delay,
        max_resumes=args.max_resumes,
        failed_nodes=tuple(n for n in (args.failed_nodes or "").split(",") if n),
        job=args.job or "",
    )
    report = Agent(sweep, opts).run()
    if args.report:
        Path(args.report).write_text(json.dumps({**report.__dict__, "exit_code": report.exit_code}))
    return report.exit_code


def add_arguments(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("sweep", help="the sweep directory")
    sp.add_argument("--code-dir", default=".", help="directory the runs start in (default: cwd)")
    sp.add_argument("--count", type=int, default=None, help="run at most N runs")
    sp.add_argument("--max-consecutive-failures", type=int, default=3)
    sp.add_argument(
        "--lease",
        type=float,
        default=DEFAULT_LEASE_SECONDS,
        help="seconds without heartbeat before a run is re-run",
    )
    sp.add_argument(
        "--kill-delay", type=float, default=15.0, help="seconds from SIGTERM to SIGKILL"
    )
    sp.add_argument(
        "--bad-node-failures",
        type=int,
        default=DEFAULT_BAD_NODE_FAILURES,
        metavar="K",
        help="exclude a Slurm node where K runs failed in a row while others finished "
        "elsewhere (0: never)",
    )
    sp.add_argument(
        "--max-resumes",
        type=int,
        default=3,
        metavar="N",
        help="resume a run cut at the time limit (SIGUSR1) at most N times",
    )
    sp.add_argument(
        "--failed-nodes",
        default=None,
        metavar="NODES",
        help="nodes Slurm ended this job on with NODE_FAIL (comma-separated): excluded",
    )
    sp.add_argument("--job", default=None, help="the Slurm job of --failed-nodes")
    sp.add_argument("--report", default=None, help="write the agent's final report (JSON) here")
    sp.add_argument(
        "--shard",
        default=None,
        metavar="I/K",
        help="run only share I of K of the sweep (one deploy split over K clusters)",
    )


HELP = "run the runs of an offline sweep (like `wandb agent`)"


def register(sub: Any) -> None:
    sp = sub.add_parser("agent", help=HELP, description=HELP)
    add_arguments(sp)
    sp.set_defaults(func=cmd_agent)


def main(argv: list[str] | None = None) -> int:
    """``python -s RUNTIME agent ...`` (the runtime's ``__main__``): the agent alone."""
    parser = argparse.ArgumentParser(prog="sweepops")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    register(sub)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except SweepopsError as exc:
        print(f"sweepops: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
