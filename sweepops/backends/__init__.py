"""Sweep backends: where a sweep's runs are decided (offline directory, wandb server)."""
