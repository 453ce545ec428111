"""Benchmark: a deploy after a one-file change in a 5,000-file repository, against by hand.

On the real test cluster (``tests/cluster/up``, as root). The repository is a copy of this
one's files (as ``tests/conftest.py:copy_repo`` makes it) plus ``--files`` generated small
files, committed. One deploy and one baseline copy are made first (untimed); then, ``--runs``
times: one file is edited and committed, and both are timed:

- deploy:   ``python -m sweepops deploy base -e clusters=atlas`` (SWEEPOPS_INVENTORY = the
            cluster's inventory), i.e. checks, snapshot, sweeps, code sync, sbatch, ledger;
- baseline: what one would type instead: ``git ls-files -z | rsync -az --files-from=- --from0
            --link-dest=PREVIOUS`` of the tree to the cluster, then one ``ssh`` running
            ``sbatch --parsable`` of an equivalent job array (same #SBATCH lines, script on stdin).

Printed: each time, the medians and their ratio (target: at most 2.5x), the tasks per deploy,
the seconds of each stage (the short view's lines), and the ssh TCP
connections each made (target for a deploy: one, reused by every task and by rsync). They are
counted with an ``ssh`` wrapper first on PATH (and ANSIBLE_SSH_EXECUTABLE) that logs with
``-E FILE -v``: every ``Connecting to`` line there is one TCP connection; an invocation that
reuses a ControlMaster makes none. Ansible's ControlMasters live in a private control path
dir and are closed before each deploy, so every deploy starts cold.

The jobs submitted are cancelled (by id) right after each measurement, so they do not load
the machine. Wall times on a shared machine are noisy: this prints figures, asserts nothing.

    eval "$(tests/cluster/up)"
    python bench/deploy_overhead.py [--runs 3] [--files 5000] [--profile] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import re
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

from sweepops.ansible.view import RUN_MARK  # noqa: E402
from tests.clusterlib import (  # noqa: E402
    CLUSTER_DIR,
    Cluster,
    cluster_from_exports,
    parse_exports,
    prepare_env,
)
from tests.conftest import agent_env, copy_repo, git  # noqa: E402

SSH_WRAPPER = """#!/bin/sh
# bench/deploy_overhead.py: count ssh invocations and TCP connections (see its docstring)
echo "$$ $*" >> {calls}
exec /usr/bin/ssh -E {log} -v "$@"
"""


def up() -> Cluster:
    name = os.environ.get("SWEEPOPS_TEST_CLUSTER_NAME", "atlas")
    proc = subprocess.run([CLUSTER_DIR / "up", name], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        sys.exit(f"tests/cluster/up failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    cluster = cluster_from_exports(parse_exports(proc.stdout))
    prepare_env(cluster)  # env_prefix in the cluster's group_vars, as the tests do
    return cluster


def make_repo(dest: Path, n_files: int) -> Path:
    dest.mkdir(parents=True)
    copy_repo(dest)
    for i in range(n_files):
        path = dest / "gen" / f"d{i // 100:03d}" / f"f{i:05d}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# generated file {i}\nVALUE_{i} = {i}\n")
    git(dest, "add", "-A")
    git(dest, "commit", "-qm", f"{n_files} generated files")
    return dest


def edit_one_file(repo: Path, n: int) -> None:
    """A new tree each time, also across bench runs (snapshots stay on the cluster)."""
    path = repo / "gen" / "d000" / "f00000.py"
    path.write_text(path.read_text() + f"EDIT_{n} = {n}  # {time.time_ns()}\n")
    git(repo, "commit", "-qam", f"edit {n}")


class SshCounter:
    """An ``ssh`` on PATH that logs its calls and (``-E -v``) its TCP connections."""

    def __init__(self, tmp: Path):
        self.bin = tmp / "bin"
        self.bin.mkdir()
        self.calls = tmp / "ssh-calls.log"
        self.log = tmp / "ssh-debug.log"
        self.control_dir = tmp / "cp"
        self.control_dir.mkdir()
        wrapper = self.bin / "ssh"
        wrapper.write_text(
            SSH_WRAPPER.format(calls=shlex.quote(str(self.calls)), log=shlex.quote(str(self.log)))
        )
        wrapper.chmod(0o755)

    def reset(self) -> None:
        """Close our ControlMasters (each deploy starts cold) and empty the logs."""
        for sock in self.control_dir.iterdir():
            subprocess.run(
                ["/usr/bin/ssh", "-o", f"ControlPath={sock}", "-O", "exit", "x"],
                capture_output=True,
                timeout=30,
            )
        for path in (self.calls, self.log):
            path.write_text("")

    def counts(self) -> tuple[int, int]:
        """(ssh invocations, TCP connections) since the last reset."""
        calls = len(self.calls.read_text().splitlines())
        conns = len(re.findall(r"^debug1: Connecting to ", self.log.read_text(), re.M))
        return calls, conns

    def env(self, base: dict[str, str]) -> dict[str, str]:
        env = dict(base)
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        env["ANSIBLE_SSH_EXECUTABLE"] = str(self.bin / "ssh")
        env["ANSIBLE_SSH_CONTROL_PATH_DIR"] = str(self.control_dir)
        return env


def submitted_jobs(repo: Path, deploy_id: str) -> list[str]:
    jobs: list[str] = []
    path = repo / ".sweepops" / "ledger.jsonl"
    for rec in map(json.loads, path.read_text().splitlines()):
        if rec.get("event") == "submitted" and rec.get("deploy_id") == deploy_id:
            for info in rec["clusters"].values():
                jobs += [str(j) for j in info["jobs"].values()]
    return jobs


def recap_changed(out: str) -> str:
    """The cluster host's line of Ansible's last recap (from the deploy's kept log, which
    holds every run of its deploy id: the first recap is the deploy repeated)."""
    found = re.findall(r"-login\s+:\s+(.*)$", out, re.M)
    return found[-1].strip() if found else "?"


STAGE = re.compile(r"^[✓✗] (?P<stage>.+?) \[(?P<host>[^\]]+)\] (?P<s>[0-9.]+)s", re.M)


def stage_times(out: str) -> dict[str, float]:
    """Seconds per stage of the short view's lines (``✓ STAGE [HOST] 1.2s: ...``); a stage
    that ran on several hosts counts its longest."""
    times: dict[str, float] = {}
    for m in STAGE.finditer(out):
        times[m["stage"]] = max(times.get(m["stage"], 0.0), float(m["s"]))
    return times


def task_count(log: str) -> int:
    """Tasks of one run in the deploy's log (a log of a repeated id holds each run)."""
    last = log[log.rfind(RUN_MARK) :]
    return len(re.findall(r"^TASK \[", last, re.M))


