"""What every sub-command shares: where the repository is, ``-e KEY=VALUE``, and the
arguments several commands take (the experiment, ``--deploy``, ``-i``)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sweepops.core.errors import SweepopsError


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
