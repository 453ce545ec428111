"""provision.yml against the real test cluster, starting from password-only access.

The workstation side gets a temporary home (its own fresh key and ssh config); the cluster
side's authorized_keys is cleaned of that key before and after. The env is a small venv under
/srv/sweepops-lab, which the cluster namespace backs with another directory
(cluster.cluster_lab): a copy that shows up there really went over rsync.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.clusterlib import Cluster
from tests.conftest import REPO, agent_env

pytestmark = [pytest.mark.cluster, pytest.mark.integration]
BIN = Path(sys.executable).parent
WORKSTATION_LAB = Path("/srv/sweepops-lab")


@dataclass
class Access:
    dir: Path  # short: ssh ControlPath sockets live under it
    home: Path
    inventory: Path
    prefix: Path  # the env, same path on both sides
    cluster_prefix: Path  # the cluster's copy, seen from the workstation

    @property
    def key(self) -> Path:
        return self.home / ".ssh" / "id_ed25519"


def write_inventory(path: Path, cluster: Cluster, key: Path, password: str) -> None:
    path.write_text(
        json.dumps(
            {
                "all": {
                    "children": {
                        cluster.name: {
                            "hosts": {
                                f"{cluster.name}-login": {
                                    "ansible_host": cluster.host,
                                    "ansible_port": cluster.port,
                                    "ansible_user": cluster.user,
                                    "ansible_password": password,
                                    "ansible_ssh_private_key_file": str(key),
                                    "ansible_ssh_common_args": (
                                        f"-o UserKnownHostsFile={cluster.state / 'known_hosts'} "
                                        "-o StrictHostKeyChecking=accept-new -o IdentitiesOnly=yes"
                                    ),
                                    # our own masters: another run's connection (same host and
                                    # user, ~/.ansible/cp) would let a wrong password in
                                    "ansible_ssh_args": (
                                        "-o ControlMaster=auto -o ControlPersist=5s "
                                        f"-o ControlPath={path.parent}/cp-%C"
                                    ),
                                    "ansible_python_interpreter": "/usr/bin/python3",
                                }
                            },
                            "vars": {
                                "scheduler": "slurm",
                                "lab_root": str(cluster.lab),
                                "partition": "gpu",
                            },
                        }
                    }
                }
            }
        )
    )


def forget_key(cluster: Cluster, key: Path) -> None:
    """Remove our key from the cluster-side authorized_keys (the file, from the workstation)."""
    auth = cluster.state / "home" / cluster.user / ".ssh" / "authorized_keys"
    pub = key.with_name(key.name + ".pub")
    if not auth.exists() or not pub.exists():
        return
    ours = pub.read_text().split()[1]
    lines = auth.read_text().splitlines(keepends=True)
    kept = [line for line in lines if ours not in line]
    if kept != lines:
        auth.write_text("".join(kept))


@pytest.fixture(scope="module")
def access(cluster: Cluster) -> Iterator[Access]:
    d = Path(tempfile.mkdtemp(prefix="sp-", dir="/tmp"))
    home = d / "home"
    home.mkdir()
    prefix = WORKSTATION_LAB / f"provision-test-{uuid.uuid4().hex[:8]}" / "venv"
    prefix.parent.mkdir(parents=True)
    subprocess.run(["/usr/bin/python3", "-m", "venv", str(prefix)], check=True)
    subprocess.run(
        [str(prefix / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", "six"],
        check=True,
    )
    subprocess.run(["chmod", "-R", "a+rX", str(prefix.parent)], check=True)
    a = Access(
        dir=d,
        home=home,
        inventory=d / "inventory.yml",
        prefix=prefix,
        cluster_prefix=cluster.cluster_lab / prefix.relative_to(WORKSTATION_LAB),
    )
    write_inventory(a.inventory, cluster, a.key, cluster.password)
    yield a
    forget_key(cluster, a.key)
    subprocess.run(
        ["ssh", "-F", str(home / ".ssh" / "config"), "-O", "exit", f"{cluster.name}-login"],
        capture_output=True,
    )
    shutil.rmtree(prefix.parent, ignore_errors=True)
    shutil.rmtree(a.cluster_prefix.parent, ignore_errors=True)
    shutil.rmtree(d, ignore_errors=True)


def provision(
    cluster: Cluster, a: Access, *args: str, playbook: Path = REPO / "provision.yml"
) -> subprocess.CompletedProcess[str]:
    cmd = [
        str(BIN / "ansible-playbook"),
        "-i",
        str(REPO / "inventory"),
        "-i",
        str(a.inventory),
        str(playbook),
        "--limit",
        cluster.name,
        "-e",
        f"ssh_keys_home={a.home}",
        "-e",
        f"ssh_keys_known_hosts_file={cluster.state / 'known_hosts'}",
        "-e",
        f"conda_env_prefix={a.prefix}",
        "-e",
        '{"conda_env_job_imports": ["six"]}',
        "-e",
        f"conda_env_ledger_root={a.dir}",
        "-e",
        f"cluster_facts_local_dir={a.dir / 'facts'}",
        *args,
    ]
    env = agent_env(ANSIBLE_NOCOLOR="1", ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def recap(out: str) -> dict[str, int]:
    m = re.search(r"ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", out)
    assert m, out[-3000:]
    return dict(zip(("ok", "changed", "unreachable", "failed"), map(int, m.groups()), strict=True))


def key_login(
    cluster: Cluster, a: Access, command: str = "true"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "ssh",
            "-F",
            str(a.home / ".ssh" / "config"),
            "-o",
            "BatchMode=yes",
            "-o",
            "ControlPersist=no",
            "-o",
            "ConnectTimeout=10",
            f"{cluster.name}-login",
            command,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_wrong_password_fails_naming_the_host(cluster: Cluster, tmp_path: Path) -> None:
    d = Path(tempfile.mkdtemp(prefix="sp-", dir="/tmp"))
    try:
        a = Access(d, d / "home", d / "inv.yml", Path("/nonexistent"), Path("/nonexistent"))
        a.home.mkdir()
        write_inventory(a.inventory, cluster, a.key, "not-the-password")
        res = provision(cluster, a)
        out = res.stdout + res.stderr
        assert res.returncode != 0
        assert f"{cluster.name}-login" in out and "UNREACHABLE" in out, out[-3000:]
        assert re.search(r"[Pp]ermission denied|incorrect password", out), out[-3000:]
    finally:
        forget_key(cluster, d / "home" / ".ssh" / "id_ed25519")
        shutil.rmtree(d, ignore_errors=True)


def test_password_only_becomes_key_access_and_the_env_runs_in_a_job(
    cluster: Cluster, access: Access
) -> None:
    a = access
    forget_key(cluster, a.key)
    assert not a.key.exists()
    assert key_login(cluster, a).returncode != 0  # no key, no config yet: BatchMode fails

    first = provision(cluster, a)
    assert first.returncode == 0, first.stdout[-5000:]
    assert recap(first.stdout)["changed"] > 0

    # key access with connection reuse, host keys checked
    login = key_login(cluster, a, "hostname")
    assert login.returncode == 0, login.stderr
    assert login.stdout.strip() == f"{cluster.name}-login"
    config = (a.home / ".ssh" / "config").read_text()
    for line in (
        "ControlMaster auto",
        "ControlPersist 10m",
        f"HostName {cluster.host}",
        f"User {cluster.user}",
        "StrictHostKeyChecking accept-new",
    ):
        assert line in config
    assert (a.home / ".ssh" / "id_ed25519").stat().st_mode & 0o077 == 0

    # the env went over rsync to the cluster's own copy of the same path
    assert (a.cluster_prefix / "bin" / "python").exists()
    assert "six" in first.stdout and "Check the env's python in a Slurm job" in first.stdout
    job = cluster.ssh(
        f"srun --quiet -N1 -n1 {a.prefix}/bin/python -c 'import six, sys; print(six.__file__)'"
    )
    assert job.stdout.strip().startswith(str(a.prefix))

    # the lock, the ledger and the facts
    lock = (cluster.cluster_lab / "envs" / "venv.lock").read_text()
    sha = re.search(r"# sha256: ([0-9a-f]{64})", lock)
    assert sha and "six==" in lock and "# source: pip freeze --all" in lock
    ledger = [
        json.loads(x) for x in (a.dir / ".sweepops" / "ledger.jsonl").read_text().splitlines()
    ]
    assert ledger[-1]["event"] == "env" and ledger[-1]["env"]["lock_sha256"] == sha.group(1)
    facts = json.loads((cluster.cluster_lab / ".sweepops-facts.json").read_text())
    assert facts["internet"] is False  # the test cluster has no route out
    assert {p["name"] for p in facts["partitions"]} == {"gpu", "cpu"}
    assert facts["gpus"] is True
    # the test machine has Debian's charliecloud (ch-run), nothing else (issue 15)
    assert [r["name"] for r in facts["container_runtimes"]] == ["charliecloud"]
    assert facts["container_runtime"]["path"] == "/usr/bin/ch-run"
    local_facts = json.loads((a.dir / "facts" / f"{cluster.name}-login.json").read_text())
    assert local_facts == facts

    # a second run changes nothing; --check --diff changes nothing either
    second = provision(cluster, a)
    assert second.returncode == 0, second.stdout[-5000:]
    assert recap(second.stdout)["changed"] == 0, second.stdout[-5000:]
    check = provision(cluster, a, "--check", "--diff")
    assert check.returncode == 0, check.stdout[-5000:]
    assert recap(check.stdout)["changed"] == 0, check.stdout[-5000:]


def drift_playbook(a: Access) -> Path:
    pb = a.dir / "drift.yml"
    pb.write_text(
        "- name: Drift check\n  hosts: all:!local\n  gather_facts: false\n  tasks:\n"
        "    - name: Check\n      ansible.builtin.include_role:\n        name: conda_env\n"
        "        tasks_from: drift\n"
    )
    return pb


def test_a_changed_env_is_caught_by_the_drift_check(cluster: Cluster, access: Access) -> None:
    a = access
    if not (a.cluster_prefix / "bin" / "python").exists():
        pytest.skip("needs the env synced by the test before")
    clean = provision(cluster, a, playbook=drift_playbook(a))
    assert clean.returncode == 0, clean.stdout[-4000:]

    six = next(a.prefix.glob("lib/python3*/site-packages/six.py"))
    six.write_text(six.read_text() + "\n# edited on the workstation\n")
    (a.prefix / "added.txt").write_text("new\n")
    drift = provision(cluster, a, playbook=drift_playbook(a))
    out = drift.stdout + drift.stderr
    assert drift.returncode != 0
    assert f"{cluster.name}-login: the cluster's copy of {a.prefix} differs" in out, out[-4000:]
    assert "six.py" in out and "added.txt" in out

    # --check --diff shows it and changes nothing on the cluster
    check = provision(cluster, a, "--check", "--diff")
    assert check.returncode == 0, check.stdout[-5000:]
    assert recap(check.stdout)["changed"] > 0
    assert not (a.cluster_prefix / "added.txt").exists()

    # provisioning again brings the copy back in line
    fixed = provision(cluster, a)
    assert fixed.returncode == 0, fixed.stdout[-5000:]
    assert (a.cluster_prefix / "added.txt").exists()
    assert provision(cluster, a, playbook=drift_playbook(a)).returncode == 0


def test_bad_env_input_fails_clearly(cluster: Cluster, access: Access) -> None:
    a = access
    missing = provision(cluster, a, "-e", f"conda_env_prefix={a.dir}/no-such-env")
    assert missing.returncode != 0
    assert "no such conda env" in missing.stdout, missing.stdout[-3000:]

    # under the workstation's home (/root): the cluster user cannot have that path
    home_env = Path(tempfile.mkdtemp(prefix="sweepops-provision-", dir=Path.home()))
    try:
        subprocess.run(
            ["/usr/bin/python3", "-m", "venv", "--without-pip", str(home_env / "env")], check=True
        )
        res = provision(cluster, a, "-e", f"conda_env_prefix={home_env}/env")
        assert res.returncode != 0
        assert (
            f"{cluster.name}-login: {home_env}/env cannot exist at the same path" in res.stdout
        ), res.stdout[-3000:]
        assert "under the workstation's home" in res.stdout
    finally:
        shutil.rmtree(home_env, ignore_errors=True)


def test_a_container_needs_a_runtime_on_the_cluster(cluster: Cluster, access: Access) -> None:
    a = access
    res = provision(
        cluster,
        a,
        "-e",
        f"container_image={cluster.lab}/containers/train.sif",
        "-e",
        "container_runtime=apptainer",
    )
    assert res.returncode != 0
    assert f"{cluster.name}-login: apptainer (its program apptainer) is not on" in res.stdout, (
        res.stdout[-3000:]
    )
    # charliecloud is there (Debian's ch-run): provision --check takes the role's defaults
    # (the definition template picked for the runtime), would build, and changes nothing
    image = cluster.cluster_lab / "containers" / "check-only.tar.gz"
    check = provision(
        cluster,
        a,
        "-e",
        f"container_image={cluster.lab}/containers/check-only.tar.gz",
        "-e",
        "container_runtime=charliecloud",
        "--check",
        "--diff",
    )
    assert check.returncode == 0, check.stdout[-5000:]
    assert "container.charliecloud.sh.j2" in check.stdout  # the rendered definition's diff
    assert "debootstrap --variant=minbase" in check.stdout
    assert not image.exists() and not image.with_suffix("").with_suffix("").exists()
    assert not list((REPO / ".sweepops" / "containers").glob("check-only*"))


def keys_playbook(d: Path) -> Path:
    pb = d / "keys.yml"
    pb.write_text(
        "- name: Keys\n  hosts: all:!local\n  gather_facts: false\n  tasks:\n"
        "    - name: Keys\n      ansible.builtin.include_role:\n        name: ssh_keys\n"
    )
    return pb


def test_provision_installs_the_key_the_inventory_logs_in_with(cluster: Cluster) -> None:
    # issue 16.3: the inventory names its own key; provision makes and installs that one
    d = Path(tempfile.mkdtemp(prefix="sp-", dir="/tmp"))
    key = d / "home" / ".ssh" / "cluster_ed25519"
    a = Access(d, d / "home", d / "inv.yml", Path("/nonexistent"), Path("/nonexistent"))
    a.home.mkdir()
    write_inventory(a.inventory, cluster, key, cluster.password)
    try:
        res = provision(cluster, a, playbook=keys_playbook(d))
        assert res.returncode == 0, res.stdout[-4000:]
        assert key.exists() and not a.key.exists()
        assert f"IdentityFile {key}" in (a.home / ".ssh" / "config").read_text()
        login = key_login(cluster, a, "hostname")  # BatchMode: with the inventory's key only
        assert login.returncode == 0, login.stderr
    finally:
        forget_key(cluster, key)
        shutil.rmtree(d, ignore_errors=True)


def test_provision_refuses_to_install_another_key_than_the_inventorys(cluster: Cluster) -> None:
    d = Path(tempfile.mkdtemp(prefix="sp-", dir="/tmp"))
    key = d / "home" / ".ssh" / "cluster_ed25519"
    other = d / "home" / ".ssh" / "other_ed25519"
    a = Access(d, d / "home", d / "inv.yml", Path("/nonexistent"), Path("/nonexistent"))
    a.home.mkdir()
    write_inventory(a.inventory, cluster, key, cluster.password)
    try:
        res = provision(
            cluster, a, "-e", f"ssh_keys_private_key={other}", playbook=keys_playbook(d)
        )
        out = res.stdout + res.stderr
        assert res.returncode != 0
        assert f"the inventory logs in with {key}" in " ".join(out.split()), out[-3000:]
        assert f"but provision would install {other}" in " ".join(out.split())
        assert not key.exists() and not other.exists()  # nothing made
        assert not (a.home / ".ssh" / "config").exists()
    finally:
        shutil.rmtree(d, ignore_errors=True)