class Bench:
    def __init__(self, cluster: Cluster, repo: Path, ssh: SshCounter, profile: bool):
        self.cluster = cluster
        self.repo = repo
        self.ssh = ssh
        self.profile = profile
        self.jobs: list[str] = []
        self.base_dir = f"{cluster.lab}/bench-baseline"
        self.previous: str | None = None
        self.last_output = ""
        self.last_log = ""
        self.stages: list[dict[str, float]] = []
        self.tasks: list[int] = []

    # ------------------------------------------------------------------ deploy
    def deploy(
        self, deploy_id: str, experiment: str = "base", *extra: str
    ) -> tuple[float, int, int]:
        env = agent_env(
            SWEEPOPS_INVENTORY=str(self.cluster.inventory),
            ANSIBLE_NOCOLOR="1",
            # The agent package synced is the copy's (frozen), not /work/main's, which other
            # people may be editing: otherwise its hash, hence a sync, changes between runs.
            PYTHONPATH=str(self.repo),
        )
        if self.profile:
            env["ANSIBLE_CALLBACKS_ENABLED"] = "ansible.posix.profile_tasks"
            env["PROFILE_TASKS_TASK_OUTPUT_LIMIT"] = "100"
        self.ssh.reset()
        argv = [
            sys.executable,
            "-m",
            "sweepops",
            "deploy",
            experiment,
            "-e",
            f"clusters={self.cluster.name}",
            *extra,
        ]
        start = time.perf_counter()
        proc = subprocess.run(
            [*argv, "-e", f"deploy_id={deploy_id}"],
            cwd=self.repo,
            env=self.ssh.env(env),
            capture_output=True,
            text=True,
            timeout=600,
        )
        elapsed = time.perf_counter() - start
        calls, conns = self.ssh.counts()
        self.last_output = proc.stdout
        log = self.repo / ".sweepops" / "deploys" / deploy_id / "ansible.log"
        self.last_log = log.read_text() if log.is_file() else ""
        if proc.returncode != 0:
            self.cleanup()
            sys.exit(f"deploy failed ({proc.returncode}):\n{proc.stdout[-5000:]}{proc.stderr}")
        self.stages.append(stage_times(proc.stdout))
        self.tasks.append(task_count(self.last_log))
        self.jobs += submitted_jobs(self.repo, deploy_id)
        return elapsed, calls, conns

    # ---------------------------------------------------------------- baseline
    def _ssh_argv(self) -> list[str]:
        c = self.cluster
        return [
            str(self.ssh.bin / "ssh"),
            "-i",
            str(c.key),
            "-p",
            str(c.port),
            "-o",
            f"UserKnownHostsFile={c.state / 'known_hosts'}",
            "-o",
            "BatchMode=yes",
            "-o",
            "ControlMaster=no",
        ]

    def job_script(self, name: str) -> str:
        """An array of two agents with the deploy's #SBATCH lines (the cluster's group_vars)."""
        logs = f"{self.base_dir}/logs"
        return (
            "#!/bin/bash\n"
            f"#SBATCH --job-name=bench-{name}\n"
            "#SBATCH --partition=gpu\n#SBATCH --gres=gpu:1\n#SBATCH --cpus-per-task=1\n"
            "#SBATCH --mem=1G\n#SBATCH --time=00:10:00\n"
            f"#SBATCH --output={logs}/%x-%A_%a.out\n#SBATCH --array=1-2\n"
            f"#SBATCH --requeue\n#SBATCH --comment=bench:{name}\n"
            f"cd {self.base_dir}/{name} && exec true\n"
        )

    def baseline(self) -> tuple[float, int, int]:
        rev = git(self.repo, "rev-parse", "HEAD").strip()
        c = self.cluster
        self.ssh.reset()
        start = time.perf_counter()
        listing = subprocess.run(
            ["git", "-C", str(self.repo), "ls-files", "-z"], capture_output=True, check=True
        ).stdout
        rsync = ["rsync", "-az", "--from0", "--files-from=-"]
        if self.previous:
            rsync.append(f"--link-dest=../{self.previous}")
        rsync += [
            f"--rsync-path=mkdir -p {self.base_dir}/logs && rsync",
            "-e",
            shlex.join(self._ssh_argv()),
            f"{self.repo}/",
            f"{c.user}@{c.host}:{self.base_dir}/{rev}/",
        ]
        subprocess.run(rsync, input=listing, check=True, capture_output=True)
        proc = subprocess.run(
            [*self._ssh_argv(), f"{c.user}@{c.host}", "sbatch --parsable"],
            input=self.job_script(rev),
            text=True,
            check=True,
            capture_output=True,
        )
        elapsed = time.perf_counter() - start
        calls, conns = self.ssh.counts()
        self.jobs.append(proc.stdout.strip().split(";")[0])
        self.previous = rev
        return elapsed, calls, conns

    def ansible_floor(self) -> float:
        """What any Ansible-driven deploy pays at least: ansible-playbook (this repository's
        ansible.cfg and the cluster's inventory) running one command on the login host, from
        a cold ControlMaster — no sync, no sweep, no submission."""
        playbook = self.repo.parent / "floor.yml"
        playbook.write_text(
            "- name: Floor\n  hosts: all\n  gather_facts: false\n  tasks:\n"
            "    - name: One remote command\n      ansible.builtin.command: sinfo --version\n"
            "      changed_when: false\n"
        )
        env = agent_env(ANSIBLE_CONFIG=str(self.repo / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
        self.ssh.reset()
        argv = [
            str(Path(sys.executable).with_name("ansible-playbook")),
            "-i",
            str(self.cluster.inventory),
            "--limit",
            self.cluster.name,
            str(playbook),
        ]
        start = time.perf_counter()
        subprocess.run(argv, cwd=self.repo, env=self.ssh.env(env), check=True, capture_output=True)
        return time.perf_counter() - start

    def cleanup(self) -> None:
        if self.jobs:
            self.cluster.ssh("scancel " + " ".join(shlex.quote(j) for j in self.jobs), check=False)
            self.jobs = []

    def profile_summary(self) -> str:
        """The last deploy's recap and, with --profile, profile_tasks' table."""
        return self.last_log[self.last_log.rfind("PLAY RECAP") :].rstrip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--profile", action="store_true", help="print profile_tasks' summary")
    parser.add_argument("--keep", action="store_true", help="keep the temporary repository")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("the test cluster needs root")
    cluster = up()
    tmp = Path(tempfile.mkdtemp(prefix="sweepops-bench-deploy-"))
    bench = None
    try:
        repo = make_repo(tmp / "repo", args.files)
        n_files = len(git(repo, "ls-files").splitlines())
        print(f"repository: {n_files} files ({repo}); cluster {cluster.name}; runs {args.runs}")
        bench = Bench(cluster, repo, SshCounter(tmp), args.profile)
        stamp = time.strftime("%H%M%S")
        t, calls, conns = bench.deploy(f"bench-{stamp}-0")
        print(f"first deploy (untimed):  {t:6.2f} s  ssh calls {calls}, TCP connections {conns}")
        t, calls, conns = bench.baseline()
        print(f"first baseline (untimed): {t:6.2f} s")
        bench.cleanup()
        deploys, baselines, floors = [], [], []
        for i in range(1, args.runs + 1):
            edit_one_file(repo, i)
            d = bench.deploy(f"bench-{stamp}-{i}")
            b = bench.baseline()
            bench.cleanup()
            deploys.append(d[0])
            baselines.append(b[0])
            floors.append(bench.ansible_floor())
            print(
                f"run {i}: deploy {d[0]:6.2f} s (ssh calls {d[1]}, TCP connections {d[2]})  "
                f"baseline {b[0]:6.2f} s (ssh calls {b[1]}, TCP connections {b[2]})  "
                f"ratio {d[0] / b[0]:5.2f}x"
            )
        if args.profile:
            print(bench.profile_summary())
        # The same deploy again: must change nothing and submit nothing.
        again_id = f"bench-{stamp}-{args.runs}"
        bench.deploy(again_id)
        print(f"same deploy again ({again_id}): {recap_changed(bench.last_log)}")
        bench.jobs = []  # its jobs were cancelled already
        timed = bench.stages[1 : 1 + args.runs]
        print(f"tasks per deploy (TASK banners in its log): {bench.tasks[1]}")
        print("per stage (median s of the timed deploys, from the short view):")
        for stage in timed[0] if timed else {}:
            values = [t.get(stage, 0.0) for t in timed]
            print(f"  {statistics.median(values):6.2f}  {stage}")
        md, mb = statistics.median(deploys), statistics.median(baselines)
        mf = statistics.median(floors)
        print(
            f"median: deploy {md:.2f} s, baseline {mb:.2f} s, ratio {md / mb:.2f}x (target <= 2.5x)"
        )
        print(
            f"ansible floor (ansible-playbook, one remote command): {mf:.2f} s = "
            f"{mf / mb:.2f}x the baseline; the deploy is {md / mf:.2f}x the floor"
        )
    finally:
        if bench is not None:
            bench.cleanup()
            bench.ssh.reset()
        cluster.ssh(f"rm -rf {shlex.quote(f'{cluster.lab}/bench-baseline')}", check=False)
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
