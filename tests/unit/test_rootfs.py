"""sweepops.artifacts.rootfs: the charliecloud image built from a debootstrap base, for real
(tar, unshare, chroot, as root) on a tiny root made of this machine's programs
(tests/tinyroot.py) standing in for debootstrap's output. debootstrap itself (a network
fetch of minutes) runs in tests/integration/test_cluster_container.py; here a stand-in
``debootstrap`` on PATH copies the tiny root, so the cache logic around it is real."""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
from pathlib import Path

import pytest

from sweepops.ansible import steps
from sweepops.artifacts import container, rootfs
from sweepops.core.errors import SweepopsError
from tests import tinyroot
from tests.conftest import REPO

TEMPLATE = REPO / "templates" / "container.charliecloud.sh.j2"
DEBIAN12 = {"ID": "debian", "VERSION_ID": "12", "VERSION_CODENAME": "bookworm"}
BASE = rootfs.Base("bookworm", "http://deb.debian.org/debian", ("python3",))

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("chroot"),
    reason="chroot and mount namespaces need root (make test runs as root)",
)


def test_the_base_key_follows_what_debootstrap_builds_from() -> None:
    assert BASE.key == rootfs.Base("bookworm", "http://deb.debian.org/debian", ("python3",)).key
    others = [
        rootfs.Base("trixie", BASE.mirror, BASE.packages),
        rootfs.Base(BASE.suite, "http://mirror.example/debian", BASE.packages),
        rootfs.Base(BASE.suite, BASE.mirror, ()),
        rootfs.Base(BASE.suite, BASE.mirror, BASE.packages, variant="buildd"),
    ]
    assert len({BASE.key, *(b.key for b in others)}) == 5
    cmd = BASE.command("/x/rootfs")
    assert cmd[:5] == ["unshare", "--mount", "--propagation", "private", "--fork"]
    assert cmd[5:] == [
        "debootstrap",
        "--variant=minbase",
        "--include=python3",
        "bookworm",
        "/x/rootfs",
        "http://deb.debian.org/debian",
    ]
    assert "--include" not in " ".join(rootfs.Base("bookworm", BASE.mirror).command("/r"))


def test_pack_command_compresses_by_suffix_and_leaves_out_what_ch_run_provides() -> None:
    gz = rootfs.pack_command("/r", "/o/img.tar.gz")
    assert "-z" in gz and gz[-2:] == ["/o/img.tar.gz", "."]
    assert "-z" in rootfs.pack_command("/r", "/o/img.tgz")
    assert "-z" not in rootfs.pack_command("/r", "/o/img.tar")
    assert "--exclude=./proc/*" in gz and "--exclude=./dev/*" in gz and "--numeric-owner" in gz


