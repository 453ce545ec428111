"""Every path sweepops keeps, spelled once: the workstation's ``ROOT/.sweepops/`` state and
``ROOT/journal/``, and a cluster's lab root (``LAB/code/KEY``, ``LAB/agent/KEY``,
``LAB/sweeps/ID``, ``LAB/deploys/ID``).

The ``remote/`` modules run alone on login hosts (standard library only, shipped as
``module_utils/`` links) and keep their own copies of the lab-root names; a unit test
(tests/unit/test_paths.py) checks that they agree with these.
"""

from __future__ import annotations

import os
from pathlib import Path

# ---------------------------------------------------------------------- the repository
#: sweepops' own state in a repository; never code, never part of a snapshot.
STATE_DIR = ".sweepops"
#: The experiment journal (Markdown, versioned with the code); never "dirty" either.
JOURNAL_DIR = "journal"
#: What sweepops itself writes into a repository: not code, never "dirty".
NOT_CODE = (STATE_DIR, JOURNAL_DIR)


def is_code(path: str) -> bool:
    """False for a repository-relative path under the journal or sweepops' own state."""
    return not any(str(path) == d or str(path).startswith(d + "/") for d in NOT_CODE)


def state_dir(root: Path) -> Path:
    return Path(root) / STATE_DIR


def ledger_file(root: Path) -> Path:
    return state_dir(root) / "ledger.jsonl"


def ledger_lock(root: Path) -> Path:
    return state_dir(root) / "ledger.lock"


def journal_lock(root: Path) -> Path:
    return state_dir(root) / "journal.lock"


def journal_dir(root: Path) -> Path:
    return Path(root) / JOURNAL_DIR


def local_lab_root(root: Path) -> Path:
    """The lab root of the local executor (its sweeps, ``LAB/sweeps/ID``)."""
    return state_dir(root) / "lab"


def deploy_state(root: Path, deploy_id: str) -> Path:
    """``ROOT/.sweepops/deploys/ID/``: what the workstation keeps of a deploy."""
    return state_dir(root) / "deploys" / deploy_id


def deploy_log(root: Path, deploy_id: str) -> Path:
    """The whole Ansible output of a deploy's runs (each run of the same id appends)."""
    return deploy_state(root, deploy_id) / "ansible.log"


def check_log(name: str) -> Path:
    """Where the log of a ``--check`` run goes: outside the repository's state, which check
    mode leaves as it was."""
    import tempfile

    return Path(tempfile.gettempdir()) / f"sweepops-check-{name}-{os.getpid()}.log"


def run_log(root: Path, command: str) -> Path:
    """The whole Ansible output of one run of another command (provision, gc, sync, ...)."""
    import time

    stamp = time.strftime("%Y%m%d-%H%M%S")
    return state_dir(root) / "logs" / f"{command}-{stamp}-{os.getpid()}.log"


def dirty_diff(root: Path, deploy_id: str) -> Path:
    """The stored diff of an ``allow_dirty`` deploy (its snapshot is commit + this diff)."""
    return deploy_state(root, deploy_id) / "dirty.diff"


def snapshots_dir(root: Path) -> Path:
    """Where reproduce rebuilds a snapshot gone from a cluster."""
    return state_dir(root) / "snapshots"


def cache_dir(root: Path) -> Path:
    """Copies of the clusters' run records (``cache/HOST/SWEEP/``) and wandb answers."""
    return state_dir(root) / "cache"


def wandb_cache(root: Path, sweep_id: str) -> Path:
    return cache_dir(root) / "wandb" / f"{sweep_id}.json"


def handoff_dir(root: Path) -> Path:
    """Runs pulled from clusters without internet, for ``wandb sync`` (``handoff/HOST/``)."""
    return state_dir(root) / "handoff"


def facts_dir(root: Path) -> Path:
    """Cluster facts recorded by ``sweepops provision`` (``facts/HOST.json``)."""
    return state_dir(root) / "facts"


def reports_dir(root: Path) -> Path:
    return state_dir(root) / "reports"


def runner_dir(root: Path) -> Path:
    """ansible-runner's private directories, one per run (removed afterwards)."""
    return state_dir(root) / "runner"


#: Overrides where agent runtimes are cached (default ROOT/.sweepops/runtimes).
RUNTIME_CACHE_ENV = "SWEEPOPS_RUNTIME_CACHE"


def runtime_cache(root: Path) -> Path:
    return Path(os.environ.get(RUNTIME_CACHE_ENV) or state_dir(root) / "runtimes")


# ---------------------------------------------------------------------- a lab root
#: The kinds of content-addressed snapshots under a lab root (``LAB/KIND/KEY``).
CODE, AGENT = "code", "agent"
SWEEPS, DEPLOYS = "sweeps", "deploys"


def lab_sweeps(lab_root: Path | str) -> Path:
    return Path(lab_root) / SWEEPS


def lab_sweep(lab_root: Path | str, sweep_id: str) -> Path:
    return lab_sweeps(lab_root) / sweep_id


def lab_code(lab_root: Path | str, key: str) -> str:
    return f"{lab_root}/{CODE}/{key}"


def lab_agent(lab_root: Path | str, key: str) -> str:
    return f"{lab_root}/{AGENT}/{key}"


def lab_deploy(lab_root: Path | str, deploy_id: str) -> str:
    """``LAB/deploys/ID``: a deploy's sbatch files, intents, submissions and logs."""
    return f"{lab_root}/{DEPLOYS}/{deploy_id}"
