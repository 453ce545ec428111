"""A test program that checkpoints its step counter in $SWEEPOPS_RUN_DIR and resumes from it.

Flags: --steps=N (default 20), --sleep=SECONDS per step (default 1). Each start and the end
append one line to ``steps.log`` in $SWEEPOPS_RUN_DIR (O_APPEND, one write):
``start RUN ATTEMPT STEP RESUME`` / ``end RUN ATTEMPT STEP`` (RESUME: $WANDB_RESUME);
``ckpt.json`` holds the last step done (written atomically, each step).
"""

import argparse
import json
import os
import time

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=20)
parser.add_argument("--sleep", type=float, default=1.0)
args, _ = parser.parse_known_args()
run_dir = os.environ["SWEEPOPS_RUN_DIR"]
run_id = os.environ["WANDB_RUN_ID"]
attempt = os.environ.get("SWEEPOPS_ATTEMPT", "1")
ckpt = os.path.join(run_dir, "ckpt.json")


def note(line: str) -> None:
    fd = os.open(os.path.join(run_dir, "steps.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


step = json.load(open(ckpt))["step"] if os.path.exists(ckpt) else 0
note(f"start {run_id} {attempt} {step} {os.environ.get('WANDB_RESUME', '')}")
while step < args.steps:
    time.sleep(args.sleep)
    step += 1
    with open(ckpt + ".tmp", "w") as fh:
        json.dump({"step": step}, fh)
    os.replace(ckpt + ".tmp", ckpt)
note(f"end {run_id} {attempt} {step}")
