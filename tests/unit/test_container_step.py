"""The container step (sweepops_env_container) and the local agents' check mode, as the
library/ shims run them (sweepops.ansible.steps)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sweepops.ansible import steps
from sweepops.artifacts import container
from tests.conftest import REPO

OS_RELEASE = 'NAME="Ubuntu"\nID=ubuntu\nVERSION_ID="22.04"\n'


def params(tmp_path: Path, **given) -> dict:
    spec = steps.SPECS["sweepops_env_container"]
    p = {name: opt.get("default") for name, opt in spec.options.items()}
    (tmp_path / "os-release").write_text(OS_RELEASE)
    p.update(
        template=str(REPO / "templates" / "container.def.j2"),
        def_path=str(tmp_path / "build" / "train.def"),
        image=str(tmp_path / "build" / "train.sif"),
        env_prefix="/opt/envs/train",
        os_release=str(tmp_path / "os-release"),
    )
    p.update(given)
    return p


@pytest.fixture
def no_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))


def test_a_needed_build_without_a_runtime_fails_saying_so(tmp_path: Path, no_runtime):
    with pytest.raises(steps.StepFailed, match="neither apptainer nor singularity") as failed:
        steps.run("sweepops_env_container", params(tmp_path), check_mode=False)
    assert failed.value.result["built"] is True
    assert "does not exist" in failed.value.result["reason"]
    assert not (tmp_path / "build").exists()


def test_an_image_built_from_this_definition_is_left_alone(tmp_path: Path, no_runtime):
    p = params(tmp_path)
    image = Path(p["image"])
    image.parent.mkdir()
    image.write_bytes(b"sif")
    # what the step renders, recorded as the image's definition digest
    with pytest.raises(steps.StepFailed) as first:
        steps.run("sweepops_env_container", p, check_mode=True)
    digest = first.value.result["digest"]
    container.digest_file(image).write_text(digest + "\n")
    found = steps.run("sweepops_env_container", p, check_mode=True)
    assert found["built"] is False and found["changed"] is True  # the .def is not written yet
    assert not Path(p["def_path"]).exists() and found["sha256"]
    found = steps.run("sweepops_env_container", p, check_mode=False)
    assert found["changed"] is True and Path(p["def_path"]).read_text() == found["diff"]["after"]
    again = steps.run("sweepops_env_container", p, check_mode=False)
    assert again["changed"] is False and again["built"] is False
    assert again["base_image"] == "ubuntu:22.04"  # matching the os-release


def test_local_agents_check_mode_starts_nothing(tmp_path: Path):
    p = {
        "sweep_dir": str(tmp_path / "sweep"),
        "count": 2,
        "code_dir": str(tmp_path),
        "agent_args": [],
        "wandb_path": None,
    }
    assert steps.run("sweepops_local_agents", p, check_mode=True) == {
        "changed": True,
        "agents": [],
    }
    assert not os.path.exists(p["sweep_dir"])
