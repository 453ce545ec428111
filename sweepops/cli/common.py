"""What every sub-command shares: where the repository is, ``-e KEY=VALUE``, the arguments
several commands take (the experiment, ``--deploy``, ``-i``), and the short view of the
playbooks they run (``-v``, ``--no-color``)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sweepops.core.errors import SweepopsError

if TYPE_CHECKING:
    from sweepops.ansible.runner import Outcome
    from sweepops.ansible.view import RunView


def find_root(start: Path | None = None) -> Path:
    """The sweepops repository: $SWEEPOPS_ROOT, or the nearest parent with ansible.cfg and
    experiments/, or the current directory."""
    if os.environ.get("SWEEPOPS_ROOT"):
        return Path(os.environ["SWEEPOPS_ROOT"]).resolve()
    here = (start or Path.cwd()).resolve()
    for cand in (here, *here.parents):
        if (cand / "ansible.cfg").is_file() and (cand / "experiments").is_dir():
            return cand
    return here


def parse_extra_vars(pairs: list[str]) -> dict[str, Any]:
    """``-e KEY=VALUE`` pairs as a dict, each value read as YAML."""
    import yaml

    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise SweepopsError(
                f"-e {pair!r}: expected KEY=VALUE", hint="e.g. -e agents_per_sweep=4"
            )
        key, value = pair.split("=", 1)
        out[key] = yaml.safe_load(value)
    return out


def add_view_flags(sp: argparse.ArgumentParser) -> None:
    """-v and --no-color of a command that runs a playbook with the short view."""
    sp.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="show Ansible's own output instead of the short view (-vv... as ansible's -v)",
    )
    sp.add_argument(
        "--no-color", action="store_true", help="plain lines, no live display or colour"
    )


def short_view(args: argparse.Namespace, log: Path, stream: IO[str] | None = None) -> RunView:
    """The short view of a playbook run on ``stream`` (stdout), its whole Ansible log kept in
    ``log``; with -v or --diff, Ansible's own output instead (the log is kept all the same)."""
    from sweepops.ansible import view

    return view.short_view(
        log,
        verbose=args.verbose,
        no_color=args.no_color,
        own_output=getattr(args, "diff", False),
        stream=stream,
    )


#: The ``argparse`` sub-parsers action commands are added to (``register(sub)``).
SubParsers = Any

EXP_HELP = "experiment name (experiments/NAME) or path"


def add_command(
    sub: SubParsers, name: str, func: Callable[[argparse.Namespace], int], help_: str
) -> argparse.ArgumentParser:
    """A sub-command ``name`` running ``func(args)``; its help is its description too."""
    sp: argparse.ArgumentParser = sub.add_parser(name, help=help_, description=help_)
    sp.set_defaults(func=func)
    return sp


def add_exp(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("exp", help=EXP_HELP)


def add_deploy_id(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--deploy", default=None, help="a deploy id (default: the latest)")


def add_inventory(sp: argparse.ArgumentParser, help_: str = "extra inventory") -> None:
    sp.add_argument("-i", "--inventory", action="append", default=[], help=help_)


def run_viewed(
    args: argparse.Namespace,
    playbook: str,
    extravars: dict[str, Any],
    log: Path,
    outcome: Outcome,
    **options: Any,
) -> int:
    """Run a playbook for a command with the short view (:func:`short_view`): the stage lines
    while it runs and, when it went well, what the playbook said at its end. Returns rc; the
    caller says what a failure means (``outcome`` holds the failed tasks' messages)."""
    from sweepops.ansible.runner import run_playbook

    view = short_view(args, log)
    rc = run_playbook(
        args.root,
        playbook,
        extravars,
        check=args.check,
        inventory=args.inventory,
        verbosity=max(0, args.verbose - 1),
        outcome=outcome,
        view=view,
        **options,
    )
    if rc == 0 and view.display and view.summary:
        print("\n".join(view.summary))
    return rc
