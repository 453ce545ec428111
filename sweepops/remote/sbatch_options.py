"""The sbatch options of a cluster's job resources, built in one place (standard library only).

The batch script's ``#SBATCH`` lines (templates/agent.sbatch.j2) and the cluster check's
``sbatch --test-only`` (roles/cluster_check) both take them from here, through the filters of
filter_plugins/sweepops_sbatch.py, so the job Slurm is asked about is the job submitted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

#: The inventory's resource settings, in the order their options are given, and the option
#: each becomes (an empty or unset setting gives none: Slurm's default).
OPTIONS = {
    "partition": "--partition",
    "gres": "--gres",
    "cpus_per_task": "--cpus-per-task",
    "mem": "--mem",
    "time": "--time",
    "exclude": "--exclude",
    "mail_type": "--mail-type",
    "mail_user": "--mail-user",
}
_SBATCH_PREFIX = re.compile(r"^#SBATCH\s+")


def _text(value: Any) -> str:
    """A setting as Jinja's ``~`` writes it (``True`` stays ``True``, 8 becomes ``8``)."""
    return value if isinstance(value, str) else str(value)


def resource_options(settings: Mapping[str, Any]) -> list[str]:
    """``--NAME=VALUE`` for each setting of :data:`OPTIONS` that is set, in that order; a
    setting of another name is refused (it would be silently left out of the job)."""
    unknown = sorted(set(settings) - set(OPTIONS))
    if unknown:
        raise ValueError(f"not an sbatch resource setting: {', '.join(unknown)}")
    return [f"{opt}={_text(settings[name])}" for name, opt in OPTIONS.items() if settings.get(name)]


def extra_options(directives: Sequence[str] | None) -> list[str]:
    """The inventory's ``extra_directives``, each without a leading ``#SBATCH``."""
    return [_SBATCH_PREFIX.sub("", str(d)) for d in directives or []]


def test_only_options(settings: Mapping[str, Any], directives: Sequence[str] | None) -> list[str]:
    """What ``sbatch --test-only`` is given: the resources, then the extra directives."""
    return resource_options(settings) + extra_options(directives)
