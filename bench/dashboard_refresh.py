"""Benchmark: what one refresh of ``sweepops dashboard`` costs with 2,000 runs on two clusters.

On the two real test clusters (``tests/cluster/up NAME``, as root; names from
SWEEPOPS_TEST_CLUSTER_NAME / SWEEPOPS_TEST_CLUSTER2_NAME, default atlas / babel). A deploy of
two sweeps is written into a scratch workstation root, one sweep per cluster, each with
``--runs / 2`` finished run records (with a ``--points``-point history, as agents keep it)
written straight into the cluster's lab; ``--running`` of them are running, with a wandb file.

Measured, over the dashboard's own connections (one ``ssh`` per cluster, the reader of
sweepops/remote/live_reader.py), bytes received and seconds per refresh of both clusters:

- baseline: a full re-fetch of every record (a new dashboard's first refresh: everything);
- idle:     a refresh when nothing changed;
- active:   a refresh after 1% of the records changed and every running run's wandb file
            grew by ``--grow`` bytes.

Each is the median of ``--repeat`` refreshes. Wall times on a shared machine are noisy:
this prints figures, asserts nothing. The records are removed afterwards.

    python bench/dashboard_refresh.py [--runs 2000] [--points 100] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sweepops.records import ledger  # noqa: E402
from sweepops.results.live import Live  # noqa: E402
from tests.clusterlib import Cluster, cluster_from_exports, parse_exports  # noqa: E402


def cluster(name: str) -> Cluster:
    import subprocess

    up = subprocess.run(
        [str(REPO / "tests" / "cluster" / "up"), name], capture_output=True, text=True
    )
    if up.returncode != 0:
        sys.exit(f"tests/cluster/up {name} failed:\n{up.stderr[-2000:]}")
    return cluster_from_exports(parse_exports(up.stdout))


def record(run_id: str, i: int, points: int, state: str = "finished") -> dict:
    history = [{"_step": s, "loss": 1.0 / (s + 1 + i % 7)} for s in range(points)]
    return {
        "id": run_id,
        "state": state,
        "params": {"lr": {"value": 0.001 * (1 + i % 50)}, "seed": {"value": i}},
        "summary": {"loss": history[-1]["loss"] if history else None},
        "history": history if state == "finished" else [],
        "exit_code": 0 if state == "finished" else None,
        "attempt": 1,
    }


def write_sweep(lab: Path, sweep_id: str, runs: int, points: int, running: int) -> Path:
    """The records, owned by the lab's owner (the cluster's user: its deploys must still be
    able to create sweeps in ``LAB/sweeps`` if the bench made that directory)."""
    folder = lab / "sweeps" / sweep_id
    made_parent = not folder.parent.exists()
    (folder / "runs").mkdir(parents=True, exist_ok=True)
    owner = lab.stat()
    if made_parent:
        os.chown(folder.parent, owner.st_uid, owner.st_gid)
    for i in range(runs):
        run_id = f"{sweep_id}r{i:05d}"
        state = "running" if i < running else "finished"
        (folder / "runs" / f"{run_id}.json").write_text(
            json.dumps(record(run_id, i, points, state))
        )
        if state == "running":
            wandb = folder / "wandb" / f"offline-run-20261202_101010-{run_id}"
            wandb.mkdir(parents=True, exist_ok=True)
            (wandb / f"run-{run_id}.wandb").write_bytes(os.urandom(4096))
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, owner.st_uid, owner.st_gid)
    return folder


def scratch_root(clusters: list[Cluster], sweep_ids: list[str], runs: int) -> Path:
    root = Path(tempfile.mkdtemp(prefix="sweepops-bench-dash-"))
    shutil.copytree(REPO / "inventory", root / "inventory")
    shutil.copy(REPO / "ansible.cfg", root / "ansible.cfg")
    meta = {
        "config": {
            "method": "grid",
            "metric": {"name": "loss", "goal": "minimize"},
            "parameters": {"seed": {"values": list(range(runs))}},
        },
        "tags": [],
    }
    sweeps = [
        {
            "id": s,
            "name": f"bench-{c.name}",
            "tags": [],
            "agents": 1,
            "runs": runs,
            "meta": {**meta, "id": s, "name": f"bench-{c.name}"},
        }
        for c, s in zip(clusters, sweep_ids, strict=True)
    ]
    deploy = {"deploy_id": "bench-dash", "experiment": "bench", "sweeps": sweeps}
    ledger.append(root, deploy)
    subs = {
        f"{c.name}-login": {
            "lab_root": str(c.lab),
            "login": c.host,
            "jobs": {s: "1"},
            "inventory_sources": [str(c.inventory)],
        }
        for c, s in zip(clusters, sweep_ids, strict=True)
    }
    ledger.append(root, {"event": "submitted", "deploy_id": "bench-dash", "clusters": subs})
    return root


def refresh(live: Live) -> tuple[int, float]:
    start = time.monotonic()
    costs = live.refresh()
    for host, state in live.hosts.items():
        if state.reachable is False:
            sys.exit(f"{host} is unreachable: {state.error}")
    return sum(b for b, _ in costs.values()), time.monotonic() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--points", type=int, default=100)
    ap.add_argument("--running", type=int, default=10, help="running runs per cluster")
    ap.add_argument("--grow", type=int, default=2048, help="wandb bytes per running run")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    names = [
        os.environ.get("SWEEPOPS_TEST_CLUSTER_NAME", "atlas"),
        os.environ.get("SWEEPOPS_TEST_CLUSTER2_NAME", "babel"),
    ]
    clusters = [cluster(n) for n in names]
    per = args.runs // len(clusters)
    sweep_ids = [f"bd{i}{os.getpid() % 10000:04d}" for i in range(len(clusters))]
    folders = [
        write_sweep(c.cluster_lab, s, per, args.points, args.running)
        for c, s in zip(clusters, sweep_ids, strict=True)
    ]
    root = scratch_root(clusters, sweep_ids, per)
    deploy = ledger.find_deploy(root, "bench-dash")
    assert deploy is not None
    try:
        baseline = []
        for _ in range(args.repeat):
            live = Live(root, [deploy])  # a new dashboard: every record over fresh connections
            baseline.append(refresh(live))
            live.close()
        live = Live(root, [deploy])
        refresh(live)
        idle = [refresh(live) for _ in range(args.repeat)]
        active = []
        changed = max(1, per // 100)
        for n in range(args.repeat):
            for folder in folders:
                for i in range(args.running, args.running + changed):
                    run_id = f"{folder.name}r{i:05d}"
                    rec = record(run_id, i + n + 1, args.points)
                    (folder / "runs" / f"{run_id}.json").write_text(json.dumps(rec))
                for path in folder.glob("wandb/*/run-*.wandb"):
                    with open(path, "ab") as fh:
                        fh.write(os.urandom(args.grow))
            active.append(refresh(live))
        live.close()
        total = sum(len(list(f.glob("runs/*.json"))) for f in folders)
        print(
            f"dashboard refresh, {total} runs on {len(clusters)} clusters "
            f"({', '.join(names)}), {args.points}-point histories, median of {args.repeat}:"
        )
        print(f"{'refresh':<44} {'bytes':>12} {'seconds':>9}")
        for label, got in (
            ("baseline: full re-fetch of every record", baseline),
            ("idle: nothing changed", idle),
            (
                f"active: {changed * len(folders)} records changed, "
                f"{args.running * len(folders)} wandb files +{args.grow} B",
                active,
            ),
        ):
            b = statistics.median(x for x, _ in got)
            s = statistics.median(y for _, y in got)
            print(f"{label:<44} {b:>12,.0f} {s:>9.3f}")
        base_b = statistics.median(x for x, _ in baseline)
        base_s = statistics.median(y for _, y in baseline)
        for label, got in (("idle", idle), ("active", active)):
            b = statistics.median(x for x, _ in got)
            s = statistics.median(y for _, y in got)
            print(
                f"{label}: {b / base_b:.4%} of the baseline's bytes, {s / base_s:.1%} of its time"
            )
    finally:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
