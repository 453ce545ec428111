"""Executors: where a sweep's agents run (this machine, Slurm clusters).

``base`` the interface (status, cancel, wait, logs, fetch), ``local`` and ``slurm`` its two
implementations, ``choose`` the one place a deploy's executors are chosen."""
