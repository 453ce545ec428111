"""A charliecloud image built from Debian's packages with debootstrap, no registry involved.

The build (run on the workstation, as root or through ``sudo -n``):

1. the base: ``debootstrap --variant=minbase [--include=PKGS] SUITE DIR MIRROR``, kept as a
   tarball in a cache directory keyed by (suite, mirror, variant, packages)
   (:func:`base_tarball`), so a changed definition script does not fetch the OS again;
2. the base unpacked into a build directory, the rendered definition
   (``templates/container.charliecloud.sh.j2``) run in it as root (``chroot``, with its own
   ``/proc``);
3. the tree packed as the image, one tarball (``--numeric-owner``, without the contents of
   ``/dev``, ``/proc`` and ``/sys``, which ch-run provides), renamed into place.

A user unpacks it on the cluster (``sweepops.remote.image_unpack``) and runs it with ``ch-run``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweepops.core.errors import SweepopsError

VARIANT = "minbase"
#: what is left out of the image: ch-run binds the host's /dev, /proc and /sys in
EXCLUDES = ("./dev/*", "./proc/*", "./sys/*", "./tmp/*", "./var/cache/apt/archives/*.deb")
SCRIPT_IN_ROOTFS = "/.sweepops-definition.sh"


@dataclass(frozen=True)
class Base:
    """What debootstrap builds the base from."""

    suite: str
    mirror: str
    packages: tuple[str, ...] = ()
    variant: str = VARIANT

    @property
    def key(self) -> str:
        text = "\n".join([self.suite, self.mirror, self.variant, ",".join(self.packages)])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def command(self, target: str | Path) -> list[str]:
        """debootstrap in a mount namespace of its own: the /proc and /sys it mounts in the
        target go with it, also when it is killed (nothing stays mounted under the cache)."""
        cmd = ["unshare", "--mount", "--propagation", "private", "--fork"]
        cmd += ["debootstrap", f"--variant={self.variant}"]
        if self.packages:
            cmd.append("--include=" + ",".join(self.packages))
        return [*cmd, self.suite, str(target), self.mirror]


Runner = Callable[..., Any]


def _as_root(cmd: Sequence[str], root: bool) -> list[str]:
    return list(cmd) if root else ["sudo", "-n", *cmd]


def _run(cmd: Sequence[str], what: str, root: bool, run: Runner) -> None:
    full = _as_root(cmd, root)
    try:
        proc = run(full, capture_output=True, text=True)
        code, output = proc.returncode, proc.stderr or proc.stdout or ""
    except OSError as exc:  # no sudo, no tar, ...
        code, output = 127, str(exc)
    if code != 0:
        tail = "\n".join(output.strip().splitlines()[-15:])
        raise SweepopsError(
            f"{what} failed ({code}): {' '.join(full)}\n{tail}",
            hint="a charliecloud image is built with debootstrap and chroot, which need root "
            "on the workstation: run as root or allow passwordless sudo (sudo -n); "
            "debootstrap comes from Debian's package (apt-get install debootstrap)",
        )


def _remove(path: Path, what: str, root: bool, run: Runner, *, failing: bool) -> None:
    """rm -rf (as root: the tree is root's), never into a file system mounted below. While
    another error is on its way (``failing``) a failed removal does not hide it: what this
    user may remove is removed."""
    try:
        _run(["rm", "-rf", "--one-file-system", str(path)], what, root, run)
    except SweepopsError:
        shutil.rmtree(path, ignore_errors=True)
        if not failing:
            raise


def base_tarball(
    base: Base, cache_dir: str | Path, *, root: bool | None = None, run: Runner = subprocess.run
) -> tuple[Path, bool]:
    """The cached base tarball (built now when missing) and whether it was built."""
    is_root = os.geteuid() == 0 if root is None else root
    cache = Path(cache_dir)
    tarball = cache / f"debootstrap-{base.suite}-{base.variant}-{base.key}.tar"
    if tarball.exists():
        return tarball, False
    if not shutil.which("debootstrap") and run is subprocess.run:
        raise SweepopsError(
            "building a charliecloud image needs debootstrap on the workstation",
            hint="apt-get install debootstrap (Debian's package), or leave container_image unset",
        )
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".debootstrap-", dir=cache))
    tmp = tarball.with_name(tarball.name + ".tmp")
    failing = True
    try:
        _run(base.command(work / "rootfs"), "debootstrap", is_root, run)
        _run(
            ["tar", "-C", str(work / "rootfs"), "--numeric-owner", "-cf", str(tmp), "."],
            "packing the debootstrap base",
            is_root,
            run,
        )
        os.replace(tmp, tarball)
        failing = False
    finally:
        if failing:
            tmp.unlink(missing_ok=True)
        _remove(work, "removing the debootstrap work dir", is_root, run, failing=failing)
    return tarball, True


def pack_command(rootfs: str | Path, out: str | Path) -> list[str]:
    """tar of the image tree: gzip for ``.tar.gz``/``.tgz``, plain otherwise."""
    compress = ["-z"] if str(out).endswith((".tar.gz", ".tgz")) else []
    excludes = [f"--exclude={pattern}" for pattern in EXCLUDES]
    return ["tar", "-C", str(rootfs), "--numeric-owner", *excludes, *compress, "-cf", str(out), "."]


def build_image(
    image: str | Path,
    definition: str | Path,
    base: Base,
    cache_dir: str | Path,
    *,
    root: bool | None = None,
    run: Runner = subprocess.run,
) -> bool:
    """Build the image tarball ``image`` from ``base`` and the definition script (into
    ``IMAGE.building``, renamed into place). Returns whether the base had to be built."""
    is_root = os.geteuid() == 0 if root is None else root
    image = Path(image)
    image.parent.mkdir(parents=True, exist_ok=True)
    tarball, built_base = base_tarball(base, cache_dir, root=is_root, run=run)
    work = Path(tempfile.mkdtemp(prefix=f".{image.name}.", dir=image.parent))
    rootfs = work / "rootfs"
    tmp = image.with_name(image.name + ".building")
    failing = True
    try:
        _run(["mkdir", str(rootfs)], "making the build dir", is_root, run)
        _run(
            ["tar", "-C", str(rootfs), "--numeric-owner", "-xpf", str(tarball)],
            "unpacking the base",
            is_root,
            run,
        )
        _run(
            ["cp", str(definition), f"{rootfs}{SCRIPT_IN_ROOTFS}"],
            "copying the definition in",
            is_root,
            run,
        )
        # its own mount namespace: /proc is mounted for the script and gone with it
        script = (
            'mount -t proc proc "$0/proc" && '
            f'chroot "$0" /bin/sh -eu {SCRIPT_IN_ROOTFS} && rm -f "$0{SCRIPT_IN_ROOTFS}"'
        )
        _run(
            ["unshare", "--mount", "--fork", "sh", "-c", script, str(rootfs)],
            f"running the definition {definition} in the image",
            is_root,
            run,
        )
        _run(pack_command(rootfs, tmp), "packing the image", is_root, run)
        if not is_root:
            _run(
                ["chown", f"{os.getuid()}:{os.getgid()}", str(tmp)], "owning the image", False, run
            )
        os.replace(tmp, image)
        failing = False
    finally:
        if failing:
            Path(tmp).unlink(missing_ok=True)
        _remove(work, "removing the build dir", is_root, run, failing=failing)
    return built_base
