"""The agent's runtime (sweepops.artifacts.agent_runtime, sweepops.remote.interpreter): what it holds, its key, and
that a job's interpreter runs the agent from it while the program gets the env as it is.

The runtime tests build a real one (pip install --target with wheels for Debian's
/usr/bin/python3, which has neither sweeps nor numpy) once per session."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

import sweepops
from sweepops.artifacts import agent_runtime as runtime
from sweepops.remote import interpreter
from sweepops.runtime.offline_sweep import OfflineSweep

PACKAGE = Path(sweepops.__file__).resolve().parent
TARGET_PYTHON = "/usr/bin/python3"


def _copy_package(tmp_path: Path) -> Path:
    pkg = tmp_path / "site" / "sweepops"
    shutil.copytree(PACKAGE, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    return pkg


def test_the_runtime_holds_the_agents_import_closure_only() -> None:
    modules = runtime.agent_modules()
    for name in (
        "__init__", "runtime/__init__", "runtime/agent", "runtime/agent_cli",
        "runtime/offline_sweep", "runtime/command", "runtime/wandbfile", "remote/sweep_layout",
        "core/errors", "remote/interpreter",
    ):  # fmt: skip
        assert f"sweepops/{name}.py" in modules, name
    for name in ("results/report", "cli/commands", "results/rows", "artifacts/snapshot",
                 "experiment/validate", "ansible/steps"):
        assert f"sweepops/{name}.py" not in modules, name


def test_editing_a_module_jobs_do_not_run_makes_no_new_runtime(tmp_path: Path) -> None:
    pkg = _copy_package(tmp_path)
    first = runtime.runtime_base(pkg)
    report, cli = pkg / "results" / "report.py", pkg / "cli" / "commands.py"
    report.write_text(report.read_text() + "\n# an edit\n")
    cli.write_text(cli.read_text() + "\n# an edit\n")
    assert runtime.runtime_base(pkg) == first
    engine = pkg / "runtime" / "offline_sweep.py"
    engine.write_text(engine.read_text() + "\n# edit\n")
    second = runtime.runtime_base(pkg)
    assert second != first
    # a module the agent starts importing joins the runtime (and its key)
    command = pkg / "runtime" / "command.py"
    command.write_text(command.read_text() + "\nfrom sweepops.results import report\n")
    assert "sweepops/results/report.py" in runtime.agent_modules(pkg)
    assert runtime.runtime_base(pkg) != second
    # the requirements and the target are part of the key too
    assert runtime.runtime_base(pkg, ["sweeps==0.2.0"]) != runtime.runtime_base(pkg)
    base = runtime.runtime_base(pkg)
    assert interpreter.runtime_key(base, "cp311-linux-x86_64-glibc2.36") != interpreter.runtime_key(
        base, "cp312-linux-x86_64-glibc2.36"
    )


def test_target_and_wheel_platforms() -> None:
    info = {
        "implementation": "cpython",
        "version": [3, 12, 1],
        "system": "linux",
        "machine": "aarch64",
        "libc": ["glibc", "2.28"],
    }
    target = interpreter.target_of(info)
    assert target == "cp312-linux-aarch64-glibc2.28"
    plats = interpreter.pip_platforms(target)
    assert plats[0] == "manylinux_2_28_aarch64" and "manylinux_2_17_aarch64" in plats
    assert "manylinux2014_aarch64" in plats and "manylinux_2_29_aarch64" not in plats
    argv = runtime.pip_command(target, Path("/tmp/x"), ["sweeps==0.3.0"])
    assert argv[argv.index("--python-version") + 1] == "3.12"
    assert "--only-binary=:all:" in argv and argv[-1] == "sweeps==0.3.0"
    with pytest.raises(ValueError, match="needs CPython"):
        interpreter.target_of({**info, "implementation": "pypy"})
    # a node with a newer C library runs it; an older one or another Python does not
    assert interpreter.compatible(target, "cp312-linux-aarch64-glibc2.31")
    assert not interpreter.compatible(target, "cp312-linux-aarch64-glibc2.27")
    assert not interpreter.compatible(target, "cp311-linux-aarch64-glibc2.28")


# --------------------------------------------------------------------------- preflight


def test_preflight_describes_the_activated_interpreter(tmp_path: Path, monkeypatch) -> None:
    env = tmp_path / "env"
    (env / "bin").mkdir(parents=True)
    (env / "bin" / "python").symlink_to(TARGET_PYTHON)
    out = interpreter.preflight("atlas", {"env_prefix": str(env), "check_wandb": True}, "ab" * 8)
    info = out["interpreter"]
    assert info["executable"] == str(env / "bin" / "python")
    assert out["problems"] == [] and info["target"].startswith("cp3")
    assert out["runtime_key"] == interpreter.runtime_key("ab" * 8, info["target"])
    # Debian's python has no wandb: said, for the deploy to raise if the sweeps are wandb's
    assert "No module named 'wandb'" in out["wandb_problem"]
    assert "set env_prefix in inventory/group_vars/atlas.yml" in out["wandb_problem"]
    fake = tmp_path / "site" / "wandb"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("__version__ = '9.9'\n")
    monkeypatch.setenv("PYTHONPATH", str(fake.parent))
    out = interpreter.preflight("atlas", {"env_prefix": str(env), "check_wandb": True})
    assert out["interpreter"]["wandb"] == "9.9" and out["wandb_problem"] == ""


def test_preflight_names_what_is_missing_and_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "env" / "bin").mkdir(parents=True)
    job = {"env_prefix": str(tmp_path / "env"), "python": "nopython-xyz", "modules": []}
    (problem,) = interpreter.preflight("atlas", job)["problems"]
    assert problem.startswith("atlas: the jobs' activation (env_prefix=")
    assert "`nopython-xyz` is not on PATH after the activation" in problem
    assert "set env_prefix in inventory/group_vars/atlas.yml" in problem
    (problem,) = interpreter.preflight("atlas", {"env_prefix": "/nonexistent/env"})["problems"]
    assert "env_prefix /nonexistent/env does not exist on the cluster" in problem
    assert "sweepops provision atlas" in problem
    job = {"env_prefix": str(tmp_path / "env"), "modules": ["cuda/12.2"]}
    (problem,) = interpreter.preflight("atlas", job)["problems"]  # no `module` command here
    assert "modules=cuda/12.2" in problem and "failed" in problem


def test_preflight_enters_the_container_when_its_runtime_is_here(tmp_path: Path) -> None:
    log = tmp_path / "calls"
    fake = tmp_path / "bin" / "apptainer"
    fake.parent.mkdir()
    # a container runtime that records its arguments and runs the command on the host
    fake.write_text(f'#!/bin/bash\necho "$@" > {log}\nshift 4\nexec "$@"\n')
    fake.chmod(0o755)
    job = {
        "container": {"image": "/srv/img.sif", "runtime": str(fake), "binds": ["/srv", ""]},
        "python": "python3",
    }
    out = interpreter.preflight("atlas", job)
    assert out["problems"] == [], out
    assert out["interpreter"]["where"] == "the login host, in the container /srv/img.sif"
    assert log.read_text().startswith("exec --bind /srv /srv/img.sif bash -c")
    job["container"]["runtime"] = "no-such-apptainer"
    out = interpreter.preflight("atlas", job)
    assert out["interpreter"]["note"].startswith("no-such-apptainer is not on the login host")


# --------------------------------------------------------------------------- a real runtime


@pytest.fixture(scope="session")
def target_runtime(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The runtime for Debian's python3, built as a deploy builds it."""
    info = interpreter.probe(activate="", python=TARGET_PYTHON, check_wandb=False)
    cache = tmp_path_factory.mktemp("runtimes")
    path, built = runtime.build(info["target"], cache)
    assert built
    again, built = runtime.build(info["target"], cache)
    assert again == path and not built  # cached: keyed by code, requirements and target
    return path


