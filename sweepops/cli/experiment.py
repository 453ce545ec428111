"""Sub-commands ``validate`` and ``plan``: an experiment file read, checked and expanded,
nothing deployed.

The experiment modules (jsonschema, numpy: ~0.5 s) are imported when one of these commands
runs, not when the parser is built: every other command, ``sweepops agent`` among them,
starts without them."""

from __future__ import annotations

import argparse
import json

from sweepops.cli.common import SubParsers, add_command, add_exp
from sweepops.experiment.paths import resolve_experiment


def cmd_validate(args: argparse.Namespace) -> int:
    from sweepops.experiment.expand import load_experiment

    exp = load_experiment(resolve_experiment(args.exp, args.root), args.root)
    print(f"{exp.path}: ok, {len(exp.sweeps)} sweep(s): " + ", ".join(s.name for s in exp.sweeps))
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from sweepops.experiment.expand import load_experiment
    from sweepops.experiment.plan import format_plan, plan_experiment

    exp = load_experiment(resolve_experiment(args.exp, args.root), args.root)
    plan = plan_experiment(
        exp, default_agents=args.agents, confirm_runs_above=args.confirm_runs_above
    )
    print(json.dumps(plan, indent=2) if args.json else format_plan(plan))
    return 0


def register(sub: SubParsers) -> None:
    sp = add_command(sub, "validate", cmd_validate, "check an experiment file")
    add_exp(sp)

    sp = add_command(sub, "plan", cmd_plan, "show what an experiment would run")
    add_exp(sp)
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
