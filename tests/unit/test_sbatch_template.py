"""templates/agent.sbatch.j2 rendered as Ansible renders it (its core filters, trim_blocks)."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import jinja2
import pytest
from ansible.plugins.filter.core import FilterModule

from filter_plugins.sweepops_sbatch import FilterModule as SweepopsFilters

REPO = Path(__file__).resolve().parents[2]


def render(**over: Any) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(REPO / "templates")),
        trim_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(FilterModule().filters())
    env.filters.update(SweepopsFilters().filters())
    values: dict[str, Any] = {
        "sbatch_lab_root": "/srv/lab",
        "sbatch_deploy_id": "d1",
        "sbatch_sweep": {"id": "abc", "name": "clean", "agents": 3, "dir": "/srv/lab/sweeps/abc"},
        "sbatch_snapshot_dir": "/srv/lab/code/h1",
        "sbatch_agent_dir": "/srv/lab/agent/h2",
        "sbatch_shard": "",
        "sbatch_env_prefix": "/opt/env",
        "sbatch_conda_root": "",
        "sbatch_container_image": "",
        "sbatch_container_runtime": "apptainer",
        "sbatch_container_nv": True,
        "sbatch_bind_paths": [],
        "sbatch_modules": [],
        "sbatch_partition": "gpu",
        "sbatch_gres": "gpu:1",
        "sbatch_cpus_per_task": 2,
        "sbatch_mem": "4G",
        "sbatch_time": "01:00:00",
        "sbatch_exclude": "",
        "sbatch_mail_type": "",
        "sbatch_mail_user": "",
        "sbatch_array_throttle": 0,
        "sbatch_preempt_signal_seconds": 120,
        "sbatch_max_requeues": 3,
        "sbatch_max_resumes": 3,
        "sbatch_bad_node_failures": 3,
        "sbatch_extra_directives": [],
        "sbatch_python": "python",
        "sbatch_agent_args": ["--lease", "60"],
        "sbatch_wandb_max_failures": 3,
        "sbatch_wandb_env": {},
        "sbatch_wandb_handoff": False,
        "sbatch_cluster": "atlas",
    }
    values.update(over)
    return env.get_template("agent.sbatch.j2").render(**values)


def directives(text: str) -> list[str]:
    """The #SBATCH options sbatch reads: those before the first command line."""
    out = []
    for line in text.splitlines()[1:]:
        if line.startswith("#SBATCH "):
            out.append(line[len("#SBATCH ") :])
        elif line.strip() and not line.startswith("#"):
            break
    return out


def bash_n(text: str, tmp_path: Path) -> None:
    path = tmp_path / "job.sbatch"
    path.write_text(text)
    proc = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_bare_defaults(tmp_path):
    text = render()
    bash_n(text, tmp_path)
    assert text.startswith("#!/bin/bash\n")
    assert directives(text) == [
        "--job-name=clean",
        "--partition=gpu",
        "--gres=gpu:1",
        "--cpus-per-task=2",
        "--mem=4G",
        "--time=01:00:00",
        "--output=/srv/lab/deploys/d1/logs/%x-%A_%a.out",
        "--error=/srv/lab/deploys/d1/logs/%x-%A_%a.out",
        "--open-mode=append",
        "--array=1-3",
        "--requeue",
        "--signal=B:USR1@120",
        "--comment=sweepops:d1:abc",
    ]
    assert "set -euo pipefail" in text
    assert 'export PATH=/opt/env/bin:"$PATH"' in text
    assert "PYTHONPATH" not in text  # the runs get the env as it is
    assert "cd /srv/lab/code/h1\n" in text
    assert (
        "agent=(python -s /srv/lab/agent/h2 agent /srv/lab/sweeps/abc --code-dir /srv/lab/code/h1 "
        "--max-resumes 3 --bad-node-failures 3 --lease 60)" in text
    )
    assert "apptainer" not in text and "conda activate" not in text and "module load" not in text
    assert "scontrol requeue" in text


def test_throttle_mail_exclude_extra(tmp_path):
    text = render(
        sbatch_array_throttle=2,
        sbatch_mail_type="END,FAIL",
        sbatch_mail_user="me@lab.org",
        sbatch_exclude="atlas-node02",
        sbatch_extra_directives=["--account=ml", "#SBATCH --qos=high"],
        sbatch_preempt_signal_seconds=0,
    )
    bash_n(text, tmp_path)
    d = directives(text)
    assert "--array=1-3%2" in d
    assert "--mail-type=END,FAIL" in d and "--mail-user=me@lab.org" in d
    assert "--exclude=atlas-node02" in d
    assert d[-2:] == ["--account=ml", "--qos=high"]
    assert not any(x.startswith("--signal") for x in d)


