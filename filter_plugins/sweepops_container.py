"""Filters over sweepops.artifacts.container and sweepops.remote.container_runtime: whether
the container role copies the image, and the command line that enters a container."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sweepops.artifacts.container import needs_copy_stat
from sweepops.remote.container_runtime import (
    binary,
    exec_argv,
    image_stem,
    in_env_argv,
    missing_message,
    pick,
    run_path,
)


def container_exec(
    runtime: str, program: str, image: str, binds: list[str], nv: bool = False
) -> list[str]:
    """runtime | sweepops_container_exec(program, image, binds, nv): the argv prefix."""
    return exec_argv(runtime, program, image, [str(b) for b in binds or []], bool(nv))


class FilterModule:
    def filters(self) -> dict[str, Callable[..., Any]]:
        return {
            # container_built.sha256 | sweepops_image_needs_copy(container_remote.stat)
            "sweepops_image_needs_copy": needs_copy_stat,
            # 'charliecloud' | sweepops_container_program -> ch-run
            "sweepops_container_program": binary,
            # runtime | sweepops_container_run_path(image): what the runtime runs
            "sweepops_container_run_path": run_path,
            "sweepops_container_exec": container_exec,
            # cluster_facts_result | sweepops_container_pick(wanted): the jobs' runtime or None
            "sweepops_container_pick": pick,
            # inventory_hostname | sweepops_container_missing(wanted, image): the failure's text
            "sweepops_container_missing": missing_message,
            # container_image | sweepops_image_stem: train for LAB/containers/train.tar.gz
            "sweepops_image_stem": image_stem,
            # runtime | sweepops_container_in_env(program, image, env_prefix, command)
            "sweepops_container_in_env": in_env_argv,
        }
