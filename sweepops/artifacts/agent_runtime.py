"""The agent's runtime: everything the offline agent needs on a cluster, built here.

A job's research program runs in the user's env; the agent that runs it needs wandb's sweep
engine (``sweeps``, with numpy, scipy, scikit-learn, pydantic) and pyyaml, which no
research env should have to hold. So the workstation builds, for the interpreter the job
will use (the cluster probe reports it: version, implementation, platform), a directory

    RUNTIME/__main__.py        checks the interpreter, then runs ``sweepops agent``
    RUNTIME/runtime.json       what it is: key, target, requirements, modules
    RUNTIME/sweepops/...       only the modules the agent imports (:func:`agent_modules`)
    RUNTIME/sweeps/, numpy/... the pinned requirements, as wheels for the target

and a job runs ``python -s RUNTIME agent ...``: the runtime is first on the agent's
``sys.path`` and on nobody else's (no PYTHONPATH, so the program the agent starts gets the
user's environment unchanged). Wheels are fetched here with ``pip install --target
--platform --python-version --only-binary=:all:``, so a cluster Python that differs from the
workstation's works and nothing is downloaded on the cluster.

The runtime is content-addressed: :func:`runtime_base` hashes the modules and the
requirements, :func:`sweepops.remote.interpreter.runtime_key` adds the target. Built once per key
into ``.sweepops/runtimes/KEY/`` (under a temporary name, renamed into place), synced once
per key and cluster to ``LAB/agent/KEY/`` by the code_sync role, removed there by ``gc``
when no live job names it.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

import sweepops
from sweepops.core import paths
from sweepops.core.errors import SweepopsError
from sweepops.remote.interpreter import pip_platforms, runtime_key

#: The agent's entry point; the runtime holds it and what it imports, nothing else.
ENTRY = "sweepops.runtime.agent_cli"
#: Imported by the runtime's ``__main__`` before the agent (the interpreter check).
EXTRA_MODULES = ("sweepops.remote.interpreter",)
#: What the agent imports from outside the standard library, pinned (the versions sweepops
#: is tested with), with their own dependencies. Part of the runtime's key.
REQUIREMENTS = (
    "sweeps==0.3.0",
    "PyYAML==6.0.4",
    "numpy==1.26.4",
    "scipy==1.17.1",
    "scikit-learn==1.9.1",
    "joblib==1.6.0",
    "threadpoolctl==3.8.0",
    "pydantic==2.14.4",
    "pydantic-core==2.50.5",
    "annotated-types==0.8.0",
    "typing-extensions==4.16.0",
    "typing-inspection==0.4.5",
    "jsonschema==4.26.0",
    "jsonschema-specifications==2025.9.1",
    "referencing==0.37.0",
    "rpds-py==2026.9.1",
    "attrs==26.1.0",
    "jsonref==1.1.0",
    "narwhals==2.29.0",
    "cloudpickle==3.1.3",
)
#: Left out of the runtime: what a job never reads (the packages' own test suites are a
#: seventh of the bytes and two fifths of the files, and clusters count inodes).
_PRUNE = ("__pycache__", "tests", "*.dist-info/RECORD")

MAIN = '''\
"""sweepops agent runtime {key} (built for {target}): python -s THIS_DIR agent SWEEP_DIR ..."""
import json, os, platform, sys

_here = os.path.dirname(os.path.abspath(__file__))
if sys.path[0] != _here:
    sys.path.insert(0, _here)
from sweepops.remote.interpreter import compatible, describe_here, target_of, target_problem

with open(os.path.join(_here, "runtime.json")) as _fh:
    _built_for = json.load(_fh)["target"]
try:
    _found = target_of(describe_here())
except ValueError as _exc:
    _found = str(_exc)
if not compatible(_built_for, _found):
    _cluster = os.environ.get("SWEEPOPS_CLUSTER") or "this cluster"
    print("[sweepops] " + target_problem(_cluster, _built_for, _found, platform.node()),
          file=sys.stderr, flush=True)
    sys.exit(2)
from sweepops.runtime.agent_cli import main

sys.exit(main(sys.argv[1:]))
'''


#: Overrides where runtimes are cached on the workstation (default REPO/.sweepops/runtimes):
#: they depend on sweepops and the target only, so several repositories may share one.
CACHE_ENV = paths.RUNTIME_CACHE_ENV


def cache_dir(root: Path) -> Path:
    """Where the workstation keeps built runtimes, by key."""
    return paths.runtime_cache(root)


def _package_dir() -> Path:
    return Path(sweepops.__file__).resolve().parent


def _imports(source: str, module: str) -> set[str]:
    """The ``sweepops.*`` modules ``module``'s source imports (anywhere in it)."""
    found: set[str] = set()
    package = module.rpartition(".")[0] if not module.endswith("__init__") else module
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "sweepops"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "sweepops":
                continue
            found.add(target)
            # `from . import x` / `from .pkg import x`: x may be a module
            found |= {f"{target}.{a.name}" for a in node.names}
    return found


