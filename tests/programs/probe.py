"""A test program for agents: records each start, sleeps, fails on request, logs SIGTERM.

Flags (as `wandb agent` passes them): --x=..., --sleep=SECONDS, --fail=1, --sleep_first=SECONDS
(sleep this long on attempt 1 only). Writes PROBE_OUT/<run id>.<attempt>.json at start.
"""

import argparse
import json
import os
import signal
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--sleep", type=float, default=0.0)
parser.add_argument("--sleep_first", type=float, default=0.0)
parser.add_argument("--fail", type=int, default=0)
args, rest = parser.parse_known_args()

out = os.environ.get("PROBE_OUT") or os.environ.get("SWEEPOPS_SWEEP_DIR", ".")
run_id = os.environ["WANDB_RUN_ID"]
attempt = os.environ.get("SWEEPOPS_ATTEMPT", "1")
record = {
    "run_id": run_id,
    "attempt": attempt,
    "argv": sys.argv[1:],
    "pid": os.getpid(),
    "env": {k: v for k, v in os.environ.items() if k.startswith(("WANDB_", "SWEEPOPS_"))},
    # inside a container: what the runtime sets (charliecloud's CH_RUNNING) and the image's own
    # /etc/sweepops-image; PROBE_READ names a file (e.g. in the env) whose text is recorded
    "ch_running": os.environ.get("CH_RUNNING"),
    "image_file": open("/etc/sweepops-image").read() if os.path.exists("/etc/sweepops-image") else None,
    "read": open(os.environ["PROBE_READ"]).read() if os.environ.get("PROBE_READ") else None,
}
with open(os.path.join(out, f"{run_id}.{attempt}.json"), "w") as fh:
    json.dump(record, fh)


def on_term(signum, frame):
    with open(os.path.join(out, f"{run_id}.{attempt}.term"), "w") as fh:
        fh.write(str(signum))
    sys.exit(143)


signal.signal(signal.SIGTERM, on_term)
time.sleep(args.sleep + (args.sleep_first if attempt == "1" else 0.0))
sys.exit(1 if args.fail else 0)