def test_empty_settings_leave_slurm_defaults(tmp_path):
    text = render(
        sbatch_partition="",
        sbatch_gres="",
        sbatch_cpus_per_task="",
        sbatch_mem="",
        sbatch_time="",
        sbatch_env_prefix="",
    )
    bash_n(text, tmp_path)
    d = directives(text)
    for opt in ("--partition", "--gres", "--cpus-per-task", "--mem", "--time", "--mail"):
        assert not any(x.startswith(opt) for x in d), opt
    assert "export PATH" not in text


def test_conda_env(tmp_path):
    text = render(sbatch_conda_root="/opt/conda", sbatch_env_prefix="/home/r/envs/ml")
    bash_n(text, tmp_path)
    assert "source /opt/conda/etc/profile.d/conda.sh && conda activate /home/r/envs/ml" in text
    assert "export PATH=/home/r/envs/ml/bin:" in text


def test_container(tmp_path):
    text = render(
        sbatch_container_image="/srv/lab/images/train.sif",
        sbatch_container_runtime="singularity",
        sbatch_bind_paths=["/scratch", "/srv/lab"],
        sbatch_modules=["cuda/12.2", "singularity"],
    )
    bash_n(text, tmp_path)
    assert (
        "singularity exec --nv --bind /srv/lab,/opt/env,/scratch /srv/lab/images/train.sif" in text
    )
    assert "module load cuda/12.2\nmodule load singularity\n" in text
    # the env is activated inside the container, not on the host
    assert 'eval "$activate"' not in text


def test_odd_names_are_quoted(tmp_path):
    text = render(
        sbatch_sweep={"id": "x1", "name": 'it\'s $HOME, "noisy"', "agents": 1, "dir": "/d x"}
    )
    bash_n(text, tmp_path)
    assert "--job-name=it_s__HOME___noisy_" in directives(text)
    assert "agent /d x" not in text and "agent '/d x'" in text