def test_the_runtime_is_content_addressed_and_complete(target_runtime: Path) -> None:
    meta = json.loads((target_runtime / "runtime.json").read_text())
    assert (
        target_runtime.name
        == meta["key"]
        == interpreter.runtime_key(runtime.runtime_base(), meta["target"])
    )
    assert meta["modules"] == runtime.agent_modules()
    files = runtime.runtime_files(target_runtime)
    assert "__main__.py" in files and "sweeps/__init__.py" in files
    assert "sweepops/runtime/agent.py" in files and "sweepops/results/report.py" not in files
    assert not [f for f in files if "__pycache__" in f or f.startswith("bin/")]


def test_a_job_runs_the_agent_from_the_runtime_and_the_program_gets_the_env_as_is(
    target_runtime: Path, tmp_path: Path
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "prog.py").write_text(
        "import importlib.util, json, os, sys\n"
        "found = {m: importlib.util.find_spec(m) is not None"
        " for m in ('sweeps', 'sweepops', 'numpy')}\n"
        "json.dump({'found': found, 'path': sys.path, 'env': os.environ.get('PYTHONPATH'),"
        " 'x': sys.argv[1:]}, open(os.environ['WANDB_RUN_ID'] + '.json', 'w'))\n"
    )
    config = {"program": "prog.py", "method": "grid", "parameters": {"x": {"values": [1, 2]}}}
    sweep = OfflineSweep.create(tmp_path / "sweeps", config=config, name="t")
    bindir = tmp_path / "bin"  # the user's env: `python` is Debian's python3, as in a job
    bindir.mkdir()
    (bindir / "python").symlink_to(TARGET_PYTHON)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{bindir}:/usr/bin:/bin"
    proc = subprocess.run(
        [TARGET_PYTHON, "-s", str(target_runtime), "agent", str(sweep.path), "--code-dir", str(code)],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sweep.progress()["finished"] == 2
    for rec in sweep.runs():
        seen = json.loads((code / f"{rec['id']}.json").read_text())
        # the agent's runtime is nowhere in the program's process
        assert seen["found"] == {"sweeps": False, "sweepops": False, "numpy": False}, seen
        assert seen["env"] is None
        assert not [p for p in seen["path"] if str(target_runtime) in p]


def test_a_node_with_another_python_fails_fast_in_the_preflights_words(
    target_runtime: Path, tmp_path: Path
) -> None:
    other = tmp_path / "rt"
    shutil.copytree(target_runtime / "sweepops", other / "sweepops")
    shutil.copy(target_runtime / "__main__.py", other / "__main__.py")
    meta = json.loads((target_runtime / "runtime.json").read_text())
    built_for = "cp39-linux-x86_64-glibc2.17"
    (other / "runtime.json").write_text(json.dumps({**meta, "target": built_for}))
    env = dict(os.environ, SWEEPOPS_CLUSTER="atlas")
    proc = subprocess.run(
        [TARGET_PYTHON, "-s", str(other), "agent", str(tmp_path / "none")],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    found = interpreter.target_of(
        interpreter.probe(activate="", python=TARGET_PYTHON, check_wandb=False)
    )
    words = interpreter.target_problem("atlas", built_for, found, socket.gethostname())
    assert proc.stderr.strip() == f"[sweepops] {words}"
    assert "compute nodes differ from the login host" in words
