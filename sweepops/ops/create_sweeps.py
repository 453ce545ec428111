"""Creating an experiment's sweeps: the one code path behind `sweepops deploy` and the playbook.

``create_sweeps`` is idempotent by deploy id: called again with the same id (a retried deploy,
or the playbook after `sweepops deploy` already created them) it returns the sweeps already
made and creates nothing.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sweepops.artifacts.git import GitState, git_state
from sweepops.backends import wandb
from sweepops.backends.base import CreateRequest, RemoteSweep, SweepBackend
from sweepops.backends.select import select_backend
from sweepops.core import paths
from sweepops.core.errors import SweepopsError
from sweepops.core.records import new_deploy_id
from sweepops.experiment import joblimits
from sweepops.experiment.expand import Experiment, load_experiment
from sweepops.experiment.paths import resolve_experiment
from sweepops.experiment.plan import plan_experiment, require_confirmation
from sweepops.records import journal, ledger
from sweepops.runtime.offline_sweep import sweep_meta


def local_lab_root(root: Path) -> Path:
    """Where the built-in local executor keeps its sweeps."""
    return paths.local_lab_root(root)


def sweep_parent(lab_root: Path) -> Path:
    return paths.lab_sweeps(lab_root)


def create_sweeps(
    exp_ref: str,
    *,
    root: Path,
    lab_root: Path | None = None,
    deploy_id: str | None = None,
    default_agents: int = 2,
    clusters: tuple[str, ...] = ("local",),
    dry_run: bool = False,
    backend: str | None = None,
    entity: str | None = None,
    project: str | None = None,
    base_url: str | None = None,
    compute_internet: Mapping[str, Any] | None = None,
    confirm_runs: int | str | None = None,
    confirm_runs_above: int | None = None,
    allow_duplicate: bool = False,
    job_limits: Mapping[str, Mapping[str, Any]] | None = None,
    wandb_problems: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], bool]:
    """Create every sweep of the experiment. Returns (deploy record, changed).

    A new deploy of the same experiment file at the same (clean) commit to the same clusters
    as an earlier one is refused unless ``allow_duplicate``: it would run the grid twice.
    ``job_limits`` ({cluster host: {time, preempt_signal_seconds}}) are checked against each
    other and the experiment's ``_time_per_run`` first
    (:func:`sweepops.experiment.joblimits.check`).

    Each sweep entry carries ``meta``, the exact ``sweep.json`` content, so that the sweep is
    the same wherever it is materialised: here (``local`` among ``clusters``, under
    ``lab_root``) or on a cluster's shared disk by the deploy playbook.

    ``backend`` (``wandb | offline | auto``; default: the experiment's ``sweep_backend``,
    else auto) picks where the sweeps live. With wandb they are created on the server first
    (``entity``/``project``: the experiment's, else these, else the viewer's entity and the
    experiment name) and each entry carries ``backend``, ``entity``, ``project``, ``url``.

    ``compute_internet`` ({cluster host: true | false | auto}) names the clusters whose
    compute nodes cannot reach the server (auto: as provisioning recorded). With wandb, the
    record's ``handoff`` ({host: why}) lists them: their jobs run the offline agent on a sweep
    directory with the wandb sweep's id and config, and ``sweepops sync`` uploads the runs.

    More runs than ``confirm_runs_above`` are refused, before anything is made, unless
    ``confirm_runs`` is that number or ``"yes"`` (sweepops.experiment.plan.require_confirmation).

    ``wandb_problems`` ({host: message}, from the cluster probes): why a cluster's jobs could
    not run `wandb agent`; with wandb, any for a cluster that runs it refuses the deploy
    before a sweep is made.
    """
    root = root.resolve()
    # Looking the deploy id up and recording it are one step: two shells deploying the same
    # id at once get one record (the second waits, then finds the first's).
    with contextlib.ExitStack() as held:
        if not dry_run:
            held.enter_context(ledger.transaction(root))
        return _create_sweeps(
            exp_ref,
            root=root,
            lab_root=lab_root,
            deploy_id=deploy_id,
            default_agents=default_agents,
            clusters=clusters,
            dry_run=dry_run,
            backend=backend,
            entity=entity,
            project=project,
            base_url=base_url,
            compute_internet=compute_internet,
            allow_duplicate=allow_duplicate,
            job_limits=job_limits,
            confirm_runs=confirm_runs,
            confirm_runs_above=confirm_runs_above,
            wandb_problems=wandb_problems,
        )


def _create_sweeps(
    exp_ref: str,
    *,
    root: Path,
    lab_root: Path | None,
    deploy_id: str | None,
    default_agents: int,
    clusters: tuple[str, ...],
    dry_run: bool,
    backend: str | None,
    entity: str | None,
    project: str | None,
    base_url: str | None,
    compute_internet: Mapping[str, Any] | None,
    allow_duplicate: bool,
    job_limits: Mapping[str, Mapping[str, Any]] | None,
    confirm_runs: int | str | None,
    confirm_runs_above: int | None,
    wandb_problems: Mapping[str, str] | None,
) -> tuple[dict[str, Any], bool]:
    if deploy_id:
        existing = ledger.find_deploy(root, deploy_id)
        if existing is not None:
            return existing, False
    exp = load_experiment(resolve_experiment(exp_ref, root), root)
    plan = plan_experiment(
        exp, default_agents=default_agents, confirm_runs_above=confirm_runs_above
    )
    require_confirmation(plan, confirm_runs)
    check_job_limits(exp, job_limits or {})
    deploy_id = deploy_id or new_deploy_id()
    lab_root = (lab_root or local_lab_root(root)).resolve()
    git = git_state(root)
    if not allow_duplicate:
        refuse_duplicate(root, exp, git, clusters)
    record = deploy_record(exp, deploy_id, git, clusters, lab_root)
    chosen = select_backend(backend or exp.raw.get("sweep_backend"), url=wandb.base_url(base_url))
    record["backend"], record["backend_reason"] = chosen.name, chosen.why
    request = CreateRequest(
        root=root,
        entity=entity,
        project=project,
        compute_internet=compute_internet or {},
        wandb_problems=wandb_problems or {},
        dry_run=dry_run,
    )
    created = chosen.create(exp, [spec.config for spec in exp.sweeps], request)
    record.update(chosen.record_fields(exp))
    for spec, row, remote in zip(exp.sweeps, plan["sweeps"], created, strict=True):
        entry = sweep_entry(exp, spec, row, remote, chosen, record, git)
        if "local" in clusters:
            entry["dir"] = str(sweep_parent(lab_root) / entry["id"])
            if not dry_run:
                chosen.materialise(sweep_parent(lab_root), entry["meta"])
        record["sweeps"].append(entry)
    if not dry_run:
        ledger.append(root, record)
        journal.append_deploy(root, record)
    return record, True


def refuse_duplicate(root: Path, exp: Experiment, git: GitState, clusters: tuple[str, ...]) -> None:
    """Refuse a deploy of the same experiment file at the same (clean) commit to the same
    clusters as an earlier one: it would run the same grid again."""
    twin = ledger.same_deploy(
        root,
        experiment_path=str(exp.path),
        experiment_sha256=exp.sha256,
        commit=None if ledger.code_files(git.dirty_files) else git.commit,
        clusters=list(clusters),
    )
    if twin is None:
        return
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(float(twin.get("time", 0))))
    raise SweepopsError(
        f"deploy {twin['deploy_id']} (made {when}) already runs {exp.name} at commit "
        f"{str(git.commit)[:10]} with the same file on {', '.join(clusters)}: a second "
        "deploy would run the same grid again; nothing was created",
        hint=f"see `sweepops status {exp.name}`; finish that deploy with "
        f"-e deploy_id={twin['deploy_id']}, or run the grid again on purpose with "
        "-e allow_duplicate=true",
    )


def deploy_record(
    exp: Experiment, deploy_id: str, git: GitState, clusters: tuple[str, ...], lab_root: Path
) -> dict[str, Any]:
    """The deploy's ledger line, its sweeps still to add."""
    return {
        "deploy_id": deploy_id,
        "time": time.time(),
        "experiment": exp.name,
        "experiment_path": str(exp.path),
        "experiment_sha256": exp.sha256,
        "commit": git.commit,
        "dirty_files": list(git.dirty_files),
        "backend": "offline",
        "clusters": list(clusters),
        "lab_root": str(lab_root) if "local" in clusters else None,
        "sweeps": [],
    }


