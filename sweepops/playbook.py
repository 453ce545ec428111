"""Running the repository's playbooks through ansible-runner (the CLI's only way into Ansible)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from .errors import SweepopsError


def run_playbook(
    root: Path,
    playbook: str,
    extravars: dict[str, Any],
    *,
    check: bool = False,
    diff: bool = False,
    limit: str | None = None,
    inventory: list[str] | None = None,
    verbosity: int = 0,
) -> int:
    """Run ``ROOT/PLAYBOOK`` with ansible-runner, streaming Ansible's output. Returns rc."""
    import ansible_runner

    cmdline = []
    if check:
        cmdline.append("--check")
    if diff:
        cmdline.append("--diff")
    env = dict(os.environ)
    # ansible-playbook must be the one installed next to this Python (a venv need not be on PATH).
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.setdefault("ANSIBLE_CONFIG", str(root / "ansible.cfg"))
    # One private dir per invocation: concurrent deploys must not share extravars files.
    private = root / ".sweepops" / "runner" / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    private.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {
        "private_data_dir": str(private),
        "project_dir": str(root),
        "playbook": str(root / playbook),
        "extravars": extravars,
        "envvars": {
            "ANSIBLE_CONFIG": env["ANSIBLE_CONFIG"],
            "PATH": env["PATH"],
            # ansible-runner forces colour; keep it only for a terminal.
            "ANSIBLE_FORCE_COLOR": "1" if sys.stdout.isatty() else "0",
            "ANSIBLE_NOCOLOR": "0" if sys.stdout.isatty() else "1",
        },
        "cmdline": " ".join(cmdline) or None,
        "limit": limit,
        "verbosity": verbosity,
        "quiet": False,
    }
    # The repository's inventory (the local default, group_vars) plus any others given with
    # -i or $SWEEPOPS_INVENTORY (colon-separated), e.g. a file of your own clusters.
    extra = list(inventory or []) + [
        p for p in os.environ.get("SWEEPOPS_INVENTORY", "").split(os.pathsep) if p
    ]
    kwargs["inventory"] = [str(root / "inventory"), *(str(Path(p).resolve()) for p in extra)]
    result = ansible_runner.run(**kwargs)
    if result.rc is None:
        raise SweepopsError(f"ansible-runner did not run {playbook}: {result.status}")
    return int(result.rc)
