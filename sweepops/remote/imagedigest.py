"""The sha256 of a container image file on a cluster: what a deploy records and reproduce
checks, so every run can be traced to the exact image it ran in.

Standard library only: the same file runs on the workstation and, as
``module_utils/sweepops_imagedigest.py`` (a link to this file), inside the Ansible module
``sweepops_image_digest`` on the login host.

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
