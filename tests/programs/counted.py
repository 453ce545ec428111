"""A test program that counts its executions in a log of its own, outside the sweep.

Each start and each completion appends one line to $COUNT_LOG (default: count.log in the
sweep directory) (O_APPEND, one write):
``start RUN ATTEMPT POINT`` / ``end RUN ATTEMPT POINT``. Flags: --x=... (the point),
--sleep=SECONDS, --sleep_first=SECONDS (attempt 1 only), --fill_on=X (when --x is X, fill the
sweep's disk with $SWEEPOPS_SWEEP_DIR/filler before ending, as a run writing big outputs would),
--fail_first=X,Y (when --x is one of them, the first attempt exits 3 after its start line).
Each start also appends ``ATTEMPT RUN WANDB_RESUME`` to ``attempts.log`` in $SWEEPOPS_RUN_DIR
(the run's own directory, the same for every attempt) when it is set.
"""

import argparse
import os
import time

parser = argparse.ArgumentParser()
parser.add_argument("--x", default="")
parser.add_argument("--sleep", type=float, default=0.0)
parser.add_argument("--sleep_first", type=float, default=0.0)
parser.add_argument("--fill_on", default=None)
parser.add_argument("--fail_first", default="")
args, _ = parser.parse_known_args()
run_id = os.environ["WANDB_RUN_ID"]
attempt = os.environ.get("SWEEPOPS_ATTEMPT", "1")


def note(what: str) -> None:
    path = os.environ.get("COUNT_LOG") or os.path.join(
        os.environ["SWEEPOPS_SWEEP_DIR"], "count.log"
    )
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{what} {run_id} {attempt} {args.x}\n".encode())
    finally:
        os.close(fd)


note("start")
try:  # (a disk filled by --fill_on must not make a run fail here)
    with open(os.path.join(os.environ["SWEEPOPS_RUN_DIR"], "attempts.log"), "a") as fh:
        fh.write(f"{attempt} {run_id} {os.environ.get('WANDB_RESUME', '')}\n")
except (KeyError, OSError):
    pass
if attempt == "1" and args.x in args.fail_first.split(","):
    raise SystemExit(3)
time.sleep(args.sleep + (args.sleep_first if attempt == "1" else 0.0))
if args.fill_on is not None and args.fill_on == args.x:
    with open(os.path.join(os.environ["SWEEPOPS_SWEEP_DIR"], "filler"), "ab", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 4096)
        except OSError:
            pass
note("end")
