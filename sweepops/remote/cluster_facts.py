"""What a cluster offers (library/sweepops_facts.py): partitions, GPU GRES, container runtime.

Runs on the login host (standard library only, shipped as module_utils).
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

from .container_runtime import BINARIES
from .module_spec import ModuleFailed, ModuleSpec, Params, Result


def parse_sinfo(text: str) -> list[dict[str, Any]]:
    """Lines of ``sinfo -h -o '%P %G'`` (one per partition and GRES set) -> partitions, each
    with ``name``, ``default`` (the one sinfo marks ``*``) and ``gres`` (distinct, in order)."""
    parts: dict[str, dict[str, Any]] = {}
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        name = words[0]
        default = name.endswith("*")
        name = name.rstrip("*")
        entry = parts.setdefault(name, {"name": name, "default": default, "gres": []})
        entry["default"] = entry["default"] or default
        for gres in (words[1] if len(words) > 1 else "(null)").split(","):
            gres = gres.strip()
            if gres and gres != "(null)" and gres not in entry["gres"]:
                entry["gres"].append(gres)
    return list(parts.values())


def has_gpus(partitions: list[dict[str, Any]]) -> bool:
    """Whether any partition has GPU GRES (``gpu``, ``gpu:2``, ``gpu:a100:4``)."""
    return any(g.split(":")[0] == "gpu" for p in partitions for g in p["gres"])


def find_runtimes(names: list[str]) -> list[dict[str, str]]:
    """Each of the runtimes ``names`` whose program (``ch-run`` for charliecloud) is on PATH,
    in that order, with its ``--version``'s first line."""
    found = []
    for name in names:
        path = shutil.which(BINARIES.get(name, name))
        if path:
            ver = subprocess.run([path, "--version"], capture_output=True, text=True)
            version = (ver.stdout or ver.stderr).strip().splitlines()
            found.append({"name": name, "path": path, "version": version[0] if version else ""})
    return found


def find_runtime(names: list[str]) -> dict[str, str] | None:
    """The first of :func:`find_runtimes`, or None."""
    found = find_runtimes(names)
    return found[0] if found else None


def facts(p: Params, check_mode: bool) -> Result:
    """The module: see SPEC."""
    if not shutil.which("sinfo"):
        raise ModuleFailed("sinfo is not on PATH here: is this a Slurm login host?")
    proc = subprocess.run(["sinfo", "-h", "-o", "%P %G"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise ModuleFailed(f"sinfo failed ({proc.returncode}): {proc.stderr.strip()}")
    partitions = parse_sinfo(proc.stdout)
    runtimes = find_runtimes(p["runtimes"])
    return {
        "changed": False,
        "partitions": partitions,
        "gpus": has_gpus(partitions),
        "container_runtime": runtimes[0] if runtimes else None,
        "container_runtimes": runtimes,
    }


SPEC = ModuleSpec(
    name="sweepops_facts",
    short_description="Partitions, GPU GRES and the container runtime of a Slurm cluster",
    description=(
        (
            "Runs C(sinfo -h -o '%P %G') and looks for C(apptainer), C(singularity) and "
            "charliecloud's C(ch-run) on C(PATH)."
        ),
        "Reads only; never reports a change.",
    ),
    options={
        "runtimes": {
            "description": "Container runtimes to look for, first found wins.",
            "type": "list",
            "elements": "str",
            "default": ["apptainer", "singularity", "charliecloud"],
        },
    },
    returns={
        "partitions": {
            "description": (
                "One entry per partition, with C(name), C(default) and C(gres) (list, e.g. gpu:2)."
            ),
            "returned": "always",
            "type": "list",
            "elements": "dict",
        },
        "gpus": {
            "description": "Whether any partition has GPU GRES.",
            "returned": "always",
            "type": "bool",
        },
        "container_runtime": {
            "description": "C(name), C(path) and C(version) of the first runtime found, or null.",
            "returned": "always",
            "type": "dict",
        },
        "container_runtimes": {
            "description": "Every runtime found (C(name), C(path), C(version)), in order.",
            "returned": "always",
            "type": "list",
            "elements": "dict",
        },
    },
)
