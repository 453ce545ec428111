"""Benchmark: the code snapshot of a 50,000-file repository after a one-file change.

On the real test cluster (``tests/cluster/up``, as root). A repository of ``--files``
generated small files is committed and synced once (untimed); then, ``--runs`` times, one file
is edited and committed and three ways of putting the new tree on the cluster are timed:

- floor:    what one would type by hand with the same link farm: ``git ls-files -z | rsync -a
            --files-from=- --from0 --link-dest=PREVIOUS`` into a new directory (rsync compares
            every file with the previous tree to hard-link it);
- copy:     the same by hand, made from the previous tree on the cluster: ``ssh cp -al
            PREVIOUS NEW`` and an rsync of the one changed file (the cost of the link farm
            itself: the floor of any snapshot that keeps one directory per tree);
- sweepops: ``ansible-playbook tests/playbooks/code_sync.yml`` (the code_sync role, as a
            deploy runs it): the snapshot computed on the workstation (git's tree, the file
            list), the probe, the sync and the rename into place, Ansible's start included.

Printed: each time, the medians, and the ratio sweepops / floor (target: at most 1.3x).
Wall times on a shared machine are noisy: this prints figures, asserts nothing.

    eval "$(tests/cluster/up)"
    python bench/big_repo.py [--runs 3] [--files 50000]
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.deploy_overhead import up  # noqa: E402
from sweepops.artifacts.snapshot import snapshot_of  # noqa: E402
from tests.clusterlib import Cluster  # noqa: E402
from tests.conftest import agent_env, git  # noqa: E402

PLAYBOOK = REPO / "tests" / "playbooks" / "code_sync.yml"


def make_repo(dest: Path, n_files: int) -> Path:
    dest.mkdir(parents=True)
    (dest / "train.py").write_text("print('train')\n")
    for i in range(n_files):
        path = dest / "gen" / f"d{i // 100:04d}" / f"f{i:05d}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# generated file {i}\nVALUE_{i} = {i}\n")
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-qm", f"{n_files} generated files")
    return dest


def edit_one_file(repo: Path, n: int) -> None:
    path = repo / "gen" / "d0000" / "f00000.py"
    path.write_text(path.read_text() + f"EDIT_{n} = {n}  # {time.time_ns()}\n")
    git(repo, "commit", "-qam", f"edit {n}")


class Hand:
    """The by-hand ways, over one ssh ControlMaster of their own."""

    def __init__(self, cluster: Cluster, tmp: Path, repo: Path):
        self.cluster = cluster
        self.repo = repo
        self.dir = f"{cluster.lab}/bench-big-repo"
        self.ssh = shlex.join(
            [
                "ssh",
                "-i",
                str(cluster.key),
                "-p",
                str(cluster.port),
                "-o",
                f"UserKnownHostsFile={cluster.inventory.parent / 'known_hosts'}",
                "-o",
                "ControlMaster=auto",
                "-o",
                f"ControlPath={tmp / 'cm'}",
                "-o",
                "ControlPersist=120",
            ]
        )
        self.target = f"{cluster.user}@{cluster.host}"
        self.n = 0
        self.remote(f"rm -rf {self.dir} && mkdir -p {self.dir}")
        self.rsync("v0", link_dest=None)

    def remote(self, command: str) -> None:
        subprocess.run(
            [*shlex.split(self.ssh), self.target, command], check=True, capture_output=True
        )

    def rsync(self, name: str, link_dest: str | None, files: bytes | None = None) -> None:
        listed = files if files is not None else git(self.repo, "ls-files", "-z").encode()
        opts = ["--link-dest", f"{self.dir}/{link_dest}"] if link_dest else []
        subprocess.run(
            ["rsync", "-a", "--files-from=-", "--from0", *opts, "-e", self.ssh, "./",
             f"{self.target}:{self.dir}/{name}/"],
            cwd=self.repo, input=listed, check=True, capture_output=True,
        )  # fmt: skip

    def floor(self) -> float:
        t0 = time.perf_counter()
        self.rsync(f"floor{self.n}", link_dest="v0")
        return time.perf_counter() - t0

    def copy(self, changed: str) -> float:
        t0 = time.perf_counter()
        new = f"{self.dir}/copy{self.n}"
        self.remote(f"cp -al {self.dir}/v0 {new} && rm -f {new}/{changed}")
        self.rsync(f"copy{self.n}", link_dest=None, files=changed.encode() + b"\0")
        return time.perf_counter() - t0

    def clean(self) -> None:
        self.remote(f"rm -rf {self.dir}")


def sweepops_sync(cluster: Cluster, repo: Path) -> float:
    env = agent_env(ANSIBLE_NOCOLOR="1", ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    argv = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        "-i", str(REPO / "inventory"), "-i", str(cluster.inventory), str(PLAYBOOK),
        "-e", f"code_dir={repo}", "-e", f"target={cluster.name}",
    ]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"code_sync failed ({proc.returncode}):\n{proc.stdout[-4000:]}{proc.stderr}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--files", type=int, default=50_000)
    args = parser.parse_args()
    cluster = up()
    tmp = Path(tempfile.mkdtemp(prefix="sweepops-bench-big-"))
    try:
        t0 = time.perf_counter()
        repo = make_repo(tmp / "repo", args.files)
        print(f"repository: {args.files + 1} files, made in {time.perf_counter() - t0:.1f}s")
        hand = Hand(cluster, tmp, repo)
        sweepops_sync(cluster, repo)  # the first snapshot (untimed)
        keys = [snapshot_of(repo, allow_dirty=False).key]
        times: dict[str, list[float]] = {"floor": [], "copy": [], "sweepops": []}
        changed = "gen/d0000/f00000.py"
        for n in range(1, args.runs + 1):
            edit_one_file(repo, n)
            hand.n = n
            times["floor"].append(hand.floor())
            times["copy"].append(hand.copy(changed))
            times["sweepops"].append(sweepops_sync(cluster, repo))
            keys.append(snapshot_of(repo, allow_dirty=False).key)
            print(
                f"run {n}: floor {times['floor'][-1]:.2f}s  copy {times['copy'][-1]:.2f}s  "
                f"sweepops {times['sweepops'][-1]:.2f}s"
            )
        med = {k: statistics.median(v) for k, v in times.items()}
        print(
            f"median: floor (rsync --link-dest of every file) {med['floor']:.2f}s, "
            f"copy (cp -al + 1 file) {med['copy']:.2f}s, sweepops {med['sweepops']:.2f}s"
        )
        print(f"sweepops / floor: {med['sweepops'] / med['floor']:.2f}x (target <= 1.3x)")
        print(f"sweepops / copy:  {med['sweepops'] / med['copy']:.2f}x (the link farm's own cost)")
        hand.clean()
        # the bench's snapshots hold 50,000 files each: not left on the test cluster
        hand.remote(f"rm -rf {' '.join(f'{cluster.lab}/code/{k}' for k in keys)}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