def sweep_entry(
    exp: Experiment,
    spec: Any,
    row: Mapping[str, Any],
    remote: RemoteSweep | None,
    backend: SweepBackend,
    record: Mapping[str, Any],
    git: GitState,
) -> dict[str, Any]:
    """One sweep's ledger entry, its ``meta`` the exact ``sweep.json`` content (what its
    agents run, with which metadata: the backend's part from the backend)."""
    deploy_id = str(record["deploy_id"])
    env = run_env(exp, spec.tags, deploy_id, git.commit, git.remote)
    extra: dict[str, Any] = {"experiment": exp.name, "deploy_id": deploy_id}
    extra.update(exp.program.meta())  # where runs start: agents, job script, reproduce
    meta_fields, entry_fields = backend.sweep_fields(env, remote)
    extra.update(meta_fields)
    extra["run_env"] = env
    meta = sweep_meta(
        config=spec.config,
        name=spec.name,
        tags=spec.tags,
        sweep_id=remote.id if remote is not None else None,
        extra=extra,
    )
    return {
        "id": meta["id"],
        "name": spec.name,
        "tags": list(spec.tags),
        "agents": row["agents"],
        "runs": row["runs"],
        "meta": meta,
        "backend": backend.name,
        **entry_fields,
    }


def check_job_limits(exp: Experiment, limits: Mapping[str, Mapping[str, Any]]) -> None:
    """Refuse cluster time limits that would requeue every attempt
    (sweepops.experiment.joblimits)."""
    joblimits.check(limits, (spec.time_per_run for spec in exp.sweeps))


def run_env(
    exp: Experiment,
    tags: tuple[str, ...],
    deploy_id: str,
    commit: str | None,
    remote: str | None,
) -> dict[str, str]:
    """wandb metadata every run of the sweep gets through its environment."""
    raw = exp.raw
    env = {
        "WANDB_PROJECT": str(raw.get("project") or exp.name),
        "WANDB_RUN_GROUP": deploy_id,
    }
    if raw.get("entity"):
        env["WANDB_ENTITY"] = str(raw["entity"])
    if tags:
        env["WANDB_TAGS"] = ",".join(tags)
    if commit:
        env["WANDB_GIT_COMMIT"] = commit
    if remote:
        env["WANDB_GIT_REMOTE_URL"] = remote
    return env
