"""sweepops.remote.image_unpack (the module sweepops_image_unpack): a charliecloud image
tarball unpacked into the directory ch-run runs, only when its sha256 changed, for real (tar,
renames) in a temporary directory standing in for the cluster's LAB/containers."""

from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path

import pytest

from sweepops.remote import image_unpack
from sweepops.remote.imagedigest import file_sha256
from sweepops.remote.module_spec import ModuleFailed


def make_image(path: Path, files: dict[str, str], readonly_dirs: tuple[str, ...] = ()) -> Path:
    """A tarball laid out as rootfs.pack_command packs one (./etc/..., dirs with modes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        dirs = {"."} | {
            "./" + "/".join(name.split("/")[:i])
            for name in files
            for i in range(1, name.count("/") + 1)
        }
        for d in sorted(dirs):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o555 if d.lstrip("./") in readonly_dirs else 0o755
            tar.addfile(info)
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo("./" + name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return path


def params(image: Path, dest: Path, **given: object) -> dict:
    p = {name: opt.get("default") for name, opt in image_unpack.SPEC.options.items()}
    p.update(image=str(image), dest=str(dest))
    p.update(given)
    return p


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    return tmp_path / "lab" / "containers"


def test_unpacked_once_with_its_bind_points_then_left_alone(lab: Path) -> None:
    image = make_image(lab / "train.tar.gz", {"etc/os-release": "ID=debian\n", "bin/x": "x"})
    dest = lab / "train"
    binds = ["/opt/envs/train", "/srv/lab"]
    first = image_unpack.image_unpack_module(params(image, dest, bind_points=binds), False)
    sha = file_sha256(image)
    assert first["changed"] is True and first["unpacked"] is True
    assert (first["sha256"], first["previous"], first["dest"]) == (sha, "", str(dest))
    assert (dest / "etc" / "os-release").read_text() == "ID=debian\n"
    assert (dest / "opt" / "envs" / "train").is_dir() and (dest / "srv" / "lab").is_dir()
    assert image_unpack.recorded_sha256(str(dest)) == sha
    # nothing beside it: no .unpacking-* or .replaced-* directory
    assert sorted(p.name for p in lab.iterdir()) == sorted(
        ["train", "train.tar.gz", "train.tar.gz.sha256.json"]
    )
    again = image_unpack.image_unpack_module(params(image, dest, bind_points=binds), False)
    assert again["changed"] is False and again["unpacked"] is False and again["made"] == []
    assert again["previous"] == sha


def test_a_new_bind_point_is_made_in_the_unpacked_tree_without_unpacking(lab: Path) -> None:
    image = make_image(lab / "train.tar.gz", {"etc/os-release": "ID=debian\n"})
    dest = lab / "train"
    image_unpack.image_unpack_module(params(image, dest, bind_points=["/srv/lab"]), False)
    (dest / "etc" / "kept").write_text("not unpacked again")
    p = params(image, dest, bind_points=["/srv/lab", "/scratch/data"])
    check = image_unpack.image_unpack_module(p, True)
    assert check["changed"] is True and check["made"] == ["/scratch/data"]
    assert not (dest / "scratch").exists()  # check mode writes nothing
    done = image_unpack.image_unpack_module(p, False)
    assert done["changed"] is True and done["unpacked"] is False
    assert (dest / "scratch" / "data").is_dir() and (dest / "etc" / "kept").exists()
    assert image_unpack.image_unpack_module(p, False)["changed"] is False


def test_a_changed_image_replaces_the_tree_read_only_dirs_and_all(lab: Path) -> None:
    image = lab / "train.tar.gz"
    make_image(image, {"etc/old": "1", "usr/lib/ro/file": "r"}, readonly_dirs=("usr/lib/ro",))
    dest = lab / "train"
    image_unpack.image_unpack_module(params(image, dest), False)
    assert (dest / "usr" / "lib" / "ro").stat().st_mode & 0o777 == 0o555
    old_sha = file_sha256(image)
    make_image(image, {"etc/new": "2"})
    check = image_unpack.image_unpack_module(params(image, dest), True)
    assert check["changed"] is True and check["unpacked"] is True
    assert (dest / "etc" / "old").exists()  # check mode: the old tree as it was
    result = image_unpack.image_unpack_module(params(image, dest), False)
    assert result["unpacked"] is True and result["previous"] == old_sha
    assert (dest / "etc" / "new").read_text() == "2"
    assert not (dest / "etc" / "old").exists() and not (dest / "usr").exists()
    assert image_unpack.recorded_sha256(str(dest)) == file_sha256(image)
    assert not [p for p in lab.iterdir() if p.name.startswith(".train.")]


def test_remove_tree_goes_through_directories_made_read_only(tmp_path: Path) -> None:
    top = tmp_path / "tree"
    (top / "a" / "b").mkdir(parents=True)
    (top / "a" / "b" / "f").write_text("x")
    (top / "a" / "b").chmod(0o500)
    (top / "a").chmod(0o500)
    image_unpack.remove_tree(str(top))
    assert not top.exists()
    image_unpack.remove_tree(str(top))  # gone already: nothing to do


def test_what_cannot_be_unpacked_is_a_clear_failure(lab: Path) -> None:
    with pytest.raises(ModuleFailed, match="is not there: the container role copies it"):
        image_unpack.image_unpack_module(params(lab / "none.tar.gz", lab / "none"), False)
    broken = lab / "broken.tar.gz"
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_bytes(b"not a tarball")
    with pytest.raises(ModuleFailed, match="unpacking .*broken.tar.gz.* failed"):
        image_unpack.image_unpack_module(params(broken, lab / "broken"), False)
    assert not (lab / "broken").exists()
    assert not [p for p in lab.iterdir() if p.name.startswith(".broken.")]
    image = make_image(lab / "ok.tar.gz", {"etc/x": "x"})
    with pytest.raises(ModuleFailed, match="bind path 'relative/path' is not absolute"):
        image_unpack.image_unpack_module(
            params(image, lab / "ok", bind_points=["relative/path"]), False
        )
    assert not (lab / "ok").exists()  # not renamed into place half-made


def test_nvidia_injection_says_what_this_host_has(lab: Path) -> None:
    image = make_image(lab / "train.tar.gz", {"etc/x": "x"})
    result = image_unpack.image_unpack_module(params(image, lab / "train", nvidia=True), False)
    if shutil.which("nvidia-smi"):
        assert result["nvidia"]
    else:  # the test machines: no GPU driver, nothing injected, and said so
        assert result["nvidia"] == "no NVIDIA driver on this host"
