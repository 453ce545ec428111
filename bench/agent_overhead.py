"""Benchmark: the offline agent's per-run overhead, and claim throughput under contention.

1. The same trivial program (sleeps --run-seconds, default 1 s) is run N times directly in a
   loop (the baseline), then N times as the runs of a grid sweep by one `sweepops agent`.
   Printed: both wall times, the ratio (target: under 1.3x for a 1 s run) and the overhead per
   run. Agent start-up (imports) is included: it is part of what a user pays.
2. Claim throughput: K processes (default 16) claim and finish runs of one 2,000-point sweep as
   fast as they can; printed as claims/s, against one process doing the same (ratio).

Wall times on a shared machine are noisy: this prints figures, it asserts nothing.
    python bench/agent_overhead.py [--runs 10] [--run-seconds 1] [--agents 16]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sweepops.runtime.offline_sweep import FINISHED, OfflineSweep  # noqa: E402

TRIVIAL = (
    "import sys, time\n"
    "time.sleep(float(next(a for a in sys.argv if a.startswith('--sleep=')).split('=')[1]))\n"
)


def baseline(program: Path, runs: int, seconds: float) -> float:
    start = time.perf_counter()
    for i in range(runs):
        subprocess.run([sys.executable, str(program), f"--sleep={seconds}", f"--i={i}"], check=True)
    return time.perf_counter() - start


def with_agent(program: Path, runs: int, seconds: float, tmp: Path) -> float:
    config = {
        "program": str(program),
        "method": "grid",
        "parameters": {"sleep": {"value": seconds}, "i": {"values": list(range(runs))}},
    }
    sweep = OfflineSweep.create(tmp, config=config, name="bench")
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "sweepops", "agent", str(sweep.path)],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
        cwd=REPO,
    )
    elapsed = time.perf_counter() - start
    assert sum(r["state"] == FINISHED for r in sweep.runs()) == runs
    return elapsed


def agent_startup(tmp: Path) -> float:
    """An agent on a sweep with nothing left: imports, one claim, exit."""
    sweep = OfflineSweep.create(
        tmp, config={"method": "grid", "parameters": {"a": {"values": [1]}}}, name="empty"
    )
    claim = sweep.claim({"host": "bench"})
    assert claim is not None
    sweep.finish(claim, state=FINISHED, exit_code=0)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "sweepops", "agent", str(sweep.path)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


_WORKER = """
import os, sys, time
sys.path.insert(0, sys.argv[4])
from sweepops.runtime.offline_sweep import FINISHED, OfflineSweep, _warm_engine
_warm_engine({})  # imports done before the clock starts
sweep, start, stop = OfflineSweep(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
ident = {"host": "bench", "pid": os.getpid(), "tag": "b"}
time.sleep(max(0.0, start - time.time()))
n = 0
while time.time() < stop and (claim := sweep.claim(ident)) is not None:
    sweep.finish(claim, state=FINISHED, exit_code=0)
    n += 1
print(n)
"""


def claim_rate(procs: int, seconds: float, tmp: Path) -> float:
    """Claims+finishes per second by ``procs`` separate agent processes on one sweep."""
    config = {
        "method": "grid",
        "parameters": {"a": {"values": list(range(40))}, "b": {"values": list(range(50))}},
    }
    sweep = OfflineSweep.create(tmp, config=config, name="claims")
    start = time.time() + 3.0 + 0.5 * procs  # time for every worker to import
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _WORKER,
                str(sweep.path),
                str(start),
                str(start + seconds),
                str(REPO),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(procs)
    ]
    total = sum(int(w.communicate()[0]) for w in workers)
    ids = [r["id"] for r in sweep.runs()]
    assert len(ids) == len(set(ids)) == total
    return total / seconds


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--run-seconds", type=float, default=1.0)
    ap.add_argument("--agents", type=int, default=16)
    ap.add_argument("--claim-seconds", type=float, default=5.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        program = tmp / "trivial.py"
        program.write_text(TRIVIAL)
        base = baseline(program, args.runs, args.run_seconds)
        agent = with_agent(program, args.runs, args.run_seconds, tmp)
        print(f"agent overhead: {args.runs} runs of {args.run_seconds:g}s")
        print(f"  direct loop     {base:7.2f} s")
        print(f"  sweepops agent  {agent:7.2f} s")
        print(f"  ratio           {agent / base:7.3f}x   (target < 1.3x)")
        startup = agent_startup(tmp)
        print(f"  overhead/run    {(agent - base) / args.runs * 1000:7.0f} ms (start-up included)")
        print(
            f"  agent start-up  {startup * 1000:7.0f} ms; per run without it "
            f"{(agent - base - startup) / args.runs * 1000:.0f} ms"
        )
        one = claim_rate(1, args.claim_seconds, tmp)
        many = claim_rate(args.agents, args.claim_seconds, tmp)
        print(f"claim throughput (claim + finish, 2,000-point grid, {os.cpu_count()} cores)")
        print(f"  1 agent         {one:7.1f} claims/s")
        print(f"  {args.agents} agents       {many:7.1f} claims/s   ratio {many / one:.2f}x")


if __name__ == "__main__":
    main()