def _run_script(text: str, tmp_path: Path, agent_body: str) -> subprocess.Popen[str]:
    """Run the rendered script outside Slurm with a fake `python` as the agent."""
    bindir = tmp_path / "env" / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    fake = bindir / "python"
    fake.write_text("#!/bin/bash\n" + agent_body)
    fake.chmod(0o755)
    (tmp_path / "code").mkdir()
    script = tmp_path / "job.sbatch"
    script.write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    return subprocess.Popen(
        ["bash", str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _script_for(tmp_path: Path) -> str:
    return render(
        sbatch_env_prefix=str(tmp_path / "env"),
        sbatch_snapshot_dir=str(tmp_path / "code"),
        sbatch_agent_dir=str(tmp_path / "agent"),
    )


def test_exit_status_is_the_agents(tmp_path):
    body = 'echo "args=$* PYTHONPATH=${PYTHONPATH:-none}"; exit 1\n'
    proc = _run_script(_script_for(tmp_path), tmp_path, body)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 1, out
    # the runtime is the agent's argument, not on anybody's PYTHONPATH
    assert f"args=-s {tmp_path / 'agent'} agent /srv/lab/sweeps/abc" in out
    assert "PYTHONPATH=none" in out
    assert "agent exited 1" in out


def test_activation_is_the_one_the_probe_runs(tmp_path):
    from sweepops.remote.interpreter import activation

    for conda, env, mods in [("", "/opt/env", []), ("/opt/conda", "/e", ["cuda/12.2", "x"])]:
        text = render(sbatch_conda_root=conda, sbatch_env_prefix=env, sbatch_modules=mods)
        lines = activation(mods, conda, env).splitlines()
        loads = [line for line in lines if line.startswith("module load")]
        rest = [line for line in lines if not line.startswith(("module load", "set "))]
        assert "".join(f"{x}\n" for x in loads) in text
        joined = "; ".join([*rest, "export PYTHONDONTWRITEBYTECODE=1"])
        assert f"activate={shlex.quote(joined)}\n" in text


def test_no_python_on_the_node_fails_fast_in_the_preflights_words(tmp_path):
    from sweepops.remote.interpreter import python_problem

    text = render(
        sbatch_python="nopython-xyz",
        sbatch_env_prefix=str(tmp_path / "env"),
        sbatch_snapshot_dir=str(tmp_path / "code"),
        sbatch_agent_dir=str(tmp_path / "agent"),
    )
    proc = _run_script(text, tmp_path, "echo agent started\n")
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 3, out
    assert "agent started" not in out
    words = python_problem(
        "atlas",
        "`nopython-xyz` is not on PATH after the activation",
        env_prefix=str(tmp_path / "env"),
        conda_root="",
        modules=[],
        python="nopython-xyz",
        where=f"node {socket.gethostname()}",
    )
    assert f"[sweepops] {words}" in out, out


def test_wandb_sweep_without_wandb_fails_fast_in_the_preflights_words(tmp_path):
    from sweepops.remote.interpreter import wandb_problem

    text = _wandb_script(tmp_path)
    body = "[[ $1 == -c ]] && exec python3 -c 'import wandb_not_here'\necho agent started\n"
    proc = _run_script(text, tmp_path, body)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 3, out
    words = wandb_problem(
        "atlas",
        "ModuleNotFoundError: No module named 'wandb_not_here'",
        env_prefix=str(tmp_path / "env"),
    )
    assert f"[sweepops] {words}" in out, out


@pytest.mark.parametrize(
    ("sig", "forwarded"),
    [(signal.SIGUSR1, signal.SIGUSR1), (signal.SIGTERM, signal.SIGTERM)],
)
def test_signals_are_forwarded_to_the_agent(tmp_path, sig, forwarded):
    # The offline agent gets the time-limit warning (USR1) as USR1 (it counts the run's
    # resumes, max_resumes) and TERM as TERM.
    ready = tmp_path / "ready"
    body = (
        "trap 'echo agent got TERM; exit 143' TERM\n"
        "trap 'echo agent got USR1; exit 138' USR1\n"
        f"touch {ready}\nwhile true; do sleep 0.1; done\n"
    )
    proc = _run_script(_script_for(tmp_path), tmp_path, body)
    deadline = time.monotonic() + 20
    while not ready.exists():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 128 + forwarded, out
    assert f"got SIG{sig.name[3:]}" in out and f"agent got {forwarded.name[3:]}" in out
    # outside Slurm (no SLURM_JOB_ID) nothing is requeued
    assert "requeueing" not in out


def test_a_job_requeued_after_node_fail_tells_its_agent_and_pending_tasks_avoid_excluded_nodes(
    tmp_path,
):
    # On a restart the script asks sacct for the job's earlier instances: NODE_FAIL nodes go to
    # the agent (--failed-nodes); at its end the sweep's excluded nodes go to the array's
    # pending tasks (scontrol update ExcNodeList). sacct and scontrol here log their calls.
    bindir = tmp_path / "env" / "bin"
    bindir.mkdir(parents=True)
    calls = tmp_path / "calls"
    (bindir / "sacct").write_text(
        f'#!/bin/bash\necho "sacct $*" >> {calls}\n'
        "printf 'NODE_FAIL|n1\\nPENDING|None assigned\\nNODE_FAIL|n1\\nNODE_FAIL|n3\\n'\n"
    )
    (bindir / "scontrol").write_text(f'#!/bin/bash\necho "scontrol $*" >> {calls}\nexit 1\n')
    sweep_dir = tmp_path / "sweep"
    sweep_dir.mkdir()
    (sweep_dir / "excluded_nodes").write_text("n1\t1\tNODE_FAIL: x\nn3\t2\twhy\n")
    for tool in ("sacct", "scontrol"):
        (bindir / tool).chmod(0o755)
    text = render(
        sbatch_env_prefix=str(tmp_path / "env"),
        sbatch_snapshot_dir=str(tmp_path / "code"),
        sbatch_agent_dir=str(tmp_path / "agent"),
        sbatch_sweep={"id": "abc", "name": "clean", "agents": 2, "dir": str(sweep_dir)},
    )
    body = f'echo "$*" > {tmp_path / "args"}\nexit 0\n'
    (bindir / "python").write_text("#!/bin/bash\n" + body)
    (bindir / "python").chmod(0o755)
    (tmp_path / "code").mkdir()
    script = tmp_path / "job.sbatch"
    script.write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env.update(SLURM_JOB_ID="77", SLURM_ARRAY_JOB_ID="70", SLURM_ARRAY_TASK_ID="2",
               SLURM_RESTART_COUNT="1", PATH=f"{bindir}:{env['PATH']}")  # fmt: skip
    proc = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    args = (tmp_path / "args").read_text()
    assert args.rstrip().endswith("--failed-nodes n1,n3 --job 77"), args
    assert calls.read_text().splitlines() == [
        "sacct -j 77 -D -X -n -P -o State,NodeList",
        "scontrol update JobId=70 ExcNodeList=n1,n3",
    ]
    assert "requeued after NODE_FAIL on n1,n3" in proc.stdout
    assert "the sweep excludes n1,n3" in proc.stdout
    # a first start asks nothing
    calls.unlink()
    (sweep_dir / "excluded_nodes").unlink()
    env["SLURM_RESTART_COUNT"] = "0"
    proc = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True)
    assert proc.returncode == 0 and not calls.exists()
    assert "--failed-nodes" not in (tmp_path / "args").read_text()


def test_no_blank_line_breaks_the_directives():
    text = render(sbatch_array_throttle=4)
    head = text.split("set -euo pipefail")[0]
    assert len(re.findall(r"^#SBATCH ", head, flags=re.M)) == len(directives(text))


def test_shard_reaches_the_agent():
    script = render(sbatch_shard="2/3")
    assert "--shard 2/3" in script
    assert "--shard" not in render()


def _wandb_script(tmp_path: Path) -> str:
    sweep = {
        "id": "sw1",
        "name": "clean",
        "agents": 1,
        "dir": str(tmp_path / "sweep"),
        "backend": "wandb",
        "path": "ent/proj/sw1",
        "base_url": "http://10.0.0.1:8080",
        "run_env": {"WANDB_TAGS": "a,b c", "WANDB_RUN_GROUP": "d1", "WANDB_GIT_COMMIT": "abc"},
    }
    return render(
        sbatch_sweep=sweep,
        sbatch_env_prefix=str(tmp_path / "env"),
        sbatch_snapshot_dir=str(tmp_path / "code"),
        sbatch_agent_dir=str(tmp_path / "agent"),
    )


def _fake_wandb(tmp_path: Path, exits: list[int]) -> None:
    """A `wandb` that, like `wandb agent`, runs `python` from PATH per run and exits 0."""
    bindir = tmp_path / "env" / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    runs = "\n".join(
        f"WANDB_RUN_ID=r{i} python -c 'import sys; sys.exit({rc})'" for i, rc in enumerate(exits)
    )
    (bindir / "wandb").write_text(
        '#!/bin/bash\necho "wandb $* tags=$WANDB_TAGS group=$WANDB_RUN_GROUP '
        'url=$WANDB_BASE_URL flapping=$WANDB_AGENT_DISABLE_FLAPPING"\n' + runs + "\nexit 0\n"
    )
    (bindir / "wandb").chmod(0o755)


@pytest.mark.parametrize(("exits", "rc"), [([0, 0], 0), ([0, 3], 1), ([2, 2], 1), ([], 0)])
def test_wandb_agent_job_fails_when_a_run_failed(tmp_path, exits, rc):
    text = _wandb_script(tmp_path)
    bash_n(text, tmp_path)
    assert "sweepops agent" not in text
    _fake_wandb(tmp_path, exits)
    real = subprocess.run(["bash", "-c", "command -v python3"], capture_output=True, text=True)
    # the job's preflight imports wandb: this fake env has it
    body = f'[[ "$*" == "-c import wandb" ]] && exit 0\nexec {real.stdout.strip()} "$@"\n'
    proc = _run_script(text, tmp_path, body)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == rc, out
    assert "wandb agent --max-consecutive-failed-runs 3 ent/proj/sw1" in out
    assert "tags=a,b c group=d1 url=http://10.0.0.1:8080 flapping=true" in out
    assert f"runs in this job: {len(exits)}, failed: {sum(e != 0 for e in exits)}" in out


def test_wandb_sweep_on_compute_nodes_without_internet_runs_the_offline_agent(tmp_path):
    sweep = {
        "id": "sw1",
        "name": "clean",
        "agents": 2,
        "dir": "/srv/lab/sweeps/sw1",
        "backend": "wandb",
        "path": "ent/proj/sw1",
        "base_url": "http://10.0.0.1:8080",
        "run_env": {"WANDB_TAGS": "a", "WANDB_PROJECT": "proj"},
    }
    text = render(
        sbatch_sweep=sweep,
        sbatch_wandb_handoff=True,
        sbatch_shard="1/2",
        sbatch_wandb_env={"WANDB_ERROR_REPORTING": "false"},
    )
    bash_n(text, tmp_path)
    assert "wandb agent" not in text and "WANDB_BASE_URL" not in text and "shim" not in text
    assert "-s /srv/lab/agent/h2 agent /srv/lab/sweeps/sw1 --code-dir /srv/lab/code/h1 --shard 1/2" in text
    assert "export WANDB_ERROR_REPORTING=false" in text
    # the same sweep on a cluster with internet runs wandb agent
    assert "wandb agent" in render(sbatch_sweep=sweep)


def test_the_job_starts_in_the_sweeps_workdir_inside_the_snapshot(tmp_path):
    # sweepops.experiment.program: wandb agent and the offline agent's runs start in the workdir
    sweep = {"id": "abc", "name": "ex", "agents": 1, "dir": "/srv/lab/sweeps/abc"}
    sweep["meta"] = {"workdir": "examples/sweeps-basic"}
    script = render(sbatch_sweep=sweep)
    assert "\ncd /srv/lab/code/h1/examples/sweeps-basic\n" in script
    bash_n(script, tmp_path)
    container = render(sbatch_sweep=sweep, sbatch_container_image="/img.sif")
    assert "cd /srv/lab/code/h1/examples/sweeps-basic && exec" in container
    assert "\ncd /srv/lab/code/h1\n" in render()  # no workdir: the snapshot's root


@pytest.mark.parametrize(("restarts", "requeued"), [(0, True), (2, True), (3, False), (7, False)])
def test_requeues_per_task_are_capped(tmp_path, restarts, requeued):
    # USR1 (time limit / preemption warning) on a task already requeued max_requeues times:
    # no scontrol requeue, a line saying why. Counted: scontrol calls.
    ready = tmp_path / "ready"
    calls = tmp_path / "scontrol-calls"
    bindir = tmp_path / "env" / "bin"
    bindir.mkdir(parents=True)
    (bindir / "scontrol").write_text(f'#!/bin/bash\necho "$@" >> {calls}\n')
    (bindir / "scontrol").chmod(0o755)
    (bindir / "python").write_text(
        f"#!/bin/bash\ntrap 'exit 138' USR1\ntouch {ready}\nwhile true; do sleep 0.1; done\n"
    )
    (bindir / "python").chmod(0o755)
    (tmp_path / "code").mkdir()
    script = tmp_path / "job.sbatch"
    script.write_text(_script_for(tmp_path))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env.update(
        SLURM_JOB_ID="77",
        SLURM_ARRAY_JOB_ID="70",
        SLURM_ARRAY_TASK_ID="2",
        SLURM_RESTART_COUNT=str(restarts),
    )
    proc = subprocess.Popen(
        ["bash", str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.monotonic() + 20
    while not ready.exists():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(signal.SIGUSR1)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 138, out
    got = calls.read_text().splitlines() if calls.exists() else []
    if requeued:
        assert got == ["requeue 70_2"], out
    else:
        assert got == [], out
        assert f"requeued {restarts} times already (max_requeues 3)" in out


def test_in_the_container_too_a_missing_python_fails_fast(tmp_path):
    """The container branch runs the same check inside the container (here a fake runtime
    that drops its own options and runs the command on the host)."""
    fake = tmp_path / "bin" / "apptainer"
    fake.parent.mkdir()
    fake.write_text(
        '#!/bin/bash\nshift  # exec\nwhile [[ $1 == --* ]]; do [[ $1 == --bind ]] && shift; shift; '
        'done\nshift  # the image\nexec "$@"\n'
    )
    fake.chmod(0o755)
    text = render(
        sbatch_python="nopython-xyz",
        sbatch_env_prefix=str(tmp_path / "env"),
        sbatch_snapshot_dir=str(tmp_path / "code"),
        sbatch_agent_dir=str(tmp_path / "agent"),
        sbatch_container_image=str(tmp_path / "img.sif"),
        sbatch_container_runtime=str(fake),
    )
    proc = _run_script(text, tmp_path, "echo agent started\n")
    out, _ = proc.communicate(timeout=30)
    assert "agent started" not in out
    assert "`nopython-xyz` is not on PATH after the activation" in out, out
    assert f"gives no working Python on node {socket.gethostname()}" in out
    assert "agent exited 3" in out and proc.returncode == 3
