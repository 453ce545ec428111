"""sweepops/remote/ runs on login hosts (module_utils/ links): standard library only.

Each module is copied alone into an empty directory and imported by ``python -I -S`` (no
site-packages, no user site, no PYTHONPATH, not even sweepops itself), so any import that is
not the standard library's (a third-party package, or sweepops) fails this test.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REMOTE = Path(__file__).resolve().parents[2] / "sweepops" / "remote"
MODULES = sorted(p for p in REMOTE.glob("*.py") if p.name != "__init__.py")


def test_there_are_remote_modules():
    assert len(MODULES) >= 10


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_imports_with_the_standard_library_only(path: Path, tmp_path: Path):
    shutil.copy(path, tmp_path / path.name)
    proc = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-c",
            f"import sys; sys.path[:0] = [{str(tmp_path)!r}]; import {path.stem}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, f"{path.name} imports beyond the standard library:\n{proc.stderr}"


def test_the_check_fails_on_a_third_party_import(tmp_path: Path):
    (tmp_path / "bad.py").write_text("import yaml\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-c",
            f"import sys; sys.path[:0] = [{str(tmp_path)!r}]; import bad",
        ],
        capture_output=True,
    )
    assert proc.returncode != 0


def test_module_utils_links_point_into_remote():
    links = sorted((REMOTE.parents[1] / "module_utils").glob("sweepops_*.py"))
    linked = [p for p in links if p.is_symlink()]
    assert linked
    for link in linked:
        assert link.resolve().parent == REMOTE, link
