"""The ``sweepops`` command line: :func:`main`, with one module per command group
(:func:`sweepops.cli.commands.command_groups` is the registry)."""

from sweepops.cli.commands import main

__all__ = ["main"]