def agent_modules(package_dir: Path | None = None, entry: str = ENTRY) -> list[str]:
    """The files (``sweepops/runtime/agent.py`` ...) of ``entry`` and every ``sweepops`` module it
    imports, transitively, plus the package's ``__init__``: what a job runs, and all of it
    (the closure of the imports, read from the source; a unit test runs the agent with it)."""
    pkg = Path(package_dir) if package_dir else _package_dir()
    root = pkg.parent
    seen: set[str] = set()
    todo = [entry, *EXTRA_MODULES, "sweepops"]
    while todo:
        name = todo.pop()
        path = root / Path(*name.split("."))
        file = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        rel = file.relative_to(root).as_posix()
        if rel in seen or not file.is_file():
            continue
        seen.add(rel)
        mod = name if file.name != "__init__.py" else f"{name}.__init__"
        todo += sorted(_imports(file.read_text(encoding="utf-8"), mod) - {name})
        # the packages above it: their __init__ runs first on import
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]
    return sorted(seen)


def runtime_base(
    package_dir: Path | None = None, requirements: Iterable[str] = REQUIREMENTS
) -> str:
    """Hash of the agent's modules (names and contents) and the pinned requirements: with the
    target, the runtime's key. An edit of a module the agent does not import changes nothing."""
    pkg = Path(package_dir) if package_dir else _package_dir()
    digest = hashlib.sha256(b"sweepops-runtime-1\0")
    for rel in agent_modules(pkg):
        data = (pkg.parent / rel).read_bytes()
        digest.update(os.fsencode(rel) + b"\0" + str(len(data)).encode() + b"\0" + data)
    for req in sorted(requirements):
        digest.update(b"req\0" + req.encode() + b"\0")
    return digest.hexdigest()[:16]


def pip_command(target: str, dest: Path, requirements: Iterable[str]) -> list[str]:
    """``pip install`` of ``requirements`` into ``dest``, as wheels for ``target``."""
    abi = target.split("-", 1)[0]  # cp311
    version = f"{abi[2]}.{abi[3:]}"
    argv = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-input",
        "--target",
        str(dest),
        "--no-compile",
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        version,
    ]
    for plat in pip_platforms(target):
        argv += ["--platform", plat]
    return [*argv, *requirements]


def _prune(root: Path) -> None:
    for pattern in _PRUNE:
        for path in sorted(root.rglob(pattern), reverse=True):
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
    # `pip --target` puts console scripts (f2py, jsonschema, ...) in bin/: a job runs none.
    shutil.rmtree(root / "bin", ignore_errors=True)


def runtime_files(runtime: Path) -> list[str]:
    """The runtime's files and links relative to it, sorted (for rsync --files-from)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(runtime):
        dirnames.sort()
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            out.append(Path(dirpath, name).relative_to(runtime).as_posix())
    return sorted(out)


def build(
    target: str,
    cache: Path,
    *,
    base: str | None = None,
    package_dir: Path | None = None,
    requirements: tuple[str, ...] = REQUIREMENTS,
) -> tuple[Path, bool]:
    """The runtime for ``target`` in ``cache/KEY`` (built if missing); and whether it was built.

    Built under a temporary name and renamed into place: a build that fails or is interrupted
    leaves nothing a later deploy could take for a runtime."""
    pkg = Path(package_dir) if package_dir else _package_dir()
    base = base or runtime_base(pkg, requirements)
    key = runtime_key(base, target)
    final = Path(cache) / key
    if (final / "runtime.json").is_file():
        return final, False
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=final.parent))
    try:
        try:
            argv = pip_command(target, tmp, requirements)
        except ValueError as exc:
            raise SweepopsError(f"cannot build the agent's runtime for {target}: {exc}") from exc
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-6:])
            raise SweepopsError(
                f"cannot build the agent's runtime for {target} (pip install --target with "
                f"wheels for that Python failed):\n{tail}",
                hint="pip must reach a package index from the workstation; for a Python "
                "without wheels of these versions, point env_prefix at an env with CPython "
                "3.11 or newer",
            )
        _prune(tmp)
        modules = agent_modules(pkg)
        for rel in modules:
            dest = tmp / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(pkg.parent / rel, dest)
        (tmp / "__main__.py").write_text(MAIN.format(key=key, target=target))
        meta = {
            "key": key,
            "base": base,
            "target": target,
            "requirements": list(requirements),
            "modules": modules,
            "sweepops": sweepops.__version__,
        }
        (tmp / "runtime.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
        for path in [tmp, *tmp.rglob("*")]:
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
            elif path.is_file() and not path.is_symlink():
                path.chmod(0o755 if os.access(path, os.X_OK) else 0o644)
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / "runtime.json").is_file():
                raise
            shutil.rmtree(tmp)  # built by another deploy meanwhile: keep theirs
            return final, False
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final, True
