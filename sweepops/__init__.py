"""sweepops: run wandb sweeps on Slurm clusters with one command, reproducibly."""

__version__ = "0.1.0"

import warnings as _warnings

# wandb's `sweeps` engine declares a pydantic-v1 style config; pydantic 2 warns about it at
# import. It is not the user's business, and it would clutter every command's output.
_warnings.filterwarnings(
    "ignore", message="Valid config keys have changed in V2", category=UserWarning
)
