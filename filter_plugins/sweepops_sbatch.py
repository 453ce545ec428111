"""Filters over sweepops.remote.sbatch_options: the job resources' sbatch options, built in
Python once for the batch script and for the cluster check's ``sbatch --test-only``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sweepops.remote.sbatch_options import extra_options, resource_options, test_only_options


class FilterModule:
    def filters(self) -> dict[str, Callable[..., Any]]:
        return {
            # {partition: gpu, gres: '', ...} -> ['--partition=gpu']
            "sweepops_sbatch_options": resource_options,
            # ['#SBATCH --qos=high', '--account=ml'] -> ['--qos=high', '--account=ml']
            "sweepops_sbatch_directives": extra_options,
            # resources | sweepops_sbatch_test_only(extra_directives)
            "sweepops_sbatch_test_only": test_only_options,
        }
