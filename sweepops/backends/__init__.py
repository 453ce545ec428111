"""Sweep backends: where a sweep's runs are decided (offline directory, wandb server).

``base`` the interface (create the sweeps, what their agents run, where to watch them, which
clusters hand their runs off), ``offline`` and ``wandb`` its two implementations, ``select``
the one place the backend is chosen."""
