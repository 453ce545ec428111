"""sweepops/remote/ runs on login hosts (module_utils/ links): standard library only.

The package is copied alone into an empty directory and each module imported from it by
``python -I -S`` (no site-packages, no user site, no PYTHONPATH, not even sweepops itself), so
any import that is not the standard library's or a sibling's in remote/ (a third-party
package, or the rest of sweepops) fails this test.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
REMOTE = REPO / "sweepops" / "remote"
MODULES = sorted(p for p in REMOTE.glob("*.py") if p.name != "__init__.py")


_IMPORT_EACH = """
import importlib, json, sys, traceback
sys.path[:0] = [sys.argv[1]]
failed = {}
for name in sys.argv[2:]:
    try:
        importlib.import_module("remote." + name)
    except BaseException:
        failed[name] = traceback.format_exc()
print(json.dumps(failed))
"""


def failures(package: Path, names: list[str], tmp: Path) -> dict[str, str]:
    """Each module of ``names`` imported (in one ``python -I -S``) from a copy of ``package``
    named ``remote``: the tracebacks of those that failed, by name."""
    shutil.copytree(package, tmp / "remote", ignore=shutil.ignore_patterns("__pycache__"))
    argv = [sys.executable, "-I", "-S", "-c", _IMPORT_EACH, str(tmp), *names]
    proc = subprocess.run(argv, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def import_failures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return failures(REMOTE, [p.stem for p in MODULES], tmp_path_factory.mktemp("remote"))


def test_there_are_remote_modules():
    assert len(MODULES) >= 15


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_imports_with_the_standard_library_only(path: Path, import_failures: dict[str, str]):
    assert path.stem not in import_failures, (
        f"{path.name} imports beyond the standard library:\n{import_failures[path.stem]}"
    )


@pytest.mark.parametrize("bad", ["import yaml\n", "from sweepops.core import paths\n"])
def test_the_check_fails_on_an_import_beyond_remote(bad: str, tmp_path: Path):
    package = tmp_path / "src"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "bad.py").write_text(bad)
    (package / "good.py").write_text("import json\n")
    run = tmp_path / "run"
    run.mkdir()
    assert sorted(failures(package, ["bad", "good"], run)) == ["bad"]


def test_module_utils_links_point_into_remote():
    links = sorted((REPO / "module_utils").glob("sweepops_*"))
    linked = [p for p in links if p.is_symlink()]
    assert (REPO / "module_utils" / "sweepops_remote").resolve() == REMOTE
    for link in linked:
        assert link.resolve() == REMOTE or link.resolve().parent == REMOTE, link


def _relative_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [
        f"line {n.lineno}" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level
    ]


def test_a_module_linked_alone_imports_no_sibling():
    """module_utils/sweepops_X.py (one file, outside the package) cannot import a sibling
    relatively: Ansible would look for it beside the link, not in remote/."""
    alone = [p for p in (REPO / "module_utils").glob("sweepops_*.py") if p.is_symlink()]
    for link in alone:
        assert not _relative_imports(link.resolve()), link


def test_the_relative_import_check_can_fail(tmp_path: Path):
    (tmp_path / "m.py").write_text("from .slurm import cancel\n")
    assert _relative_imports(tmp_path / "m.py")


def test_library_imports_resolve_in_module_utils():
    """Every ``ansible.module_utils.sweepops_*`` a module imports is in module_utils/."""
    files = [*REPO.glob("library/*.py"), *REPO.glob("roles/*/library/*.py")]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "ansible.module_utils.sweepops_"
            ):
                parts = node.module.split(".")[2:]
                target = REPO / "module_utils" / Path(*parts)
                assert target.with_suffix(".py").exists(), f"{path.name}: {node.module}"
