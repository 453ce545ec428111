"""What every sub-command shares: where the repository is, and ``-e KEY=VALUE``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sweepops.core.errors import SweepopsError


def find_root(start: Path | None = None) -> Path:
    """The sweepops repository: $SWEEPOPS_ROOT, or the nearest parent with ansible.cfg and
    experiments/, or the current directory."""
    if os.environ.get("SWEEPOPS_ROOT"):
        return Path(os.environ["SWEEPOPS_ROOT"]).resolve()
    here = (start or Path.cwd()).resolve()
    for cand in (here, *here.parents):
        if (cand / "ansible.cfg").is_file() and (cand / "experiments").is_dir():
            return cand
    return here


def parse_extra_vars(pairs: list[str]) -> dict[str, Any]:
    """``-e KEY=VALUE`` pairs as a dict, each value read as YAML."""
    import yaml

    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise SweepopsError(
                f"-e {pair!r}: expected KEY=VALUE", hint="e.g. -e agents_per_sweep=4"
            )
        key, value = pair.split("=", 1)
        out[key] = yaml.safe_load(value)
    return out
