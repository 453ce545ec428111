"""Where experiment files are: names and paths resolved to files (cheap to import: the CLI
resolves a name before it starts Ansible, without loading the validation machinery)."""

from __future__ import annotations

from pathlib import Path

from sweepops.core.errors import SweepopsError

EXPERIMENTS_DIR = "experiments"
SUFFIXES = (".yml", ".yaml")


def resolve_experiment(ref: str, root: Path) -> Path:
    """Find the experiment file ``ref`` refers to.

    ``"base"`` or ``"base.yml"`` → ``root/experiments/base.yml`` when it exists; otherwise
    an existing file path (absolute, relative to the cwd, or relative to ``root``).
    Raises :class:`SweepopsError` naming ``ref`` and listing the available experiments.
    """
    for candidate in _candidates(ref, root):
        if candidate.is_file():
            return candidate.absolute()
    available = list_experiments(root)
    listing = ", ".join(available) if available else f"none in {root / EXPERIMENTS_DIR}"
    raise SweepopsError(
        f"unknown experiment {ref!r}; available experiments: {listing}",
        hint=f"give an experiment name from {root / EXPERIMENTS_DIR} or a path to a YAML file",
    )


def _candidates(ref: str, root: Path) -> list[Path]:
    exp_dir = root / EXPERIMENTS_DIR
    names = [ref] if ref.endswith(SUFFIXES) else [ref + suffix for suffix in SUFFIXES]
    candidates = [exp_dir / name for name in names]
    candidates += [Path(ref).expanduser(), root / ref]
    return candidates


def list_experiments(root: Path) -> list[str]:
    """Names (file stems) of the experiments in ``root/experiments``, sorted."""
    exp_dir = root / EXPERIMENTS_DIR
    if not exp_dir.is_dir():
        return []
    return sorted({p.stem for p in exp_dir.iterdir() if p.suffix in SUFFIXES and p.is_file()})
