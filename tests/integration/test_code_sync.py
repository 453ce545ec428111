"""The code_sync role against the real test cluster (tests/playbooks/code_sync.yml).

The cluster's /srv/sweepops-lab is cluster.cluster_lab on the workstation, so a snapshot
must appear there and never in the workstation's own /srv/sweepops-lab.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from sweepops.artifacts.snapshot import snapshot_of
from tests.clusterlib import Cluster
from tests.conftest import REPO, agent_env

pytestmark = [pytest.mark.cluster, pytest.mark.integration]
BIN = Path(sys.executable).parent
PLAYBOOK = REPO / "tests" / "playbooks" / "code_sync.yml"
WORKSTATION_LAB = Path("/srv/sweepops-lab")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A small repository whose content (hence key) no other test run shares."""
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    (repo / "train.py").write_text("print('train')\n")
    (repo / "run-id.txt").write_text(uuid.uuid4().hex + "\n")  # no test edits it
    (repo / "src" / "model.py").write_text("W = 1\n")
    (repo / "src" / "odd name ü.py").write_text("odd = True\n")
    (repo / ".gitignore").write_text("*.ckpt\n")
    (repo / "weights.ckpt").write_text("ignored\n")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    return repo


def run_playbook(
    cluster: Cluster, repo: Path, *args: str, wait: bool = True
) -> subprocess.CompletedProcess[str] | subprocess.Popen[str]:
    cmd = [
        str(BIN / "ansible-playbook"),
        "-i",
        str(REPO / "inventory"),
        "-i",
        str(cluster.inventory),
        str(PLAYBOOK),
        "-e",
        f"code_dir={repo}",
        "-e",
        f"target={cluster.name}",
        *args,
    ]
    env = agent_env(ANSIBLE_NOCOLOR="1", ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    if not wait:
        return subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def recap(proc: subprocess.CompletedProcess[str]) -> dict[str, int]:
    match = re.search(r"-login\s+:\s+(.*)$", proc.stdout, re.M)
    assert match, proc.stdout + proc.stderr
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(1))}


def ok(proc: subprocess.CompletedProcess[str]) -> dict[str, int]:
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    return recap(proc)


def reported(proc: subprocess.CompletedProcess[str], name: str) -> str:
    """A fact the playbook printed (code_sync_snapshot_dir, code_sync_agent_dir, code_sync_key)."""
    match = re.search(rf"{name}=(\S+)", proc.stdout)
    assert match, proc.stdout
    return match.group(1)


def tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under root with its inode and size: any change shows."""
    if not root.exists():
        return {}
    out = {}
    for path in [root, *root.rglob("*")]:
        st = path.lstat()
        out[str(path.relative_to(root))] = (st.st_ino, st.st_size if path.is_file() else 0)
    return out


def test_snapshot_lands_on_the_cluster_only_and_is_idempotent(cluster: Cluster, repo: Path):
    key = snapshot_of(repo, allow_dirty=False).key
    first = run_playbook(cluster, repo)
    assert ok(first)["failed"] == 0
    assert reported(first, "code_sync_snapshot_dir") == f"{cluster.lab}/code/{key}"
    snap = cluster.cluster_lab / "code" / key
    assert sorted(str(p.relative_to(snap)) for p in snap.rglob("*") if p.is_file()) == [
        ".gitignore",
        "run-id.txt",
        "src/model.py",
        "src/odd name ü.py",
        "train.py",
    ]
    assert (snap / "train.py").read_text() == (repo / "train.py").read_text()
    assert (snap / "train.py").stat().st_mode & 0o222 == 0  # read-only: shared inodes stay put
    assert (cluster.cluster_lab / "code" / "LATEST").read_text().strip() == key
    # No runtime asked for (code_sync_runtime): the code only (deploys sync the agent's too).
    assert re.search(r"code_sync_agent_dir=['\"]?$", first.stdout, re.M), first.stdout
    # Only the cluster side has it: the workstation's /srv/sweepops-lab is another directory.
    assert not (WORKSTATION_LAB / "code" / key).exists()
    assert not list((cluster.cluster_lab / "code").glob(f".incoming-{key}-*"))
    # nothing left to do
    second = run_playbook(cluster, repo)
    assert ok(second)["changed"] == 0, second.stdout


def test_new_commit_makes_a_new_snapshot_of_hard_links(cluster: Cluster, repo: Path):
    ok(run_playbook(cluster, repo))
    old_key = snapshot_of(repo, allow_dirty=False).key
    old = cluster.cluster_lab / "code" / old_key
    before = tree(old)
    (repo / "train.py").write_text((repo / "train.py").read_text() + "print('v2')\n")
    git(repo, "commit", "-qam", "v2")
    new_key = snapshot_of(repo, allow_dirty=False).key
    assert new_key != old_key
    proc = run_playbook(cluster, repo)
    assert ok(proc)["changed"] >= 1
    new = cluster.cluster_lab / "code" / new_key
    assert "print('v2')" in (new / "train.py").read_text()
    assert "print('v2')" not in (old / "train.py").read_text()
    assert tree(old) == before  # the old snapshot is untouched
    for name in (".gitignore", "src/model.py", "src/odd name ü.py"):
        assert os.stat(new / name).st_ino == os.stat(old / name).st_ino, name
    assert os.stat(new / "train.py").st_ino != os.stat(old / "train.py").st_ino


def contents(root: Path) -> dict[str, tuple[str, bool, str]]:
    """Every entry under root: its kind, its exec bit and its content (a link's target)."""
    out = {}
    for path in root.rglob("*"):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = ("link", False, os.readlink(path))
        elif path.is_dir():
            out[rel] = ("dir", False, "")
        else:
            out[rel] = ("file", bool(path.stat().st_mode & 0o100), path.read_text())
    return out


def test_a_snapshot_copied_from_the_previous_one_is_exactly_the_new_tree(
    cluster: Cluster, repo: Path
):
    # Every kind of change a copy of the previous snapshot (cp -al) must apply without
    # writing to a file the two share: edit, delete (leaving a directory empty), mode only,
    # a new file in a new directory, a file turned into a link, a directory into a file.
    (repo / "gone").mkdir()
    (repo / "gone" / "only.py").write_text("x = 1\n")
    (repo / "tool.sh").write_text("echo hi\n")
    (repo / "data").mkdir()
    (repo / "data" / "a.txt").write_text("a\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "more")
    ok(run_playbook(cluster, repo))
    old = cluster.cluster_lab / "code" / snapshot_of(repo, allow_dirty=False).key
    before = {k: (*v, os.lstat(old / k).st_mode) for k, v in tree(old).items()}
    (repo / "train.py").write_text("print('v3')\n")
    (repo / "gone" / "only.py").unlink()
    (repo / "tool.sh").chmod(0o755)
    (repo / "new" / "deep").mkdir(parents=True)
    (repo / "new" / "deep" / "n.py").write_text("n = 1\n")
    (repo / "src" / "model.py").unlink()
    (repo / "src" / "model.py").symlink_to("../train.py")
    (repo / "data" / "a.txt").unlink()
    (repo / "data").rmdir()
    (repo / "data").write_text("now a file\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "every kind of change")
    new_key = snapshot_of(repo, allow_dirty=False).key
    proc = run_playbook(cluster, repo, "-v")
    assert ok(proc)["failed"] == 0
    assert "cp -al" in proc.stdout  # made from the previous snapshot, not compared file by file
    new = cluster.cluster_lab / "code" / new_key
    listed = git(repo, "ls-files", "-z").split("\0")
    listed = [rel for rel in listed if rel]
    expected = {}
    for rel in listed:
        path = repo / rel
        for parent in Path(rel).parents:
            if str(parent) != ".":
                expected[str(parent)] = ("dir", False, "")
        if path.is_symlink():
            expected[rel] = ("link", False, os.readlink(path))
        else:
            expected[rel] = ("file", bool(path.stat().st_mode & 0o100), path.read_text())
    assert contents(new) == expected  # no leftover of the old tree, no empty directory
    assert {k: (*v, os.lstat(old / k).st_mode) for k, v in tree(old).items()} == before
    assert os.stat(new / "tool.sh").st_ino != os.stat(old / "tool.sh").st_ino
    assert os.stat(new / ".gitignore").st_ino == os.stat(old / ".gitignore").st_ino


def descendants(pid: int) -> list[tuple[int, list[str]]]:
    """(pid, argv) of every live descendant of pid (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            try:
                cmdline = (Path("/proc") / str(child) / "cmdline").read_bytes()
            except OSError:
                continue
            out.append((child, [os.fsdecode(a) for a in cmdline.split(b"\0") if a]))
            todo.append(child)
    return out


def test_interrupted_sync_never_yields_a_snapshot(cluster: Cluster, repo: Path):
    # 3 MiB of incompressible data through a 300 KiB/s limit: the rsync runs ~10 s.
    (repo / "blob.bin").write_bytes(os.urandom(3 << 20))
    git(repo, "add", "blob.bin")
    git(repo, "commit", "-qm", "blob")
    key = snapshot_of(repo, allow_dirty=False).key
    code = cluster.cluster_lab / "code"
    slow = json.dumps({"code_sync_rsync_extra_opts": ["--bwlimit=300"]})
    play = run_playbook(cluster, repo, "-e", slow, "-e", "deploy_id=interrupted-1", wait=False)
    assert isinstance(play, subprocess.Popen)
    try:
        deadline = time.monotonic() + 60
        rsync = []
        while not rsync and time.monotonic() < deadline:
            rsync = [
                pid
                for pid, argv in descendants(play.pid)
                if argv and Path(argv[0]).name == "rsync"
                if any(f".incoming-{key}-interrupted-1" in a for a in argv)
            ]
            time.sleep(0.1)
        assert rsync, "the sync's rsync never started"
        incoming = list(code.glob(f".incoming-{key}-interrupted-1.*"))
        deadline = time.monotonic() + 20
        while not incoming and time.monotonic() < deadline:
            time.sleep(0.1)
            incoming = list(code.glob(f".incoming-{key}-interrupted-1.*"))
        time.sleep(1.0)  # well into the transfer
        for pid in rsync:
            os.kill(pid, signal.SIGKILL)
        out, _ = play.communicate(timeout=120)
    finally:
        if play.poll() is None:
            play.kill()
            play.wait()
    assert play.returncode != 0, out
    assert not (code / key).exists(), "a killed sync must never become a snapshot"
    assert incoming and incoming[0].is_dir()  # the half-done attempt stays aside
    assert (code / "LATEST").read_text().strip() != key

    # The next deploy completes; the snapshot is whole.
    ok(run_playbook(cluster, repo, "-e", "deploy_id=interrupted-2"))
    assert (code / key / "blob.bin").read_bytes() == (repo / "blob.bin").read_bytes()
    assert (code / "LATEST").read_text().strip() == key

    # Leftovers older than a day are removed by the next run (which has nothing else to do).
    old = time.time() - 2 * 86400
    os.utime(incoming[0], (old, old))
    assert ok(run_playbook(cluster, repo))["changed"] == 1
    assert not incoming[0].exists()


def test_check_mode_changes_nothing_on_either_side(cluster: Cluster, repo: Path):
    ok(run_playbook(cluster, repo))
    (repo / "src" / "model.py").write_text("W = 2\n")
    git(repo, "commit", "-qam", "v2")
    key = snapshot_of(repo, allow_dirty=False).key
    cluster_before = {
        name: sorted(p.name for p in (cluster.cluster_lab / name).iterdir())
        for name in ("code", "agent")
    }
    latest = (cluster.cluster_lab / "code" / "LATEST").read_text()
    workstation_before = tree(WORKSTATION_LAB)
    status_before = git(repo, "status", "--porcelain")  # .sweepops/ holds the file lists
    proc = run_playbook(cluster, repo, "--check")
    assert ok(proc)["failed"] == 0
    assert "src/model.py" in proc.stdout  # the dry run says what would be synced
    for name, entries in cluster_before.items():
        assert sorted(p.name for p in (cluster.cluster_lab / name).iterdir()) == entries
    assert (cluster.cluster_lab / "code" / "LATEST").read_text() == latest
    assert not (cluster.cluster_lab / "code" / key).exists()
    assert tree(WORKSTATION_LAB) == workstation_before
    assert git(repo, "status", "--porcelain") == status_before


def test_dirty_tree_fails_with_the_file_list_and_syncs_nothing(cluster: Cluster, repo: Path):
    (repo / "train.py").write_text("print('uncommitted')\n")
    (repo / "notes.py").write_text("n = 1\n")
    key = snapshot_of(repo, allow_dirty=True).key
    proc = run_playbook(cluster, repo, "-e", "deploy_id=dirty-1")
    assert proc.returncode != 0
    assert "M train.py" in proc.stdout and "A notes.py" in proc.stdout, proc.stdout
    assert "allow_dirty=true" in proc.stdout
    assert not (cluster.cluster_lab / "code" / key).exists()
    assert not list((cluster.cluster_lab / "code").glob(f".incoming-{key}-*"))

    # allow_dirty: the working tree is synced and the diff is stored with the deploy
    ok(run_playbook(cluster, repo, "-e", "deploy_id=dirty-2", "-e", "allow_dirty=true"))
    snap = cluster.cluster_lab / "code" / key
    assert (snap / "train.py").read_text() == "print('uncommitted')\n"
    assert (snap / "notes.py").is_file()
    diff = (repo / ".sweepops" / "deploys" / "dirty-2" / "dirty.diff").read_text()
    assert "+print('uncommitted')" in diff and "# A notes.py" in diff
    assert not (repo / ".sweepops" / "deploys" / "dirty-1").exists()


def test_a_submodule_arrives_with_its_files(cluster: Cluster, repo: Path, tmp_path: Path):
    lib = tmp_path / "lib"
    (lib / "pkg").mkdir(parents=True)
    (lib / "pkg" / "layers.py").write_text(f"DEPTH = 3  # {uuid.uuid4().hex}\n")
    git(lib, "init", "-q")
    git(lib, "add", "-A")
    git(lib, "commit", "-qm", "lib")
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "vendor/lib")
    git(repo, "commit", "-qm", "add lib")
    key = snapshot_of(repo, allow_dirty=False).key
    proc = run_playbook(cluster, repo)
    assert ok(proc)["failed"] == 0, proc.stdout[-3000:]
    synced = cluster.cluster_lab / "code" / key / "vendor" / "lib" / "pkg" / "layers.py"
    assert synced.read_text() == (lib / "pkg" / "layers.py").read_text()
