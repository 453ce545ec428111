"""The example program: logistic regression on a synthetic data set, logged with wandb.

It is an ordinary wandb program: it knows nothing of sweepops. Under a sweep agent its
parameters arrive both as --key=value flags and through wandb.config; standalone it uses its
defaults (`python experiments/train.py --lr=0.1`). Deterministic for a given seed.
"""

from __future__ import annotations

import argparse

import numpy as np
import wandb


def make_data(n: int, dim: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    w_true = rng.normal(size=dim)
    x = rng.normal(size=(n, dim))
    logits = x @ w_true + noise * rng.normal(size=n) * 4.0
    y = (logits > 0).astype(float)
    return x, y


def loss_and_grad(w: np.ndarray, x: np.ndarray, y: np.ndarray, l2: float) -> tuple[float, np.ndarray]:
    p = 1.0 / (1.0 + np.exp(-(x @ w)))
    eps = 1e-9
    loss = -np.mean(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)) + l2 * float(w @ w)
    grad = x.T @ (p - y) / len(y) + 2 * l2 * w
    return float(loss), grad


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--l2", type=float, default=0.0)
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args, _unknown = parser.parse_known_args()

    run = wandb.init(config=vars(args))
    cfg = run.config
    x, y = make_data(2000, 20, cfg.noise, cfg.seed)
    x_train, y_train, x_val, y_val = x[:1600], y[:1600], x[1600:], y[1600:]
    rng = np.random.default_rng(cfg.seed + 1)
    w = np.zeros(x.shape[1])
    for epoch in range(cfg.epochs):
        order = rng.permutation(len(y_train))
        for start in range(0, len(order), cfg.batch_size):
            idx = order[start : start + cfg.batch_size]
            _, grad = loss_and_grad(w, x_train[idx], y_train[idx], cfg.l2)
            w -= cfg.lr * grad
        train_loss, _ = loss_and_grad(w, x_train, y_train, cfg.l2)
        val_loss, _ = loss_and_grad(w, x_val, y_val, cfg.l2)
        val_acc = float(np.mean(((x_val @ w) > 0) == (y_val > 0.5)))
        run.log({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "val_acc": val_acc})
    run.summary["val_loss"] = val_loss
    run.summary["val_acc"] = val_acc
    run.finish()


if __name__ == "__main__":
    main()
