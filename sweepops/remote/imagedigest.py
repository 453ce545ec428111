"""The sha256 of a container image file on a cluster: what a deploy records and reproduce
checks, so every run can be traced to the exact image it ran in.

Standard library only: the same file runs on the workstation and, shipped as Ansible
module_utils (``module_utils/sweepops_remote`` links to this package), is the module
``sweepops_image_digest`` (:data:`SPEC`, :func:`image_digest_module`) on the login host.

Hashing a multi-gigabyte image at every deploy costs seconds, so :func:`image_digest` keeps
the last answer next to the image (``IMAGE.sha256.json``) keyed by the file's identity
(device, inode, size, mtime and ctime in ns). Any write to the file changes its ctime, which
no user can set back, so a stale cached digest cannot be reused. ``fresh=True`` (what
reproduce uses) always reads the whole file.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from .module_spec import ModuleFailed, ModuleSpec, Params, Result

#: Suffix of the cache file written next to the image.
CACHE_SUFFIX = ".sha256.json"


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _identity(st: os.stat_result) -> dict[str, int]:
    return {
        "dev": st.st_dev,
        "ino": st.st_ino,
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "ctime_ns": st.st_ctime_ns,
    }


def cache_path(image: str) -> str:
    return image + CACHE_SUFFIX


def image_digest(image: str, *, fresh: bool = False, cache: bool = True) -> dict[str, Any]:
    """``{exists, sha256, size, cached}`` of the file ``image``; ``sha256`` is "" when the
    file does not exist. Raises OSError when it exists but cannot be read."""
    try:
        st = os.stat(image)
    except FileNotFoundError:
        return {"exists": False, "sha256": "", "size": 0, "cached": False}
    if not os.path.isfile(image):
        raise IsADirectoryError(f"{image} is not a regular file")
    ident = _identity(st)
    if cache and not fresh:
        try:
            with open(cache_path(image)) as fh:
                known = json.load(fh)
            if known.get("identity") == ident and len(str(known.get("sha256", ""))) == 64:
                return {
                    "exists": True,
                    "sha256": known["sha256"],
                    "size": st.st_size,
                    "cached": True,
                }
        except (OSError, ValueError):
            pass
    sha = file_sha256(image)
    if cache:
        # Only if the file did not change while it was read.
        if _identity(os.stat(image)) == ident:
            tmp = f"{cache_path(image)}.{os.getpid()}.tmp"
            try:
                with open(tmp, "w") as fh:
                    json.dump({"identity": ident, "sha256": sha}, fh)
                os.replace(tmp, cache_path(image))
            except OSError:  # a read-only image directory: no cache, still a digest
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
    return {"exists": True, "sha256": sha, "size": st.st_size, "cached": False}


# --------------------------------------------------------------------------- the module


def image_digest_module(p: Params, check_mode: bool) -> Result:
    """The module: see SPEC."""
    path = p["path"]
    try:
        # In check mode nothing is written, the cache included.
        found = image_digest(path, fresh=p["fresh"], cache=not check_mode)
    except OSError as exc:
        raise ModuleFailed(
            f"{os.uname().nodename}: cannot read the container image {path}: {exc}"
        ) from exc
    if not found["exists"] and not p["missing_ok"]:
        raise ModuleFailed(
            f"{os.uname().nodename}: the container image {path} (container_image) is not "
            "there, so the jobs could not start; run `sweepops provision CLUSTER` to build and "
            "copy it, or leave container_image unset",
            **found,
        )
    return {"changed": False, **found}


SPEC = ModuleSpec(
    name="sweepops_image_digest",
    short_description=(
        "The sha256 of a container image on the cluster, for the ledger and reproduce"
    ),
    description=(
        (
            "Reads the sha256 of I(path). The answer is cached next to the image "
            "(C(PATH.sha256.json)) keyed by its device, inode, size, mtime and ctime, so "
            "an unchanged multi-gigabyte image is not read again at every deploy; "
            "I(fresh) always reads it."
        ),
        "A missing image fails (the jobs could not start), unless I(missing_ok).",
        "Never reports a change (the cache file is bookkeeping).",
    ),
    options={
        "path": {
            "description": "The image file on this host.",
            "type": "path",
            "required": True,
        },
        "fresh": {
            "description": "Hash the file even when the cache says it is unchanged.",
            "type": "bool",
            "default": False,
        },
        "missing_ok": {
            "description": "Report C(exists=false) instead of failing when the file is missing.",
            "type": "bool",
            "default": False,
        },
    },
    returns={
        "exists": {
            "description": "Whether the image exists.",
            "returned": "always",
            "type": "bool",
        },
        "sha256": {
            "description": "Its sha256 (empty when missing).",
            "returned": "always",
            "type": "str",
        },
        "size": {
            "description": "Its size in bytes.",
            "returned": "always",
            "type": "int",
        },
        "cached": {
            "description": "Whether the digest came from the cache.",
            "returned": "always",
            "type": "bool",
        },
    },
)
