"""Sub-command ``dashboard`` (registered in :mod:`sweepops.cli.commands`)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    return None
