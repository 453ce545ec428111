"""Benchmark: collate 10,000 offline runs into the results rows and table.

Writes synthetic run records (the ``sweepops.runtime.offline_sweep`` format, ~50 history rows each)
into sweep directories under a temporary directory, then measures in one process:

* ``read``:    json.load of every run file, nothing else (the floor);
* ``collate``: ``collect_rows`` + ``format_table`` (what `sweepops results` does);
* ``collate+history``: ``collect_rows(history=True)`` (what `sweepops report` reads);

and prints each time, the ratio collate/read (target: under 2x), and peak memory
(tracemalloc, in a separate pass so it does not distort the times; plus the process's max
RSS). It asserts nothing.

    python bench/collate.py [--runs 10000] [--sweeps 4] [--history 50] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import random
import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sweepops.results.rows import collect_rows, format_table  # noqa: E402
from sweepops.runtime.offline_sweep import OfflineSweep, sweep_meta  # noqa: E402

SUBTESTS = [(), ("noisy",), ("noisy", "regularised"), ("clean", "trial1")]


def make_sweeps(parent: Path, *, runs: int, sweeps: int, history: int, seed: int = 0) -> list[Path]:
    """``sweeps`` sweep directories holding ``runs`` finished run records in all."""
    rng = random.Random(seed)
    dirs = []
    for s in range(sweeps):
        tags = SUBTESTS[s % len(SUBTESTS)]
        config = {
            "method": "random",
            "metric": {"name": "val_loss", "goal": "minimize"},
            "parameters": {
                "lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1.0},
                "batch_size": {"values": [16, 32, 64, 128]},
                "optimizer": {"values": ["adam", "sgd"]},
                "epochs": {"value": history},
            },
        }
        meta = sweep_meta(config=config, name=f"bench_{s}", tags=tags)
        sweep = OfflineSweep.create_from_meta(parent, meta)
        share = runs // sweeps + (1 if s < runs % sweeps else 0)
        for i in range(share):
            lr = 10 ** rng.uniform(-4, 0)
            optimizer = rng.choice(["adam", "sgd"])
            # Loss is lowest near lr=0.01, with adam, on the clean subtest; plus noise.
            quality = 0.4 * abs(math.log10(lr) + 2) + 0.2 * abs(rng.gauss(0, 1))
            quality += (0.0 if optimizer == "adam" else 0.15) + 0.1 * len(tags)
            hist = []
            t0 = 1.7e9 + i
            for step in range(history):
                loss = 0.1 + quality * (0.3 + 2.0 / (1 + step)) + rng.random() * 0.02
                hist.append(
                    {
                        "_runtime": step * 0.5,
                        "_step": step,
                        "_timestamp": t0 + step * 0.5,
                        "epoch": step,
                        "train_loss": loss * 0.9,
                        "val_loss": loss,
                        "val_acc": 1.0 - loss / 4,
                    }
                )
            last = hist[-1]
            run_id = f"r{s:02d}{i:07d}"
            record: dict[str, Any] = {
                "id": run_id,
                "params": {
                    "lr": {"value": lr},
                    "batch_size": {"value": rng.choice([16, 32, 64, 128])},
                    "optimizer": {"value": optimizer},
                    "epochs": {"value": history},
                },
                "attempt": 1,
                "created": t0,
                "state": "finished" if rng.random() > 0.02 else "failed",
                "agent": {"host": "node01", "pid": 1000 + i, "tag": "abcdef"},
                "started": t0,
                "lease_seconds": 60.0,
                "ended": t0 + history * 0.5,
                "exit_code": 0,
                "duration": history * 0.5,
                "host": "node01",
                "log": str(sweep.path / "logs" / f"{run_id}.log"),
                "summary": {k: v for k, v in last.items() if k != "_timestamp"},
                "history": hist,
                "wandb_exit_code": 0,
            }
            (sweep.runs_dir / f"{run_id}.json").write_text(
                json.dumps(record, indent=1, sort_keys=True)
            )
        dirs.append(sweep.path)
    return dirs


def read_only(dirs: list[Path]) -> int:
    n = 0
    for d in dirs:
        for p in (d / "runs").glob("*.json"):
            with open(p) as fh:
                json.load(fh)
            n += 1
    return n


def collate(dirs: list[Path]) -> int:
    rows, metric = collect_rows(dirs)
    format_table(rows, metric)
    return len(rows)


def collate_history(dirs: list[Path]) -> int:
    rows, _metric = collect_rows(dirs, history=True)
    return len(rows)


def best_time(fn: Callable[[list[Path]], int], dirs: list[Path], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        fn(dirs)
        times.append(time.perf_counter() - t)
    return min(times)


def peak_memory(fn: Callable[[list[Path]], int], dirs: list[Path]) -> int:
    gc.collect()
    tracemalloc.start()
    fn(dirs)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--sweeps", type=int, default=4)
    ap.add_argument("--history", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3, help="timings are the best of N")
    ap.add_argument(
        "--keep", type=Path, default=None, help="make the runs in DIR, or reuse those there"
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="sweepops-collate-") as tmp:
        t = time.perf_counter()
        parent = args.keep or Path(tmp)
        dirs = sorted(p.parent for p in parent.glob("*/sweep.json"))
        if not dirs:
            parent.mkdir(parents=True, exist_ok=True)
            dirs = make_sweeps(parent, runs=args.runs, sweeps=args.sweeps, history=args.history)
        size = sum(p.stat().st_size for d in dirs for p in (d / "runs").glob("*.json"))
        print(
            f"{args.runs} runs in {args.sweeps} sweeps, {args.history} history rows each: "
            f"{size / 1e6:.1f} MB of run records (made in {time.perf_counter() - t:.1f}s)"
        )
        read_only(dirs)  # warm the page cache: both contenders read from memory
        t_read = best_time(read_only, dirs, args.repeat)
        t_coll = best_time(collate, dirs, args.repeat)
        t_hist = best_time(collate_history, dirs, args.repeat)
        m_read = peak_memory(read_only, dirs)
        m_coll = peak_memory(collate, dirs)
        m_hist = peak_memory(collate_history, dirs)
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{'':24}{'time':>10}{'ratio':>8}{'peak mem':>12}")
        for name, secs, mem in (
            ("read (json.load each)", t_read, m_read),
            ("collate (rows+table)", t_coll, m_coll),
            ("collate with history", t_hist, m_hist),
        ):
            print(f"{name:24}{secs:>9.3f}s{secs / t_read:>7.2f}x{mem / 1e6:>9.1f} MB")
        verdict = "under" if t_coll / t_read < 2 else "OVER"
        print(f"collate/read = {t_coll / t_read:.2f}x ({verdict} the 2x target)")
        print(f"process max RSS: {maxrss:.0f} MB; per run: {t_coll / args.runs * 1e6:.0f} µs")


if __name__ == "__main__":
    main()
