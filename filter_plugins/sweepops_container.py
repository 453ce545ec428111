"""Filters over sweepops.artifacts.container: whether the container role copies the image."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sweepops.artifacts.container import needs_copy_stat


class FilterModule:
    def filters(self) -> dict[str, Callable[..., Any]]:
        # container_built.sha256 | sweepops_image_needs_copy(container_remote.stat)
        return {"sweepops_image_needs_copy": needs_copy_stat}
