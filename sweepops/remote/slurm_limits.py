"""The jobs' resources against what the partition allows and its nodes have.

``sbatch --test-only`` accepts a ``--time`` above the partition's MaxTime (unless
``EnforcePartLimits``): such jobs then pend for ever (PartitionTimeLimit). The cluster probe
therefore reads ``sinfo -h -o '%P|%l|%c|%m|%G'`` and :func:`resource_problems` names each
requested value that is too big, with the limit.

Standard library only: shipped to the login node as Ansible module_utils
(``module_utils/sweepops_remote`` links to this package).
"""

from __future__ import annotations

import re
from typing import Any

#: The sinfo format the probe asks for: partition, time limit, CPUs, memory (MB), GRES.
SINFO_FORMAT = "%P|%l|%c|%m|%G"

_MEM_UNITS = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}


def parse_time(text: str) -> int | None:
    """A Slurm time (``MM``, ``MM:SS``, ``HH:MM:SS``, ``D-HH``, ``D-HH:MM``, ``D-HH:MM:SS``)
    in seconds; None for ``UNLIMITED`` / ``infinite`` / empty. Raises ValueError if malformed."""
    text = str(text).strip()
    if not text or text.lower() in ("unlimited", "infinite", "n/a"):
        return None
    days = 0
    if "-" in text:
        d, _, text = text.partition("-")
        days = int(d)
        parts = [int(p) for p in text.split(":")]
        parts += [0] * (3 - len(parts))  # D-HH, D-HH:MM
        hours, minutes, seconds = parts[:3]
    else:
        parts = [int(p) for p in text.split(":")]
        if len(parts) == 1:
            hours, minutes, seconds = 0, parts[0], 0
        elif len(parts) == 2:
            hours, minutes, seconds = 0, parts[0], parts[1]
        elif len(parts) == 3:
            hours, minutes, seconds = parts
        else:
            raise ValueError(f"not a Slurm time: {text!r}")
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def parse_mem_mb(text: str) -> float | None:
    """A Slurm memory size (``4000`` = MB, ``500M``, ``32G``, ``1T``) in MB; None if empty."""
    text = str(text).strip().upper().rstrip("+")
    if not text:
        return None
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]?)B?", text)
    if not m:
        raise ValueError(f"not a Slurm memory size: {text!r}")
    return float(m.group(1)) * _MEM_UNITS[m.group(2) or "M"]


def gres_counts(text: str) -> dict[str, int]:
    """``gpu:2``, ``gpu:a100:4(S:0-1)``, ``gpu:1,mps:100`` -> {``gpu``: 4, ``gpu:a100``: 4,
    ...}; ``(null)`` -> {}."""
    out: dict[str, int] = {}
    for part in re.split(r",(?![^(]*\))", str(text).strip()):
        part = re.sub(r"\(.*?\)", "", part).strip()
        if not part or part == "(null)":
            continue
        fields = part.split(":")
        if fields[-1].isdigit():
            count, names = int(fields[-1]), fields[:-1]
        else:
            count, names = 1, fields
        if not names:
            continue
        for key in {names[0], ":".join(names)}:
            out[key] = out.get(key, 0) + count
    return out


def partition_limits(sinfo: str) -> dict[str, dict[str, Any]]:
    """Per partition (``default`` marks the one with ``*``): the time limit (s, None when
    unlimited) and the most CPUs, memory (MB) and GRES any of its nodes has."""
    out: dict[str, dict[str, Any]] = {}
    for line in sinfo.splitlines():
        fields = (line.split("|") + [""] * 5)[:5]
        name, time_limit, cpus, mem, gres = (f.strip() for f in fields)
        if not name:
            continue
        default = name.endswith("*")
        name = name.rstrip("*")
        part = out.setdefault(
            name, {"default": default, "time": None, "time_text": "", "cpus": 0, "mem_mb": 0.0,
                   "gres": {}}
        )
        try:
            limit = parse_time(time_limit)
        except ValueError:
            limit = None
        if limit is not None and (part["time"] is None or limit > part["time"]):
            part["time"], part["time_text"] = limit, time_limit
        part["cpus"] = max(part["cpus"], int(cpus.rstrip("+")) if cpus.rstrip("+").isdigit() else 0)
        try:
            part["mem_mb"] = max(part["mem_mb"], parse_mem_mb(mem) or 0.0)
        except ValueError:
            pass
        for key, n in gres_counts(gres).items():
            part["gres"][key] = max(part["gres"].get(key, 0), n)
    return out


def _mb_text(mb: float) -> str:
    return f"{mb:.0f}M"  # as sinfo shows it


def resource_problems(request: dict[str, Any], limits: dict[str, dict[str, Any]]) -> list[str]:
    """One line per requested value (``time``, ``mem``, ``cpus_per_task``, ``gres``) above
    what the partition (``partition``, else the default one) allows or any of its nodes has,
    naming the value, the limit and the setting to change. [] when all fit or the partition
    is unknown (the probe's partition check says that)."""
    name = str(request.get("partition") or "")
    if not name:
        name = next((n for n, p in limits.items() if p["default"]), "")
    part = limits.get(name)
    if part is None:
        return []
    problems = []
    where = f"partition {name}"
    try:
        wanted = parse_time(request.get("time") or "")
    except ValueError:
        problems.append(f"time {request.get('time')!r} is not a Slurm time (e.g. 08:00:00)")
        wanted = None
    if wanted is not None and part["time"] is not None and wanted > part["time"]:
        problems.append(
            f"time {request['time']} is above the MaxTime of {where} ({part['time_text']}): "
            "the jobs would pend for ever (PartitionTimeLimit); lower `time` or pick another "
            "partition"
        )
    try:
        mem = parse_mem_mb(request.get("mem") or "")
    except ValueError:
        problems.append(f"mem {request.get('mem')!r} is not a Slurm memory size (e.g. 32G)")
        mem = None
    if mem is not None and part["mem_mb"] and mem > part["mem_mb"]:
        problems.append(
            f"mem {request['mem']} is more than any node of {where} has "
            f"({_mb_text(part['mem_mb'])}); lower `mem`"
        )
    cpus = str(request.get("cpus_per_task") or "").strip()
    if cpus.isdigit() and part["cpus"] and int(cpus) > part["cpus"]:
        problems.append(
            f"cpus_per_task {cpus} is more than any node of {where} has ({part['cpus']}); "
            "lower `cpus_per_task`"
        )
    asked = gres_counts(str(request.get("gres") or ""))
    for key in sorted(asked, key=len, reverse=True):  # the most specific (gpu:a100) first
        have = part["gres"].get(key, 0)
        if asked[key] <= have:
            continue
        kinds = ", ".join(f"{k}:{v}" for k, v in sorted(part["gres"].items())) or "none"
        problems.append(
            f"gres {request['gres']} asks for {asked[key]} {key} per job; the nodes of {where} "
            f"have at most {have} (their GRES: {kinds}); fix `gres`"
        )
        break
    return problems
