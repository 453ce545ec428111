"""Executors: where a sweep's agents run (this machine, Slurm clusters)."""
