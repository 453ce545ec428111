"""The offline backend: a sweep is a directory (sweepops.runtime.offline_sweep), its runs
decided by the offline agents themselves; nothing is created anywhere else."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sweepops.backends.base import CreateRequest, RemoteSweep, SweepBackend
from sweepops.runtime.offline_sweep import OfflineSweep


class OfflineBackend(SweepBackend):
    name = "offline"

    def create(
        self, exp: Any, configs: list[dict[str, Any]], request: CreateRequest
    ) -> list[RemoteSweep | None]:
        return [None] * len(configs)  # the sweep ids are minted with each sweep.json

    def record_fields(self, exp: Any) -> dict[str, Any]:
        return {}

    def sweep_fields(
        self, env: dict[str, str], remote: RemoteSweep | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        return {}, {}

    def watch_url(self, entry: Mapping[str, Any]) -> str | None:
        return None

    def agent_env(self, sweep: OfflineSweep, env: dict[str, str]) -> None:
        return None  # the offline agent reads the sweep's run_env itself

    def agent_argv(
        self,
        sweep: OfflineSweep,
        k: int,
        *,
        python: str,
        code_dir: Path,
        agent_args: list[str],
        target: str | None,
    ) -> tuple[list[str], Path]:
        """sweepops' offline agent on the sweep directory, in ``code_dir`` (the runs start in
        the sweep's workdir under it, sweepops.experiment.program)."""
        argv = [python, "-m", "sweepops", "agent", str(sweep.path), "--code-dir", str(code_dir)]
        argv += ["--report", str(sweep.path / "agents" / f"local-{k}.exit")]
        return argv + agent_args, code_dir
