"""What a deploy does where, decided before anything runs (the deploy playbook's first step).

From the ``clusters=`` string, the inventory's groups and each target host's settings, the
plan names the target hosts (in Ansible's order for the pattern), refuses an empty or unknown
``clusters=`` with the words the playbook always used, and gives per host what later plays
read (``hostvars.localhost.sweepops_plan.hosts[inventory_hostname]``): its scheduler, its
share ``I/K`` of every sweep, what the drift check fingerprints, the time limit against the
preemption warning, whether its compute nodes reach the internet.

After the cluster checks, :func:`gate` stops the deploy unless every target host passed them
(an unreachable host drops out of a play silently) and collects what the probes found missing
for ``wandb agent``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sweepops.core.errors import SweepopsError

#: Where a deploy runs when ``clusters=`` is not given.
DEFAULT_CLUSTERS = "local"
#: Ansible's implicit groups, which name no cluster.
IMPLICIT_GROUPS = ("all", "ungrouped")
#: The sbatch role's default preemption warning (roles/sbatch/defaults: preempt_signal_seconds).
DEFAULT_PREEMPT_SIGNAL_SECONDS = 120
#: The inventory settings of the first target host the sweeps step takes (the -e values and
#: then the experiment's own win over them).
SWEEP_SETTINGS = {
    "confirm_runs_above": "confirm_runs_above",
    "sweep_backend": "backend",
    "wandb_entity": "entity",
    "wandb_project": "project",
    "wandb_base_url": "base_url",
}
#: Every inventory setting a plan reads of a target host.
HOST_SETTINGS = (
    "scheduler",
    "lab_root",
    "compute_internet",
    "time",
    "preempt_signal_seconds",
    "env_prefix",
    "env_drift_check",
    "conda_env_conda_root",
    *SWEEP_SETTINGS,
)


class PlanError(SweepopsError):
    """``clusters=`` names nothing, or something the inventory does not know."""


@dataclass(frozen=True)
class HostPlan:
    """What the deploy does on one target host."""

    scheduler: str
    #: this host's share ``I/K`` of every sweep when the deploy spans K > 1 hosts, else ''
    shard: str
    lab_root: str
    #: the env copy the drift check fingerprints ('' : no drift check)
    env_path: str
    compute_internet: Any
    #: a Slurm host's ``time`` and ``preempt_signal_seconds`` (None for a local one)
    job_limits: dict[str, Any] | None = field(default=None)

    @property
    def slurm(self) -> bool:
        return self.scheduler == "slurm"


def targets(clusters: str | None) -> list[str]:
    """The names in ``clusters=`` (comma separated, blanks dropped); ``local`` when not given."""
    text = DEFAULT_CLUSTERS if clusters is None else str(clusters)
    return [name.strip() for name in text.split(",") if name.strip()]


def cluster_groups(groups: Mapping[str, Sequence[str]]) -> list[str]:
    return [g for g in groups if g not in IMPLICIT_GROUPS]


def hosts_of(clusters: str | None, groups: Mapping[str, Sequence[str]]) -> list[str]:
    """The hosts ``clusters=`` names, in the order Ansible's pattern gives them (each group's
    hosts, a host name as itself, each host once); raises :class:`PlanError` as the playbook's
    checks always said."""
    names = targets(clusters)
    known_groups = cluster_groups(groups)
    if not names:
        raise PlanError(
            "-e clusters= names no cluster; give one or more inventory groups "
            "(-e clusters=atlas or -e clusters=atlas,babel), or leave it out to run here. "
            f"The inventory knows: {', '.join(known_groups)}"
        )
    all_hosts = list(groups.get("all") or [])
    unknown = [n for n in names if n not in known_groups and n not in all_hosts]
    if unknown:
        raise PlanError(
            f"unknown cluster(s): {', '.join(unknown)}; the inventory knows: "
            f"{', '.join(known_groups)}. To add a cluster, add its login host as a group in "
            "inventory/hosts.yml and its settings in inventory/group_vars/<cluster>.yml "
            "(see the README)."
        )
    hosts: list[str] = []
    for name in names:
        for host in groups[name] if name in known_groups else [name]:
            if host not in hosts:
                hosts.append(host)
    return hosts


def _truthy(value: Any) -> bool:
    """Ansible's ``| bool`` of an inventory value."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on", "y", "t")
    return bool(value)


