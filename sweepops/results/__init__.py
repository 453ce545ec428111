"""Results: fetched from every cluster, rows, report, sync to wandb."""
