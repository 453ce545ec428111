"""Benchmark: offline sweep claims against floors measured in the same run (issue 17).

(a) K local agents (``sweepops agent``, default 16) run an N-point grid (default 2,000) of a
    no-op program; the floor is ``xargs -P K`` running the same program N times. Printed: both
    runs/s and the ratio agents/xargs (target >= 0.7x).
(b) One process claims + finishes runs of a P-point grid (default 10,000): the first ``--k``
    claims of an empty sweep, then the last ``--k`` claims after the sweep has been prefilled
    with P - k finished runs (written as run records, as an old sweep directory holds them;
    code with an index builds it once: that one-off claim is printed apart). Printed: ms per
    claim at the start and at the end, and last/first (target <= 2x).

``--code PATH`` measures the sweepops package of another checkout (e.g. /work/main, the code
before the index) with the same bench. Wall times on a shared machine are noisy: this prints
figures, it asserts nothing (bar that every point ran exactly once).

    python bench/claims.py [--code /work/main] [--agents 16] [--points 2000]
                           [--grid 10000] [--k 20] [--skip-a] [--skip-b]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NOOP = "import sys\n"

_CLAIMS = r"""
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
from sweepops.runtime.offline_sweep import FINISHED, OfflineSweep, _warm_engine
sweep_dir, k, mode = sys.argv[2], int(sys.argv[3]), sys.argv[4]
sweep = OfflineSweep(sweep_dir)
_warm_engine(sweep.config)
ident = {"host": "bench", "pid": os.getpid(), "tag": "b"}
times = []
for _ in range(k + 1):
    t0 = time.perf_counter()
    claim = sweep.claim(ident)
    assert claim is not None
    sweep.finish(claim, state=FINISHED, exit_code=0)
    times.append(time.perf_counter() - t0)
print(json.dumps(times))
"""


def _env(code: Path) -> dict[str, str]:
    path = os.pathsep.join([str(code), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return dict(os.environ, PYTHONPATH=path)


def _import(code: Path):  # the package of the checkout measured
    sys.path.insert(0, str(code))
    from sweepops.runtime import offline_sweep

    assert Path(offline_sweep.__file__).resolve().is_relative_to(code.resolve()), (
        offline_sweep.__file__
    )
    return offline_sweep


def agents_vs_xargs(code: Path, agents: int, points: int, tmp: Path) -> None:
    engine = _import(code)
    program = tmp / "noop.py"
    program.write_text(NOOP)
    start = time.perf_counter()
    subprocess.run(
        f"seq {points} | xargs -P {agents} -I{{}} {sys.executable} {program} --i={{}}",
        shell=True,
        check=True,
    )
    floor = time.perf_counter() - start
    config = {"program": str(program), "method": "grid",
              "parameters": {"i": {"values": list(range(points))}}}  # fmt: skip
    sweep = engine.OfflineSweep.create(tmp, config=config, name="bench-a")
    env = _env(code)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env["PATH"]
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "sweepops", "agent", str(sweep.path)],
            env=env,
            cwd=tmp,
            stdout=subprocess.DEVNULL,
        )
        for _ in range(agents)
    ]
    for p in procs:
        p.wait()
    took = time.perf_counter() - start
    runs = sweep.runs()
    seen = sorted(r["params"]["i"]["value"] for r in runs if r["state"] == engine.FINISHED)
    assert seen == list(range(points)), f"{len(seen)} finished of {points}, or duplicates"
    print(f"(a) {agents} agents, {points}-point grid of a no-op program ({os.cpu_count()} cores)")
    print(f"    xargs -P{agents}       {points / floor:7.1f} runs/s  ({floor:.1f} s)")
    print(f"    {agents} sweepops agents {points / took:7.1f} runs/s  ({took:.1f} s)")
    print(f"    ratio               {floor / took:7.2f}x  (target >= 0.7x)")


def _prefill(engine, sweep, n: int) -> None:
    """n finished runs of the grid's first n points, written as an agent writes them."""
    points = engine.grid_points(sweep.config)[:n]
    now = time.time()
    for i, params in enumerate(points):
        run_id = f"pre{i:05d}"
        sweep.write_run({
            "id": run_id, "params": params, "attempt": 1, "created": now + i * 1e-6,
            "state": engine.FINISHED, "agent": {"host": "bench", "pid": 1, "tag": "pre"},
            "started": now, "lease_seconds": 60.0, "ended": now, "exit_code": 0,
            "duration": 0.1, "summary": {"loss": 0.5}, "host": "bench",
            "argv": ["python", "p.py", f"--i={i}"], "cwd": "/tmp", "log": f"/tmp/{run_id}.log",
        })  # fmt: skip


def _claims(code: Path, sweep_dir: Path, k: int, mode: str) -> list[float]:
    out = subprocess.run(
        [sys.executable, "-c", _CLAIMS, str(code), str(sweep_dir), str(k), mode],
        env=_env(code),
        capture_output=True,
        text=True,
    )
    if out.returncode:
        raise SystemExit(out.stderr)
    return [float(x) for x in json.loads(out.stdout.strip().splitlines()[-1])]


def claims_as_records_pile_up(code: Path, grid: int, k: int, tmp: Path) -> None:
    engine = _import(code)
    a, b = 100, grid // 100
    config = {"method": "grid", "parameters": {
        "a": {"values": list(range(a))}, "b": {"values": list(range(b))}}}  # fmt: skip
    fresh = engine.OfflineSweep.create(tmp, config=config, name="bench-first")
    once_first, *first = _claims(code, fresh.path, k, "first")
    full = engine.OfflineSweep.create(tmp, config=config, name="bench-last")
    _prefill(engine, full, a * b - k - 1)
    once, *last = _claims(code, full.path, k, "after")
    assert len(full.runs()) == a * b
    f, ll = statistics.median(first) * 1000, statistics.median(last) * 1000
    print(f"(b) one agent's claim + finish, {a * b}-point grid (median of {k})")
    print(f"    first {k} claims       {f:8.2f} ms/claim (after the sweep's first claim, "
          f"{once_first * 1000:.0f} ms)")  # fmt: skip
    print(f"    after {a * b - k} records  {ll:8.2f} ms/claim (the first of them, "
          f"{once * 1000:.0f} ms, reads the old layout)")  # fmt: skip
    print(f"    last/first          {ll / f:8.2f}x  (target <= 2x)")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--code", type=Path, default=Path(__file__).resolve().parents[1])
    ap.add_argument("--agents", type=int, default=16)
    ap.add_argument("--points", type=int, default=2000)
    ap.add_argument("--grid", type=int, default=10000)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--skip-a", action="store_true")
    ap.add_argument("--skip-b", action="store_true")
    args = ap.parse_args()
    print(f"code: {args.code.resolve()}")
    with tempfile.TemporaryDirectory() as d:
        if not args.skip_a:
            agents_vs_xargs(args.code, args.agents, args.points, Path(d))
        if not args.skip_b:
            claims_as_records_pile_up(args.code, args.grid, args.k, Path(d))


if __name__ == "__main__":
    main()
