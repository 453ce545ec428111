"""Run as `python -m scripts.train_joint --lr=... --seed=...`: logs val_loss with wandb."""

import argparse

import wandb
from scripts.model import loss

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.05)
parser.add_argument("--seed", type=int, default=0)
args, _ = parser.parse_known_args()
run = wandb.init(config=vars(args))
for step in range(3):
    wandb.log({"val_loss": loss(args.lr, args.seed) + 1.0 / (step + 1), "step": step})
run.finish()
