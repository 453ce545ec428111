"""A tiny root file system made of this machine's own programs and the libraries they load
(``ldd``): enough for ``chroot DIR /bin/sh`` and ``ch-run DIR -- /bin/sh``, without fetching
an OS (the unit tests of the image build, unpack and run; debootstrap's real base is built by
tests/integration/test_cluster_container.py)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

#: what the definition script and the tests run in the tree
PROGRAMS = ("sh", "cat", "mkdir", "echo", "ls")
#: what charliecloud binds into every image: it needs the mount points (files and dirs)
CH_DIRS = ("dev", "proc", "sys", "tmp", "home", "mnt", "var/tmp", "etc", "root")
CH_FILES = ("etc/passwd", "etc/group", "etc/hosts", "etc/resolv.conf", "etc/nsswitch.conf")


def libraries(program: str) -> list[str]:
    out = subprocess.run(["ldd", program], capture_output=True, text=True).stdout
    return re.findall(r"(/\S+) \(0x", out)


def copy_in(root: Path, path: str) -> None:
    """``path`` (and what it links to) at the same place under ``root``."""
    real = os.path.realpath(path)
    for p in dict.fromkeys([path, real]):
        dest = root / p.lstrip("/")
        if dest.exists() or dest.is_symlink():
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        if p == real:
            shutil.copy2(p, dest)
        else:
            dest.symlink_to(real)


def make(root: Path, programs: tuple[str, ...] = PROGRAMS) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for d in CH_DIRS:
        (root / d).mkdir(parents=True, exist_ok=True)
    for f in CH_FILES:
        (root / f).touch()
    (root / "etc" / "os-release").write_text('ID=tiny\nPRETTY_NAME="tiny root for tests"\n')
    for name in programs:
        found = shutil.which(name, path="/usr/bin:/bin")
        assert found, f"{name} is not on this machine"
        target = root / "bin" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.realpath(found), target)
        for lib in libraries(found):
            copy_in(root, lib)
    return root
