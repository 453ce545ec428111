"""A charliecloud image tarball unpacked on the cluster, into the directory ch-run runs.

Standard library only (shipped as module_utils; the module ``sweepops_image_unpack``).
The directory is replaced only when the tarball's sha256 differs from the one recorded in it
(``DIR/.sweepops-unpacked``): unpacked next to it, then renamed into place, so a job starting
meanwhile sees the old tree or the new one, never half of one. The bind points jobs need
(ch-run binds only onto existing directories) are made in it, also when they are new.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from typing import Any

from .imagedigest import image_digest
from .module_spec import ModuleFailed, ModuleSpec, Params, Result

MARKER = ".sweepops-unpacked"


def recorded_sha256(directory: str) -> str:
    try:
        with open(os.path.join(directory, MARKER)) as fh:
            return fh.read().strip()
    except OSError:
        return ""


def _writable_then_remove(func: Any, path: str, _exc: Any) -> None:
    os.chmod(os.path.dirname(path), stat.S_IRWXU)
    if os.path.isdir(path) and not os.path.islink(path):
        os.chmod(path, stat.S_IRWXU)
    func(path)


def remove_tree(path: str) -> None:
    """rm -rf, also through directories the image made read-only."""
    if os.path.lexists(path):
        shutil.rmtree(path, onerror=_writable_then_remove)


def missing_bind_points(directory: str, paths: list[str]) -> list[str]:
    return [p for p in dict.fromkeys(paths) if p and not os.path.isdir(directory + p)]


def make_bind_points(directory: str, paths: list[str]) -> None:
    for path in paths:
        if not os.path.isabs(path):
            raise ModuleFailed(f"bind path {path!r} is not absolute")
        os.makedirs(directory + path, exist_ok=True)


def unpack(image: str, directory: str, sha256: str, bind_points: list[str]) -> None:
    """Unpack ``image`` next to ``directory``, record ``sha256`` and rename it into place."""
    parent = os.path.dirname(directory) or "."
    base = os.path.basename(directory)
    tmp = os.path.join(parent, f".{base}.unpacking-{os.getpid()}")
    old = os.path.join(parent, f".{base}.replaced-{os.getpid()}")
    remove_tree(tmp)
    os.makedirs(tmp)
    try:
        proc = subprocess.run(
            ["tar", "-C", tmp, "--no-same-owner", "-xf", image], capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise ModuleFailed(
                f"unpacking {image} into {tmp} failed ({proc.returncode}): "
                f"{proc.stderr.strip()[-2000:]}"
            )
        make_bind_points(tmp, bind_points)
        with open(os.path.join(tmp, MARKER), "w") as fh:
            fh.write(sha256 + "\n")
        if os.path.lexists(directory):
            os.rename(directory, old)
        os.rename(tmp, directory)
    finally:
        remove_tree(tmp)
        remove_tree(old)


def inject_nvidia(directory: str) -> str:
    """``ch-fromhost --nvidia DIR`` when this host has NVIDIA's driver; what happened."""
    if not shutil.which("nvidia-smi"):
        return "no NVIDIA driver on this host"
    if not shutil.which("ch-fromhost"):
        return "ch-fromhost is not on PATH"
    proc = subprocess.run(["ch-fromhost", "--nvidia", directory], capture_output=True, text=True)
    if proc.returncode != 0:
        raise ModuleFailed(
            f"ch-fromhost --nvidia {directory} failed ({proc.returncode}): "
            f"{proc.stderr.strip()[-2000:]}"
        )
    return "injected the host's NVIDIA libraries (ch-fromhost --nvidia)"


def image_unpack_module(p: Params, check_mode: bool) -> Result:
    """The module: see SPEC."""
    image = os.path.expanduser(p["image"])
    directory = os.path.normpath(os.path.expanduser(p["dest"]))
    binds = [str(b) for b in p["bind_points"] or [] if b]
    try:
        digest = image_digest(image, cache=not check_mode)
    except OSError as exc:
        raise ModuleFailed(f"cannot read the image {image}: {exc}") from exc
    if not digest["exists"]:
        raise ModuleFailed(
            f"the image {image} is not there: the container role copies it before unpacking"
        )
    sha = digest["sha256"]
    recorded = recorded_sha256(directory)
    result: Result = {"dest": directory, "sha256": sha, "previous": recorded, "nvidia": ""}
    if recorded == sha:
        missing = missing_bind_points(directory, binds)
        result.update(changed=bool(missing), unpacked=False, made=missing)
        if missing and not check_mode:
            make_bind_points(directory, missing)
        return result
    result.update(changed=True, unpacked=True, made=[])
    if check_mode:
        return result
    unpack(image, directory, sha, binds)
    if p["nvidia"]:
        result["nvidia"] = inject_nvidia(directory)
    return result


SPEC = ModuleSpec(
    name="sweepops_image_unpack",
    short_description="Unpack a charliecloud image tarball on the cluster when it changed",
    description=(
        (
            "Unpacks I(image) (a tarball) into I(dest), the directory C(ch-run) runs, when "
            "the tarball's sha256 differs from the one recorded in I(dest) "
            "(C(DEST/.sweepops-unpacked)); unpacked next to it and renamed into place."
        ),
        (
            "Makes the I(bind_points) in it (ch-run binds only onto existing directories), "
            "and reports a change when any was missing."
        ),
        (
            "With I(nvidia) and NVIDIA's driver on the host, injects the driver's libraries "
            "into a newly unpacked tree with C(ch-fromhost --nvidia)."
        ),
        "In check mode nothing is written.",
    ),
    options={
        "image": {
            "description": "The image tarball on this host.",
            "type": "path",
            "required": True,
        },
        "dest": {
            "description": "The directory it is unpacked into.",
            "type": "path",
            "required": True,
        },
        "bind_points": {
            "description": "Absolute paths bound in at run time, made as directories in I(dest).",
            "type": "list",
            "elements": "str",
            "default": [],
        },
        "nvidia": {
            "description": "Inject the host's NVIDIA libraries after unpacking (ch-fromhost).",
            "type": "bool",
            "default": False,
        },
    },
    returns={
        "dest": {"description": "The unpacked directory.", "returned": "always", "type": "str"},
        "sha256": {
            "description": "The tarball's sha256.",
            "returned": "always",
            "type": "str",
        },
        "previous": {
            "description": "The sha256 the directory was unpacked from before (empty: none).",
            "returned": "always",
            "type": "str",
        },
        "unpacked": {
            "description": "Whether it was (or, in check mode, would be) unpacked.",
            "returned": "always",
            "type": "bool",
        },
        "made": {
            "description": "The bind points made in an already unpacked directory.",
            "returned": "always",
            "type": "list",
            "elements": "str",
        },
        "nvidia": {
            "description": "What the NVIDIA injection did (empty: not asked or not unpacked).",
            "returned": "always",
            "type": "str",
        },
    },
)
