"""The offline backend: a sweep is a directory (sweepops.runtime.offline_sweep), its runs
decided by the offline agents themselves; nothing is created anywhere else."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sweepops.backends.base import CreateRequest, RemoteSweep, SweepBackend


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
