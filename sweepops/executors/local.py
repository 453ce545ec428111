"""The local executor: N detached agents on this machine.

Agents are started in their own session (they survive the terminal closing), with stdin from
/dev/null and their output in ``SWEEP_DIR/agents/local-K.log``; ``SWEEP_DIR/agents/local-K.json``
records the pid, so status/cancel/wait can find them. Starting is idempotent: agents already
recorded for the sweep are not started twice.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sweepops.runtime.offline_sweep import OfflineSweep


def agent_records(sweep: OfflineSweep) -> list[dict[str, Any]]:
    records = []
    for p in sorted((sweep.path / "agents").glob("local-*.json")):
        records.append(json.loads(p.read_text()))
    return records


def start_agents(
    sweep: OfflineSweep,
    count: int,
    *,
    code_dir: Path,
    agent_args: list[str] | None = None,
    python: str = sys.executable,
    wandb_path: str | None = None,
) -> tuple[list[dict[str, Any]], bool]:
    """Start ``count`` agents for ``sweep`` unless already started. Returns (records, changed).

    With ``wandb_path`` (ENTITY/PROJECT/ID of a wandb sweep) the agents are the real
    ``wandb agent``, with the sweep's run metadata (tags, group, commit) in their environment;
    otherwise they are sweepops' offline agents on the sweep directory.
    """
    existing = agent_records(sweep)
    if existing:
        return existing, False
    env = dict(os.environ)
    # The runs use `python` from PATH, as wandb agent does: put this interpreter's
    # environment first, as if it were activated.
    env["PATH"] = os.path.dirname(python) + os.pathsep + env.get("PATH", "")
    if wandb_path:
        from sweepops.backends.wandb import KEY_FILE_ENV, base_url, find_api_key

        for key, value in (sweep.meta.get("run_env") or {}).items():
            env.setdefault(key, str(value))
        # The key reaches this process through a temporary file (kept out of Ansible's
        # recorded environment); the agents outlive it, so they get the key itself.
        api_key = find_api_key(base_url(sweep.meta.get("base_url")))
        env.pop(KEY_FILE_ENV, None)
        if api_key:
            env["WANDB_API_KEY"] = api_key
        if sweep.meta.get("base_url"):
            env["WANDB_BASE_URL"] = str(sweep.meta["base_url"])
    records = []
    # The runs start in the sweep's workdir (sweepops.experiment.program); wandb agent starts
    # them in
    # its own working directory, the offline agent in --code-dir's workdir.
    workdir = Path(code_dir) / str(sweep.meta.get("workdir") or "")
    for k in range(1, count + 1):
        log = sweep.path / "agents" / f"local-{k}.log"
        if wandb_path:
            argv = [python, "-m", "wandb", "agent", wandb_path]
        else:
            argv = [python, "-m", "sweepops", "agent", str(sweep.path), "--code-dir", str(code_dir)]
            argv += ["--report", str(sweep.path / "agents" / f"local-{k}.exit")]
            argv += agent_args or []
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                argv,
                cwd=workdir if wandb_path else code_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        record = {"pid": proc.pid, "log": str(log), "argv": argv, "started": time.time(), "k": k}
        (sweep.path / "agents" / f"local-{k}.json").write_text(json.dumps(record, indent=1))
        records.append(record)
    return records, True


def pid_alive(pid: int) -> bool:
    """True if ``pid`` runs and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def running_agents(sweep: OfflineSweep) -> list[dict[str, Any]]:
    """The local agents of the sweep that are still alive (and really are our agent)."""
    alive = []
    for rec in agent_records(sweep):
        pid = int(rec["pid"])
        if not pid_alive(pid):
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if [os.fsencode(a) for a in rec["argv"]] == cmdline[: len(rec["argv"])]:
            alive.append(rec)  # the pid is still our agent, not a recycled one
    return alive
