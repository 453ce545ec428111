"""sweepops.experiment.program: what a sweep runs and where, as wandb agent means it (issues 18, 10.3)."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from sweepops.artifacts.git import git_state
from sweepops.artifacts.snapshot import snapshot_of
from sweepops.core.errors import ExperimentError, SweepopsError
from sweepops.experiment.expand import load_experiment
from sweepops.experiment.program import (
    FILE,
    MODULE,
    NONE,
    ProgramProblem,
    program_kind,
    program_of_experiment,
    resolve_program,
)

GRID = "method: grid\nparameters:\n  lr: [0.1, 0.01]\n"


def touch(path: Path, text: str = "print('hi')\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_kind_follows_the_command() -> None:
    assert program_kind(None) == FILE  # the default command runs ${program} as a file
    assert program_kind(["${env}", "${interpreter}", "${program}", "${args}"]) == FILE
    assert program_kind(["${interpreter}", "-m", "${program}", "${args}"]) == MODULE
    assert program_kind(["torchrun", "--nproc_per_node=2", "${program}"]) == FILE
    assert program_kind(["python", "-m", "pkg.train", "${args}"]) == NONE
    assert program_kind(["bash", "-c", "echo hi"]) == NONE


def test_wandb_examples_layout_runs_in_the_experiment_folder(tmp_path: Path) -> None:
    # wandb's examples: sweep.yaml next to train.py, started with `wandb agent` there.
    touch(tmp_path / "examples" / "mnist" / "train.py")
    exp = touch(tmp_path / "examples" / "mnist" / "sweep.yaml", "program: train.py\n" + GRID)
    run = resolve_program({"program": "train.py"}, exp, tmp_path)
    assert (run.kind, run.workdir, run.program_file) == (
        FILE,
        "examples/mnist",
        "examples/mnist/train.py",
    )
    assert load_experiment(exp, tmp_path).program == run


def test_a_path_from_the_repository_root_still_works(tmp_path: Path) -> None:
    touch(tmp_path / "experiments" / "train.py")
    exp = touch(tmp_path / "experiments" / "base.yml")
    run = resolve_program({"program": "experiments/train.py"}, exp, tmp_path)
    assert (run.workdir, run.program_file) == ("", "experiments/train.py")


def test_the_experiment_folder_wins_when_both_exist(tmp_path: Path) -> None:
    touch(tmp_path / "train.py")
    touch(tmp_path / "sub" / "train.py")
    run = resolve_program({"program": "train.py"}, tmp_path / "sub" / "e.yml", tmp_path)
    assert (run.workdir, run.program_file) == ("sub", "sub/train.py")


def test_a_missing_file_names_both_places_looked_in(tmp_path: Path) -> None:
    exp = touch(tmp_path / "sub" / "e.yml", "method: grid\nprogram: nope.py\n")
    with pytest.raises(ProgramProblem) as info:
        resolve_program({"program": "nope.py"}, exp, tmp_path)
    assert f"file 'nope.py' not found in neither the experiment's folder {tmp_path / 'sub'}" in (
        info.value.what
    )
    assert f"nor the repository root {tmp_path}" in info.value.what


def test_module_programs_are_found_as_python_finds_them(tmp_path: Path) -> None:
    touch(tmp_path / "scripts" / "train_joint.py")
    touch(tmp_path / "pkg" / "tool" / "__main__.py")
    exp = tmp_path / "experiments" / "joint.yml"
    command = ["${interpreter}", "-m", "${program}", "${args}"]
    run = resolve_program({"program": "scripts.train_joint", "command": command}, exp, tmp_path)
    assert (run.kind, run.workdir, run.program_file) == (MODULE, "", "scripts/train_joint.py")
    run = resolve_program({"program": "pkg.tool", "command": command}, exp, tmp_path)
    assert run.program_file == "pkg/tool/__main__.py"


def test_a_missing_module_is_a_clear_error_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "experiments").mkdir()
    exp = touch(
        tmp_path / "experiments" / "joint.yml",
        "method: grid\nprogram: scripts.nosuch\ncommand: ['${interpreter}', -m, '${program}']\n"
        "parameters:\n  lr: 1\n",
    )
    with pytest.raises(ExperimentError) as info:
        load_experiment(exp, tmp_path)
    text = str(info.value)
    assert f"{exp}:2: key 'program': module 'scripts.nosuch' not found" in text
    assert "no scripts/nosuch.py or scripts/nosuch/__main__.py" in text
    assert f"in neither the experiment's folder {tmp_path / 'experiments'}" in text
    assert f"nor the repository root {tmp_path}" in text


def test_a_path_after_dash_m_is_refused_with_the_module_name(tmp_path: Path) -> None:
    touch(tmp_path / "scripts" / "train.py")
    with pytest.raises(ProgramProblem) as info:
        resolve_program(
            {"program": "scripts/train.py", "command": ["python", "-m", "${program}"]},
            tmp_path / "e.yml",
            tmp_path,
        )
    assert "must be a module name (like 'scripts.train')" in info.value.what


def test_no_program_in_the_command_means_no_check(tmp_path: Path) -> None:
    run = resolve_program(
        {"program": "whatever.py", "command": ["python", "-c", "print(1)"]},
        tmp_path / "sub" / "e.yml",
        tmp_path,
    )
    assert (run.kind, run.workdir, run.program_file) == (NONE, "sub", None)


def test_paths_in_the_command_choose_the_working_directory(tmp_path: Path) -> None:
    touch(tmp_path / "tools" / "run.sh")
    run = resolve_program(
        {"command": ["bash", "tools/run.sh", "${args}"]}, tmp_path / "sub" / "e.yml", tmp_path
    )
    assert run.workdir == ""  # found only from the repository root
    touch(tmp_path / "sub" / "tools" / "run.sh")
    run = resolve_program(
        {"command": ["bash", "tools/run.sh", "${args}"]}, tmp_path / "sub" / "e.yml", tmp_path
    )
    assert run.workdir == "sub"


def test_an_experiment_outside_the_repository_resolves_from_the_root(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    touch(repo / "train.py")
    run = resolve_program({"program": "train.py"}, tmp_path / "elsewhere" / "e.yml", repo)
    assert (run.workdir, run.program_file) == ("", "train.py")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    touch(repo / "experiments" / "train.py")
    touch(repo / ".gitignore", "scratch/\n")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    return repo


def test_snapshot_refuses_an_ignored_program(repo: Path) -> None:
    touch(repo / "scratch" / "train.py")
    exp = touch(repo / "scratch.yml", "program: scratch/train.py\n" + GRID)
    git(repo, "add", "scratch.yml")
    git(repo, "commit", "-qm", "exp")
    run = program_of_experiment(str(exp), repo)
    assert run is not None and run.program_file == "scratch/train.py"
    with pytest.raises(SweepopsError) as info:
        snapshot_of(repo, allow_dirty=True, required=[run.program_file])
    text = str(info.value)
    assert "the program scratch/train.py would not be in the code snapshot" in text
    assert "git ignores it (.gitignore:1:scratch/)" in text
    assert "nothing was created" in text


def test_snapshot_refuses_an_untracked_program(repo: Path) -> None:
    touch(repo / "new" / "train.py")
    with pytest.raises(SweepopsError) as info:
        snapshot_of(repo, allow_dirty=False, required=["new/train.py"])
    assert "the program new/train.py is untracked" in str(info.value)
    assert "git add new/train.py" in str(info.value)
    # allow_dirty snapshots it (and stores the diff)
    snap = snapshot_of(repo, allow_dirty=True, required=["new/train.py"])
    assert "new/train.py" in snap.files


def test_program_of_experiment_gives_file_and_line(repo: Path) -> None:
    exp = touch(repo / "experiments" / "x.yml", "method: grid\nprogram: gone.py\n")
    with pytest.raises(ExperimentError) as info:
        program_of_experiment(str(exp), repo)
    assert f"{exp}:2: key 'program': file 'gone.py' not found" in str(info.value)


def test_files_sweepops_writes_are_not_dirty(repo: Path) -> None:
    # issue 16.15: the journal (tracked or new) and .sweepops/ are not the user's changes
    touch(repo / "journal" / "base.md", "# base\n")
    git(repo, "add", "journal")
    git(repo, "commit", "-qm", "journal")
    touch(repo / "journal" / "base.md", "# base\n\n## deploy 2\n")
    touch(repo / "journal" / "other.md")
    touch(repo / ".sweepops" / "ledger.jsonl", "{}\n")
    assert git_state(repo).dirty_files == ()
    touch(repo / "experiments" / "train.py", "print('edited')\n")
    assert git_state(repo).dirty_files == ("experiments/train.py",)


def test_validate_message_for_a_missing_default_program(tmp_path: Path) -> None:
    exp = touch(tmp_path / "e.yml", textwrap.dedent("method: grid\nparameters:\n  lr: 1\n"))
    with pytest.raises(ExperimentError) as info:
        load_experiment(exp, tmp_path)
    assert "key 'program': missing, and the command (default or given) runs ${program}" in str(
        info.value
    )
