"""Benchmark: what the agent's runtime costs a deploy (sweepops.artifacts.agent_runtime).

On the real test cluster (``tests/cluster/up``, as root), with the research-only env of
``tests/cluster/make-env``. Four deploys of ``base`` from one copy of this repository:

- first deploy to a fresh cluster (a new, empty lab root), the runtime built on the
  workstation (empty runtime cache): build + sync of the runtime + code;
- repeat deploy to that cluster, the runtime built again (empty cache): nothing synced;
- first deploy to another fresh lab root with the runtime cached: sync only;
- repeat deploy to it with the runtime cached: neither;
- a deploy after an edit of a module the agent runs (a new sweepops version, same
  requirements): a new runtime, built, and synced with rsync --link-dest against the
  previous one (LATEST), so only the changed module travels.

Printed per deploy: seconds (wall), bytes the workstation sent to the cluster (the tx bytes
of the workstation's end of the cluster's veth: ssh, rsync, everything), whether the runtime
was built and synced; then the runtime's size and file count on the cluster. Jobs are
submitted held (``--hold``) and cancelled by id. Figures, not assertions.

    export SWEEPOPS_TEST_CLUSTER_NAME=atlas   # or your cluster's name
    python bench/runtime_deploy.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.clusterlib import (  # noqa: E402
    CLUSTER_DIR,
    Cluster,
    cluster_from_exports,
    parse_exports,
    prepare_env,
)
from tests.conftest import agent_env, copy_repo, git  # noqa: E402


def up() -> Cluster:
    name = os.environ.get("SWEEPOPS_TEST_CLUSTER_NAME", "atlas")
    proc = subprocess.run([CLUSTER_DIR / "up", name], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        sys.exit(f"tests/cluster/up failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    cluster = cluster_from_exports(parse_exports(proc.stdout))
    prepare_env(cluster)
    return cluster


def veth(cluster: Cluster) -> str:
    """The workstation's end of the cluster's veth (10.203.N.1)."""
    mine = cluster.host.rsplit(".", 1)[0] + ".1"
    out = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True)
    for line in out.stdout.splitlines():
        if f" {mine}/" in line:
            return line.split()[1].split("@")[0]
    sys.exit(f"no interface with {mine}")


def tx_bytes(dev: str) -> int:
    return int(Path(f"/sys/class/net/{dev}/statistics/tx_bytes").read_text())


def _dirs(path: Path) -> set[str]:
    """Runtime keys there (directories named by a hex key)."""
    try:
        return {p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")}
    except OSError:
        return set()


def jobs_of(repo: Path, deploy_id: str) -> list[str]:
    jobs: list[str] = []
    for rec in map(json.loads, (repo / ".sweepops" / "ledger.jsonl").read_text().splitlines()):
        if rec.get("event") == "submitted" and rec.get("deploy_id") == deploy_id:
            for info in rec["clusters"].values():
                jobs += [str(j) for j in info["jobs"].values()]
    return jobs


def main() -> None:
    cluster = up()
    dev = veth(cluster)
    tmp = Path(tempfile.mkdtemp(prefix="sweepops-bench-runtime-"))
    repo = tmp / "repo"
    repo.mkdir()
    copy_repo(repo)
    token = uuid.uuid4().hex[:6]
    labs = [f"{cluster.lab}/bench-runtime-{token}-{i}" for i in (1, 2)]
    cluster.ssh(f"mkdir -p {labs[0]} {labs[1]}")
    warm = tmp / "cache-warm"
    cases = [
        ("first deploy, runtime built", labs[0], warm),
        ("repeat deploy, runtime built", labs[0], tmp / "cache-empty-2"),
        ("first deploy, runtime cached", labs[1], warm),
        ("repeat deploy, runtime cached", labs[1], warm),
        ("agent edited: new runtime", labs[1], warm),
    ]
    jobs: list[str] = []
    rows = []
    try:
        for i, (what, lab, cache) in enumerate(cases):
            if what.startswith("agent edited"):
                module = repo / "sweepops" / "offline_sweep.py"
                module.write_text(module.read_text() + f"# bench edit {token}\n")
                git(repo, "commit", "-qam", "an edit of the agent")
            env = agent_env(
                SWEEPOPS_INVENTORY=str(cluster.inventory),
                ANSIBLE_NOCOLOR="1",
                SWEEPOPS_RUNTIME_CACHE=str(cache),
                # the copy's sweepops builds the runtime (Ansible's process too), not the
                # installed one, so that the edit above makes a new runtime
                PYTHONPATH=str(repo),
            )
            deploy_id = f"bench-rt-{token}-{i}"
            argv = [sys.executable, "-m", "sweepops", "deploy", "base", "-e"]
            argv += [f"clusters={cluster.name}", "-e", f"lab_root={lab}", "-e"]
            argv += [f"deploy_id={deploy_id}", "-e", 'extra_directives=["--hold"]']
            # one commit deployed again on purpose (a new deploy id each time)
            argv += ["-e", "allow_duplicate=true"]
            agent_dir = cluster.state / "lab" / Path(lab).name / "agent"
            had = (_dirs(cache), _dirs(agent_dir))
            time.sleep(6)  # the inventory's ControlPersist (5 s): every deploy starts cold
            sent = tx_bytes(dev)
            start = time.perf_counter()
            proc = subprocess.run(argv, cwd=repo, env=env, capture_output=True, text=True)
            elapsed = time.perf_counter() - start
            sent = tx_bytes(dev) - sent
            if proc.returncode != 0:
                sys.exit(f"{what}: deploy failed\n{proc.stdout[-5000:]}{proc.stderr}")
            jobs += jobs_of(repo, deploy_id)
            built = bool(_dirs(cache) - had[0])
            synced = bool(_dirs(agent_dir) - had[1])
            rows.append((what, elapsed, sent, built, synced))
        local = cluster.state / "lab" / Path(labs[1]).name / "agent"
        runtime = local / (local / "LATEST").read_text().strip()
        du = subprocess.run(["du", "-sb", str(runtime)], capture_output=True, text=True)
        files = sum(len(f) for _, _, f in os.walk(runtime))
        size = int(du.stdout.split()[0])
    finally:
        if jobs:
            cluster.ssh("scancel " + " ".join(jobs), check=False)
        cluster.ssh(f"rm -rf {labs[0]} {labs[1]}", check=False)
    print(f"{'deploy':32} {'seconds':>8} {'MB sent':>9}  runtime built / synced")
    for what, elapsed, sent, built, synced in rows:
        print(f"{what:32} {elapsed:8.1f} {sent / 1e6:9.1f}  {built} / {synced}")
    print(f"runtime on the cluster: {size / 1e6:.1f} MB, {files} files")


if __name__ == "__main__":
    main()
