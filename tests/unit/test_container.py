"""sweepops.artifacts.container: the definition's rendering and the decide-to-build/copy logic, with fake
runtimes (no apptainer or singularity can run on the test machine)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from sweepops.artifacts import container
from sweepops.core.errors import SweepopsError
from sweepops.remote.imagedigest import file_sha256
from tests.conftest import REPO

TEMPLATE = REPO / "templates" / "container.def.j2"
DEBIAN12 = container.parse_os_release(
    'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
)
UBUNTU = {"ID": "ubuntu", "VERSION_ID": "22.04"}
ROCKY = {"ID": "rocky", "ID_LIKE": "rhel centos fedora", "VERSION_ID": "9.3"}


@pytest.mark.parametrize(
    ("osr", "cuda", "image"),
    [
        (DEBIAN12, "", "debian:12"),
        (DEBIAN12, "12.2.0", "nvidia/cuda:12.2.0-runtime-ubuntu22.04"),
        (UBUNTU, "", "ubuntu:22.04"),
        (UBUNTU, "11.8.0", "nvidia/cuda:11.8.0-runtime-ubuntu22.04"),
        (ROCKY, "", "rockylinux:9"),
        (ROCKY, "12.2.0", "nvidia/cuda:12.2.0-runtime-rockylinux9"),
    ],
)
def test_base_image_matches_the_workstation(osr: dict[str, str], cuda: str, image: str) -> None:
    assert container.base_image(osr, cuda) == image


def test_unknown_os_asks_for_a_base_image() -> None:
    with pytest.raises(SweepopsError, match="container_base_image"):
        container.base_image({"ID": "arch"})


def render(**kw: Any) -> str:
    args: dict[str, Any] = {
        "env_prefix": "/opt/conda/envs/train",
        "conda": True,
        "os_release": DEBIAN12,
    }
    args.update(kw)
    return container.render_def(TEMPLATE, container.def_variables(**args))


def test_conda_definition() -> None:
    text = render(cuda="12.2.0", post_commands=["apt-get update"])
    lines = text.splitlines()
    assert "Bootstrap: docker" in lines
    assert "From: nvidia/cuda:12.2.0-runtime-ubuntu22.04" in lines
    env = text.split("%environment", 1)[1].split("%runscript", 1)[0]
    assert ". /opt/conda/etc/profile.d/conda.sh" in env
    assert "conda activate /opt/conda/envs/train" in env
    post = text.split("%post", 1)[1].split("%environment", 1)[0]
    assert "mkdir -p /opt/conda/envs/train" in post and "apt-get update" in post
    assert '%runscript\n    exec "$@"' in text
    assert "{{" not in text and "{%" not in text


def test_venv_definition_and_digest() -> None:
    text = render(env_prefix="/srv/lab/venv", conda=False)
    assert "From: debian:12" in text
    assert "export VIRTUAL_ENV=/srv/lab/venv" in text and "conda activate" not in text
    assert container.text_digest(text) == container.text_digest(
        render(env_prefix="/srv/lab/venv", conda=False)
    )
    assert container.text_digest(text) != container.text_digest(render(conda=False))


def test_conda_root_of() -> None:
    assert container.conda_root_of("/opt/conda/envs/train") == "/opt/conda"
    assert container.conda_root_of("/opt/conda") == "/opt/conda"


def test_build_decision(tmp_path: Path) -> None:
    image = tmp_path / "x.sif"
    assert container.build_decision(image, "d1").build
    image.write_bytes(b"img")
    assert "no recorded" in container.build_decision(image, "d1").reason
    container.digest_file(image).write_text("d1\n")
    assert not container.build_decision(image, "d1").build
    d = container.build_decision(image, "d2")
    assert d.build and "definition changed" in d.reason


def test_find_runtime_prefers_apptainer() -> None:
    found = {"apptainer": "/usr/bin/apptainer", "singularity": "/usr/bin/singularity"}
    assert container.find_runtime(found.get) == ("apptainer", "/usr/bin/apptainer")
    assert container.find_runtime({"singularity": "/s"}.get) == ("singularity", "/s")
    assert container.find_runtime(found.get, prefer="singularity") == (
        "singularity",
        "/usr/bin/singularity",
    )
    assert container.find_runtime({}.get) is None


def test_build_command() -> None:
    assert container.build_command("/a", "i", "d", fakeroot=True, root=True) == [
        "/a",
        "build",
        "--force",
        "i",
        "d",
    ]
    assert "--fakeroot" in container.build_command("/a", "i", "d", fakeroot=True, root=False)
    cmd = container.build_command("/a", "i", "d", fakeroot=False, root=False)
    assert cmd[:2] == ["sudo", "-n"] and "--fakeroot" not in cmd


def test_build_with_a_fake_runtime_renames_and_records(tmp_path: Path) -> None:
    calls: list[list[str]] = []

    def fake_run(cmd: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        calls.append(cmd)
        Path(cmd[-2]).write_bytes(b"image")  # the runtime writes IMAGE.building
        return subprocess.CompletedProcess(cmd, 0, "", "")

    image = tmp_path / "out" / "x.sif"
    container.build(
        image, tmp_path / "x.def", "d1", runtime_path="/fake/apptainer", root=False, run=fake_run
    )
    assert calls[0][-2].endswith("x.sif.building") and "--fakeroot" in calls[0]
    assert image.read_bytes() == b"image"
    assert not container.build_decision(image, "d1").build
    assert file_sha256(image) == file_sha256(image)


def test_failed_build_says_what_to_do(tmp_path: Path) -> None:
    def fake_run(cmd: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(cmd, 255, "", "FATAL: fakeroot not allowed")

    image = tmp_path / "x.sif"
    with pytest.raises(SweepopsError, match="fakeroot not allowed") as exc:
        container.build(image, tmp_path / "x.def", "d", runtime_path="/a", root=False, run=fake_run)
    assert "sudo" in str(exc.value)
    assert not image.exists() and not container.digest_file(image).exists()


def test_needs_copy() -> None:
    assert container.needs_copy("a", None)
    assert container.needs_copy("a", "b")
    assert not container.needs_copy("a", "a")
    assert not container.needs_copy("", None)  # nothing built (check mode): nothing to copy
    assert container.needs_copy_stat("a", {"exists": False})
    assert container.needs_copy_stat("a", {"exists": True, "checksum": "b"})
    assert not container.needs_copy_stat("a", {"exists": True, "checksum": "a"})


def test_the_container_role_decides_with_needs_copy() -> None:
    """roles/container copies the image when the filter over needs_copy_stat says so."""
    from filter_plugins.sweepops_container import FilterModule

    assert FilterModule().filters()["sweepops_image_needs_copy"] is container.needs_copy_stat
    tasks = (Path(__file__).resolve().parents[2] / "roles/container/tasks/main.yml").read_text()
    assert "container_built.sha256 | sweepops_image_needs_copy(container_remote.stat)" in tasks