@pytest.fixture
def fake_debootstrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``debootstrap`` on PATH that copies a tiny root into its target and logs its argv."""
    tiny = tinyroot.make(tmp_path / "tiny")
    (tiny / "tmp" / "left-by-debootstrap").write_text("x")
    (tiny / "var" / "cache" / "apt" / "archives").mkdir(parents=True)
    (tiny / "var" / "cache" / "apt" / "archives" / "python3.deb").write_text("deb")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "debootstrap.log"
    script = bin_dir / "debootstrap"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {log}\n'
        'n=$(($# - 1)); eval "target=\\${$n}"\n'
        f'mkdir -p "$target" && cp -a {tiny}/. "$target/"\n'
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return log


@needs_root
def test_the_base_is_built_once_and_then_taken_from_the_cache(
    tmp_path: Path, fake_debootstrap: Path
) -> None:
    cache = tmp_path / "cache"
    tarball, built = rootfs.base_tarball(BASE, cache)
    assert built and tarball.exists() and tarball.parent == cache
    assert BASE.key in tarball.name
    args = fake_debootstrap.read_text().split()
    assert args[:3] == ["--variant=minbase", "--include=python3", "bookworm"]
    assert args[3].startswith(str(cache / ".debootstrap-")) and args[3].endswith("/rootfs")
    assert args[4] == "http://deb.debian.org/debian"
    with tarfile.open(tarball) as tar:
        assert "./bin/sh" in tar.getnames()
    assert [p.name for p in cache.iterdir()] == [tarball.name]  # no work dir left
    again, built = rootfs.base_tarball(BASE, cache)
    assert (again, built) == (tarball, False)
    assert len(fake_debootstrap.read_text().splitlines()) == 1  # not run again


def test_a_missing_debootstrap_is_named_with_its_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(SweepopsError, match="needs debootstrap") as exc:
        rootfs.base_tarball(BASE, tmp_path / "cache", root=True)
    assert "apt-get install debootstrap" in str(exc.value)


def test_without_root_or_sudo_the_error_says_what_is_needed(
    tmp_path: Path, fake_debootstrap: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # not root: every step goes through `sudo -n`, which this PATH does not have
    monkeypatch.setenv("PATH", str(fake_debootstrap.parent / "bin"))
    with pytest.raises(SweepopsError) as exc:
        rootfs.base_tarball(BASE, tmp_path / "cache", root=False)
    text = str(exc.value)
    assert "debootstrap failed (127): sudo -n unshare" in text
    assert "passwordless sudo" in text
    assert list((tmp_path / "cache").iterdir()) == []  # no tarball, no work dir


def definition(tmp_path: Path, post: list[str]) -> Path:
    text = container.render_def(
        TEMPLATE,
        container.def_variables(
            env_prefix="/opt/envs/train",
            conda=False,
            os_release=DEBIAN12,
            runtime="charliecloud",
            post_commands=post,
            packages=["python3"],
            bind_paths=["/srv/lab"],
        ),
    )
    path = tmp_path / "train.def"
    path.write_text(text)
    return path


@needs_root
def test_build_image_runs_the_definition_in_the_tree_and_packs_it(
    tmp_path: Path, fake_debootstrap: Path
) -> None:
    image = tmp_path / "out" / "train.tar.gz"
    script = definition(tmp_path, ["echo built > /etc/marker", "ls /proc/self > /etc/proc-seen"])
    assert rootfs.build_image(image, script, BASE, tmp_path / "cache") is True
    with tarfile.open(image) as tar:
        names = set(tar.getnames())
        members = {m.name: m for m in tar.getmembers()}
        read = lambda n: tar.extractfile(n).read().decode()  # noqa: E731
        assert read("./etc/marker") == "built\n"
        assert "status" in read("./etc/proc-seen")  # the script had its own /proc
        assert "env_prefix=/opt/envs/train" in read("./etc/sweepops-image")
        assert "base=debootstrap bookworm http://deb.debian.org/debian" in read(
            "./etc/sweepops-image"
        )
    # the bind points are directories in the image; the script itself is not
    assert members["./opt/envs/train"].isdir() and members["./srv/lab"].isdir()
    assert "." + rootfs.SCRIPT_IN_ROOTFS not in names
    # what ch-run provides or debootstrap left over is not packed, its mount points are
    assert "./proc" in names and not [n for n in names if n.startswith("./proc/")]
    assert "./tmp/left-by-debootstrap" not in names
    assert "./var/cache/apt/archives/python3.deb" not in names
    # nothing left beside the image (work dir, .building); the base came from the cache later
    assert sorted(p.name for p in image.parent.iterdir()) == ["train.tar.gz"]
    assert str(tmp_path) not in Path("/proc/self/mountinfo").read_text()  # no /proc left
    assert rootfs.build_image(image, script, BASE, tmp_path / "cache") is False
    assert len(fake_debootstrap.read_text().splitlines()) == 1


@needs_root
def test_a_failing_definition_leaves_the_old_image_and_no_work_dir(
    tmp_path: Path, fake_debootstrap: Path
) -> None:
    image = tmp_path / "out" / "train.tar.gz"
    rootfs.build_image(image, definition(tmp_path, []), BASE, tmp_path / "cache")
    before = image.read_bytes()
    with pytest.raises(SweepopsError, match="running the definition") as exc:
        rootfs.build_image(
            image, definition(tmp_path, ["echo about to fail", "false"]), BASE, tmp_path / "cache"
        )
    assert "chroot" in str(exc.value)
    assert image.read_bytes() == before
    assert sorted(p.name for p in image.parent.iterdir()) == ["train.tar.gz"]


def step_params(tmp_path: Path, **given: object) -> dict:
    spec = steps.SPECS["sweepops_env_container"]
    p = {name: opt.get("default") for name, opt in spec.options.items()}
    (tmp_path / "os-release").write_text(
        'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'
    )
    p.update(
        template=str(TEMPLATE),
        def_path=str(tmp_path / "build" / "train.def"),
        image=str(tmp_path / "build" / "train.tar.gz"),
        env_prefix="/opt/envs/train",
        conda=False,
        runtime="charliecloud",
        packages=["python3"],
        bind_paths=["/srv/lab"],
        rootfs_cache=str(tmp_path / "cache"),
        os_release=str(tmp_path / "os-release"),
    )
    p.update(given)
    return p


@needs_root
def test_the_step_rebuilds_only_when_the_definition_changes(
    tmp_path: Path, fake_debootstrap: Path
) -> None:
    p = step_params(tmp_path)
    check = steps.run("sweepops_env_container", p, check_mode=True)
    assert check["built"] is True and check["changed"] is True
    assert check["base_image"] == "debootstrap bookworm http://deb.debian.org/debian"
    assert not Path(p["image"]).exists() and not fake_debootstrap.exists()  # check: nothing
    first = steps.run("sweepops_env_container", p, check_mode=False)
    assert first["built"] is True and first["base_built"] is True
    assert first["runtime"] == "charliecloud"
    image = Path(p["image"])
    assert container.digest_file(image).read_text().strip() == first["digest"]
    mtime = image.stat().st_mtime_ns
    again = steps.run("sweepops_env_container", p, check_mode=False)
    assert again["changed"] is False and again["built"] is False
    assert image.stat().st_mtime_ns == mtime
    changed = steps.run(
        "sweepops_env_container", step_params(tmp_path, post_commands=["echo 2"]), False
    )
    assert changed["built"] is True and "definition changed" in changed["reason"]
    assert changed["base_built"] is False  # the OS was not fetched again
    assert changed["digest"] != first["digest"]
    assert len(fake_debootstrap.read_text().splitlines()) == 1
    assert stat.S_ISREG(image.stat().st_mode)


def test_the_step_says_debootstrap_is_missing_before_building(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(steps.StepFailed, match="apt-get install debootstrap"):
        steps.run("sweepops_env_container", step_params(tmp_path), check_mode=False)
    assert not (tmp_path / "build").exists()


def test_a_debootstrap_base_has_no_cuda_and_needs_debian_or_ubuntu() -> None:
    with pytest.raises(SweepopsError, match="no CUDA"):
        container.def_variables(
            env_prefix="/e", conda=False, os_release=DEBIAN12, cuda="12.2.0",
            runtime="charliecloud",
        )  # fmt: skip
    with pytest.raises(SweepopsError, match="Debian or Ubuntu"):
        container.def_variables(
            env_prefix="/e", conda=False, os_release={"ID": "rocky", "VERSION_ID": "9"},
            bootstrap="debootstrap",
        )  # fmt: skip
    ubuntu = {"ID": "ubuntu", "VERSION_ID": "22.04", "VERSION_CODENAME": "jammy"}
    v = container.def_variables(
        env_prefix="/e", conda=False, os_release=ubuntu, bootstrap="debootstrap"
    )
    assert (v["suite"], v["mirror"]) == ("jammy", "http://archive.ubuntu.com/ubuntu")
