"""A wandb example program: it trusts wandb.config (and config-defaults.yaml, which
wandb.init() reads from the working directory) and logs a loss each epoch."""

import numpy as np
import wandb


def train():
    run = wandb.init()
    config = wandb.config
    rng = np.random.default_rng(0)
    w = rng.normal(size=4)
    scale = 0.5 if config.optimizer == "adam" else 1.0
    for epoch in range(config.epochs):
        w = w - config.learning_rate * scale * w
        wandb.log({"loss": float(np.sum(w * w)), "epoch": epoch})
    run.finish()


if __name__ == "__main__":
    train()