def host_plan(settings: Mapping[str, Any], shard: str) -> HostPlan:
    """One target host's plan from its inventory settings (missing ones at their defaults)."""
    scheduler = str(settings.get("scheduler") or "slurm")
    env_prefix = str(settings.get("env_prefix") or "")
    drift = settings.get("env_drift_check")
    env_checked = bool(env_prefix) and _truthy(True if drift is None else drift)
    env_path = (
        (str(settings.get("conda_env_conda_root") or "") or env_prefix) if env_checked else ""
    )
    limits = None
    if scheduler == "slurm":
        signal = settings.get("preempt_signal_seconds")
        limits = {
            "time": settings.get("time") or "",
            "preempt_signal_seconds": DEFAULT_PREEMPT_SIGNAL_SECONDS if signal is None else signal,
        }
    internet = settings.get("compute_internet")
    return HostPlan(
        scheduler=scheduler,
        shard=shard,
        lab_root=str(settings.get("lab_root") or ""),
        env_path=env_path,
        compute_internet="auto" if internet is None else internet,
        job_limits=limits,
    )


def plan(
    clusters: str | None,
    groups: Mapping[str, Sequence[str]],
    settings: Mapping[str, Mapping[str, Any]],
    exp: str | None = None,
) -> dict[str, Any]:
    """The deploy's plan (plain data for the playbook): ``targets`` (the names asked for, as
    the sweeps step records them), ``host_list`` (the hosts in order), ``hosts`` (host ->
    :class:`HostPlan` as a dict, with ``slurm``), ``slurm`` (any Slurm host: a code snapshot
    is needed), ``lab_roots`` (of the Slurm hosts), the per-host maps the sweeps step takes
    (``compute_internet``, ``job_limits`` of the Slurm hosts) and ``sweeps`` (the first
    host's sweep settings that are set)."""
    if exp is not None and not str(exp):
        raise PlanError("name the experiment: ansible-playbook deploy.yml -e exp=base.yml")
    hosts = hosts_of(clusters, groups)
    many = len(hosts) > 1
    plans = {
        h: host_plan(settings.get(h) or {}, f"{i}/{len(hosts)}" if many else "")
        for i, h in enumerate(hosts, start=1)
    }
    first = settings.get(hosts[0]) or {}
    return {
        "targets": targets(clusters),
        "host_list": hosts,
        "hosts": {h: {**asdict(p), "slurm": p.slurm} for h, p in plans.items()},
        "slurm": any(p.slurm for p in plans.values()),
        "compute_internet": {h: p.compute_internet for h, p in plans.items()},
        "job_limits": {h: p.job_limits for h, p in plans.items() if p.job_limits is not None},
        "lab_roots": {h: p.lab_root for h, p in plans.items() if p.slurm},
        "sweeps": {
            arg: first[name] for name, arg in SWEEP_SETTINGS.items() if first.get(name) is not None
        },
    }


def gate(
    hosts: Sequence[str],
    checked: Mapping[str, Any],
    wandb_problems: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """Stop unless every host passed its checks (``checked[host]`` true); returns each host's
    ``wandb_problem`` ('' when its jobs can run ``wandb agent``)."""
    unchecked = [h for h in hosts if not checked.get(h)]
    if unchecked:
        raise PlanError(
            f"nothing was created: {', '.join(unchecked)} did not pass the checks "
            "(unreachable or failed above); fix that, or leave it out of clusters="
        )
    problems = wandb_problems or {}
    return {h: str(problems.get(h) or "") for h in hosts}


def where_to_watch(deploy: Mapping[str, Any], exp: str) -> list[str]:
    """What the deploy says at its end: one line per sweep, then the deploy and where to watch."""
    lines = []
    for sweep in deploy.get("sweeps") or []:
        where = f" in {sweep['dir']}" if "dir" in sweep else ""
        url = f"; watch it at {sweep['url']}" if sweep.get("url") else ""
        lines.append(
            f"{sweep['name']}: sweep {sweep['id']} ({sweep.get('runs') or '?'} runs, "
            f"{sweep.get('agents')} agents){where}{url}"
        )
    lines += [
        f"deploy {deploy.get('deploy_id')} of {deploy.get('experiment')} at commit "
        f"{deploy.get('commit') or '-'}; sweeps: {deploy.get('backend') or 'offline'} "
        f"({deploy.get('backend_reason') or ''})",
        f"progress: sweepops status {exp}",
        f"results:  sweepops results {exp}",
    ]
    return lines
