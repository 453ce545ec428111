"""sweepops: run wandb sweeps on Slurm clusters with one command, reproducibly."""

__version__ = "0.1.0"
