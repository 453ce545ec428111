"""sweepops.remote.container_runtime: the runtimes' programs, what each runs and the command
line that enters a container; charliecloud's for real (Debian's ch-run, which .ci/run and
tests/cluster/lib.sh install) on a tiny root made of this machine's programs."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from filter_plugins.sweepops_container import FilterModule
from sweepops.remote import container_runtime as cr
from sweepops.remote import image_unpack
from sweepops.remote.interpreter import container_argv
from tests import tinyroot


def test_each_runtime_has_its_program() -> None:
    assert cr.binary("charliecloud") == "ch-run"
    assert cr.binary("apptainer") == "apptainer" and cr.binary("singularity") == "singularity"
    with pytest.raises(ValueError, match="unknown container runtime 'docker'"):
        cr.binary("docker")
    assert cr.runtime_of_binary("ch-run") == "charliecloud"
    assert cr.runtime_of_binary("charliecloud") == "charliecloud"
    assert cr.runtime_of_binary("apptainer") == "apptainer"
    assert cr.runtime_of_binary("podman") == "podman"  # unknown: as it is


@pytest.mark.parametrize(
    ("image", "path"),
    [
        ("/lab/containers/train.tar.gz", "/lab/containers/train"),
        ("/lab/containers/train.tgz", "/lab/containers/train"),
        ("/lab/containers/train.tar", "/lab/containers/train"),
        ("relative/v1.2.tar.gz", "relative/v1.2"),
    ],
)
def test_charliecloud_runs_the_tarball_unpacked_next_to_it(image: str, path: str) -> None:
    assert cr.run_path("charliecloud", image) == path
    assert cr.run_path("apptainer", "/lab/train.sif") == "/lab/train.sif"


@pytest.mark.parametrize("image", ["/lab/train.sif", "/lab/.tar.gz", ".tar.gz", "/lab/train"])
def test_a_charliecloud_image_must_be_a_named_tarball(image: str) -> None:
    with pytest.raises(ValueError, match=r"name it NAME\.tar\.gz"):
        cr.run_path("charliecloud", image)


def test_the_command_lines_bind_each_path_once_at_its_own_place() -> None:
    binds = ["/srv/lab", "/opt/env", "", "/srv/lab"]
    assert cr.exec_argv("charliecloud", "/usr/bin/ch-run", "/l/c/t.tar.gz", binds, True) == [
        "/usr/bin/ch-run",
        "-b",
        "/srv/lab:/srv/lab",
        "-b",
        "/opt/env:/opt/env",
        "/l/c/t",
        "--",
    ]  # no --nv: ch-run has none
    assert cr.exec_argv("apptainer", "apptainer", "/l/t.sif", binds, True) == [
        "apptainer",
        "exec",
        "--nv",
        "--bind",
        "/srv/lab,/opt/env",
        "/l/t.sif",
    ]
    assert cr.exec_argv("singularity", "/s", "/l/t.sif", [], False) == ["/s", "exec", "/l/t.sif"]
    # the preflight's: the runtime named by its program's path
    assert container_argv("/usr/bin/ch-run", "/l/t.tar.gz", ["/e"], False)[-2:] == ["/l/t", "--"]
    assert container_argv("/opt/x/run", "/l/t.tar.gz", [], False, "charliecloud")[0] == "/opt/x/run"
    # the role's filters are these functions
    filters = FilterModule().filters()
    assert filters["sweepops_container_program"]("charliecloud") == "ch-run"
    assert filters["sweepops_container_run_path"]("charliecloud", "/c/t.tar.gz") == "/c/t"
    assert filters["sweepops_container_exec"]("charliecloud", "ch-run", "/c/t.tar", ["/e"]) == [
        "ch-run",
        "-b",
        "/e:/e",
        "/c/t",
        "--",
    ]


@pytest.mark.skipif(not shutil.which("ch-run"), reason="Debian's charliecloud is not installed")
def test_ch_run_enters_the_unpacked_image_with_the_binds_at_their_paths(tmp_path: Path) -> None:
    """The image as the container role leaves it (a tarball, unpacked with its bind points) run
    with exec_argv's command line: the image's own files, the bound env's current files."""
    tree = tinyroot.make(tmp_path / "tree")
    (tree / "etc" / "sweepops-image").write_text("env_prefix=/opt/envs/train\n")
    image = tmp_path / "lab" / "containers" / "train.tar.gz"
    image.parent.mkdir(parents=True)
    with tarfile.open(image, "w:gz") as tar:
        tar.add(tree, arcname=".")
    env = tmp_path / "env"
    env.mkdir()
    (env / "state").write_text("as the env is now")
    dest = cr.run_path("charliecloud", str(image))
    binds = [str(env)]
    image_unpack.image_unpack_module(
        {"image": str(image), "dest": dest, "bind_points": binds, "nvidia": False}, False
    )
    argv = cr.exec_argv("charliecloud", shutil.which("ch-run") or "", str(image), binds, False)
    script = f'cat /etc/sweepops-image {env}/state; echo; echo "CH_RUNNING=$CH_RUNNING"; ls /bin'
    proc = subprocess.run(
        [*argv, "/bin/sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "USER": os.environ.get("USER", "root")},
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "env_prefix=/opt/envs/train"  # the image's file, not the host's
    assert lines[1] == "as the env is now"  # the env bound by reference
    assert lines[2].startswith("CH_RUNNING=") and lines[2] != "CH_RUNNING="
    assert sorted(lines[3:]) == sorted(tinyroot.PROGRAMS)  # its /bin, not this machine's
    # a changed file in the env is seen at once, the image untouched
    (env / "state").write_text("changed")
    again = subprocess.run(
        [*argv, "/bin/cat", f"{env}/state"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "USER": os.environ.get("USER", "root")},
    )
    assert again.stdout == "changed", again.stderr


CH = {"name": "charliecloud", "path": "/usr/bin/ch-run"}
APPTAINER = {"name": "apptainer", "path": "/opt/apptainer/bin/apptainer"}


def test_the_role_picks_the_runtime_wanted_else_the_first_found() -> None:
    facts = {"container_runtime": APPTAINER, "container_runtimes": [APPTAINER, CH]}
    assert cr.pick(facts, "") == APPTAINER
    assert cr.pick(facts, "charliecloud") == CH
    assert cr.pick(facts, "singularity") is None
    assert cr.pick({"container_runtime": None, "container_runtimes": []}, "") is None
    # facts of an older sweepops: only the first runtime found
    assert cr.pick({"container_runtime": CH}, "charliecloud") == CH
    assert cr.pick({"container_runtime": CH}, "apptainer") is None
    assert cr.pick({}, "") is None


def test_no_runtime_is_said_with_the_host_the_program_and_what_to_do() -> None:
    text = cr.missing_message("atlas-login", "apptainer", "/lab/c/t.sif")
    assert text.startswith("atlas-login: apptainer (its program apptainer) is not on the login")
    assert "container_image=/lab/c/t.sif cannot run there" in text
    assert "charliecloud (its program ch-run)" in cr.missing_message("h", "charliecloud", "i")
    assert "neither apptainer, singularity nor charliecloud" in cr.missing_message("h", "", "i")


def test_image_stem_and_the_sanity_command_line() -> None:
    assert cr.image_stem("/lab/containers/train.tar.gz") == "train"
    assert cr.image_stem("/lab/containers/train.sif") == "train"
    assert cr.image_stem("v1.2.tgz") == "v1.2" and cr.image_stem("/x/plain") == "plain"
    argv = cr.in_env_argv("charliecloud", "/usr/bin/ch-run", "/c/t.tar.gz", "/opt/env", ["python"])
    assert argv[:5] == ["/usr/bin/ch-run", "-b", "/opt/env:/opt/env", "/c/t", "--"]
    assert argv[5:8] == ["/bin/sh", "-c", 'PATH="$0/bin:$PATH"; export PATH; exec "$@"']
    assert argv[8:] == ["/opt/env", "python"]
    assert cr.in_env_argv("apptainer", "a", "/c/t.sif", "/e", ["x"])[:5] == [
        "a",
        "exec",
        "--bind",
        "/e",
        "/c/t.sif",
    ]
    filters = FilterModule().filters()
    assert filters["sweepops_container_pick"] is cr.pick
    assert filters["sweepops_container_in_env"] is cr.in_env_argv
