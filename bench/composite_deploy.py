"""Benchmark: a 20-sweep composite deploy against a 1-sweep deploy and against one ssh
submitting 20 sbatch (issue 17).

On the real test cluster (``tests/cluster/up``, as root), with the repository of
``bench/deploy_overhead.py`` (``--files`` small files, committed) plus two composites of
one-point subtests: ``one`` (1 sweep) and ``many`` (``--sweeps``, 20). One deploy of each is
made first (untimed: the code snapshot is then on the cluster); then, ``--runs`` times, each is
deployed again under a new deploy id (same code: checks, sweeps, submission) and timed, and so
is the floor: one ``ssh`` running ``sbatch --parsable`` for each of 20 job scripts (the same
#SBATCH lines as the baseline of deploy_overhead.py). Jobs are cancelled after each run.

Printed: the times, the medians, ``many / one`` (target: at most 1.5x) and ``many / floor``,
the ssh calls of each deploy (wrapper as in deploy_overhead.py). Asserts nothing.

    eval "$(tests/cluster/up)"
    python bench/composite_deploy.py [--runs 3] [--sweeps 20] [--files 200]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from deploy_overhead import Bench, SshCounter, make_repo, up  # noqa: E402

from tests.conftest import composite_of  # noqa: E402

AGAIN = ("-e", "allow_duplicate=true")


def floor(bench: Bench, sweeps: int, stamp: str) -> float:
    """One ssh: write ``sweeps`` job scripts and ``sbatch --parsable`` each."""
    c = bench.cluster
    names = [f"floor-{stamp}-{i}" for i in range(sweeps)]
    script = f"set -e; mkdir -p {bench.base_dir}/logs\n" + "".join(
        f"sbatch --parsable <<'EOS'\n{bench.job_script(n)}EOS\n" for n in names
    )
    start = time.perf_counter()
    proc = subprocess.run(
        [*bench._ssh_argv(), f"{c.user}@{c.host}", "bash -s"],
        input=script,
        text=True,
        check=True,
        capture_output=True,
    )
    elapsed = time.perf_counter() - start
    bench.jobs += [line.split(";")[0] for line in proc.stdout.split()]
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sweeps", type=int, default=20)
    parser.add_argument("--files", type=int, default=200)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("the test cluster needs root")
    cluster = up()
    tmp = Path(tempfile.mkdtemp(prefix="sweepops-bench-composite-"))
    bench = None
    try:
        repo = make_repo(tmp / "repo", args.files)
        composite_of(repo, "one", 1)
        composite_of(repo, "many", args.sweeps)
        bench = Bench(cluster, repo, SshCounter(tmp), profile=False)
        stamp = time.strftime("%H%M%S")
        for exp in ("one", "many"):
            t, calls, conns = bench.deploy(f"bc-{stamp}-{exp}-0", exp)
            print(f"first deploy of {exp} (untimed): {t:6.2f} s  ssh calls {calls}")
            bench.cleanup()
        ones, manys, floors = [], [], []
        for i in range(1, args.runs + 1):
            # the same grid again on purpose (a new deploy id each run)
            o = bench.deploy(f"bc-{stamp}-one-{i}", "one", *AGAIN)
            bench.cleanup()
            m = bench.deploy(f"bc-{stamp}-many-{i}", "many", *AGAIN)
            bench.cleanup()
            f = floor(bench, args.sweeps, f"{stamp}-{i}")
            bench.cleanup()
            ones.append(o[0])
            manys.append(m[0])
            floors.append(f)
            print(
                f"run {i}: 1 sweep {o[0]:6.2f} s (ssh calls {o[1]})  {args.sweeps} sweeps "
                f"{m[0]:6.2f} s (ssh calls {m[1]})  floor {f:5.2f} s  ratio {m[0] / o[0]:5.2f}x"
            )
        mo, mm, mf = (statistics.median(x) for x in (ones, manys, floors))
        print(
            f"median: 1 sweep {mo:.2f} s, {args.sweeps} sweeps {mm:.2f} s, "
            f"ratio {mm / mo:.2f}x (target <= 1.5x); floor (one ssh, {args.sweeps} sbatch) "
            f"{mf:.2f} s, {args.sweeps} sweeps / floor {mm / mf:.2f}x"
        )
    finally:
        if bench is not None:
            bench.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
