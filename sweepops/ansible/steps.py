"""The playbooks' steps that run on the workstation, as functions of their task arguments.

Each step is reachable two ways under one name: as an Ansible module in ``library/`` (run by
AnsiballZ in a new Python process, as any module) and, when Ansible runs it on the
controller, in-process through the action plugin of the same name in ``action_plugins/``
(sweepops.ansible.action), which saves the new interpreter and the packaging: ~0.3 s a task.
Both validate their arguments with the step's spec (sweepops.ansible.step_specs, which the
module's DOCUMENTATION is generated from) and call the same function, so they cannot drift
apart. Two steps have no action plugin and always run as modules: ``sweepops_env_container``
(a long container build) and ``sweepops_local_agents`` (detached agents, started as before
from a process of their own).

A step takes its validated arguments and whether Ansible runs in check mode, and returns
the module result (``changed`` plus return values); it raises :class:`StepFailed` with the
message to show (and any result values to return with the failure).
"""

from __future__ import annotations

import re
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sweepops.ansible.step_specs import SPECS
from sweepops.core.errors import SweepopsError
from sweepops.remote.module_spec import ModuleFailed, run_module

Params = dict[str, Any]
Result = dict[str, Any]

DEPLOY_ID = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


#: A step fails with its message (and any result values to return with the failure).
StepFailed = ModuleFailed


# --------------------------------------------------------------------------- snapshot


def snapshot(p: Params, check_mode: bool) -> Result:
    from sweepops.artifacts.agent_runtime import runtime_base
    from sweepops.artifacts.snapshot import snapshot_of, write_manifest

    deploy_id = p["deploy_id"]
    if not deploy_id:
        from sweepops.core.records import new_deploy_id

        deploy_id = new_deploy_id()
    if not DEPLOY_ID.match(deploy_id) or deploy_id in (".", ".."):
        raise StepFailed(f"deploy_id {deploy_id!r}: use letters, digits, '.', '_', '-' only")
    code_dir = Path(p["code_dir"])
    state_dir = Path(p["state_dir"]) if p["state_dir"] else code_dir / ".sweepops"
    try:
        required: list[str] = []
        if p["exp"]:
            from sweepops.experiment.program import program_of_experiment

            run = program_of_experiment(p["exp"], code_dir)
            required = [run.program_file] if run and run.program_file else []
        snap = snapshot_of(code_dir, allow_dirty=p["allow_dirty"], required=required)
        files_from = state_dir / "snapshots" / f"{snap.key}.files"
        write_manifest(snap, files_from)
        base = runtime_base()
    except (SweepopsError, OSError) as exc:
        raise StepFailed(str(exc)) from exc
    result: Result = {
        "changed": False,
        "key": snap.key,
        "commit": snap.commit,
        "dirty": snap.dirty,
        "dirty_files": list(snap.dirty_files),
        "ancestors": list(snap.ancestors),
        "file_count": len(snap.files),
        "files_from": str(files_from),
        "deploy_id": deploy_id,
        # names this run's .incoming-* directories on the clusters: two deploys of one id
        # at once (two shells) never sync into the same one
        "sync_id": f"{deploy_id}.{secrets.token_hex(3)}",
        "code_dir": str(code_dir),
        # the agent's runtime without its target: the cluster probe completes the key
        "runtime_base": base,
    }
    if snap.dirty:
        diff_path = state_dir / "deploys" / deploy_id / "dirty.diff"
        if not check_mode:
            try:
                diff_path.parent.mkdir(parents=True, exist_ok=True)
                diff_path.write_text(snap.diff, errors="surrogateescape")
            except OSError as exc:
                raise StepFailed(f"cannot store the diff: {exc}") from exc
        result["diff_path"] = str(diff_path)
    return result


# --------------------------------------------------------------------------- deploy plan


def deploy_plan(p: Params, check_mode: bool) -> Result:
    """What the deploy does where (sweepops.ops.deploy_plan.plan), as the fact
    ``sweepops_plan`` (later plays: ``hostvars.localhost.sweepops_plan``); nothing changes."""
    from sweepops.ops.deploy_plan import plan

    found = plan(p["clusters"], p["groups"], p["settings"] or {}, exp=p["exp"])
    return {"changed": False, "ansible_facts": {"sweepops_plan": found}}


def deploy_gate(p: Params, check_mode: bool) -> Result:
    """Every target host passed its checks (sweepops.ops.deploy_plan.gate)."""
    from sweepops.ops.deploy_plan import gate

    return {
        "changed": False,
        "wandb_problems": gate(p["hosts"], p["checked"] or {}, p["wandb_problems"]),
    }


# --------------------------------------------------------------------------- code sync plan


def code_sync_plan(p: Params, check_mode: bool) -> Result:
    """What the code_sync role rsyncs (sweepops.artifacts.sync_plan), as its facts
    ``code_sync_plan``, ``code_sync_snapshot_dir``, ``code_sync_agent_dir`` and
    ``code_sync_result`` (the snapshot); nothing changes."""
    import os

    from sweepops.artifacts.sync_plan import control_path, earlier_by_git, sync_plan

    snapshot = p["snapshot"] or p["computed"] or {}
    if not snapshot.get("key"):
        raise StepFailed("code_sync: no snapshot (code_sync_snapshot, or one computed here)")
    plan = sync_plan(
        lab_root=p["lab_root"],
        snapshot=snapshot,
        runtime=p["runtime"] or {},
        host=p["host"],
        present=p["present"],
        check_mode=check_mode,
        control=control_path(p["control_path"], os.path.expanduser(p["control_path_dir"] or "")),
        ssh_extra_args=p["ssh_extra_args"] or "",
        extra_opts=p["rsync_extra_opts"] or [],
        earlier=earlier_by_git(snapshot["code_dir"], snapshot["files_from"]),
    )
    facts = {
        "code_sync_plan": plan,
        "code_sync_snapshot_dir": plan["snapshot_dir"],
        "code_sync_agent_dir": plan["agent_dir"],
        "code_sync_result": snapshot,
    }
    return {"changed": False, "ansible_facts": facts}


# --------------------------------------------------------------------------- sweeps


def sweeps(p: Params, check_mode: bool) -> Result:
    from sweepops.core.settings import parse_deploy_var
    from sweepops.ops.create_sweeps import create_sweeps

    try:
        # -e values reach here as given: a bad one is named as the user wrote it
        agents = parse_deploy_var("agents_per_sweep", p["default_agents"])
        confirm = p["confirm_runs"]
        above = p["confirm_runs_above"]
        deploy, changed = create_sweeps(
            p["exp"],
            root=Path(p["root"]),
            lab_root=Path(p["lab_root"]) if p["lab_root"] else None,
            deploy_id=p["deploy_id"],
            default_agents=agents,
            confirm_runs=None
            if confirm in (None, "")
            else parse_deploy_var("confirm_runs", confirm),
            confirm_runs_above=None
            if above in (None, "")
            else parse_deploy_var("confirm_runs_above", above),
            clusters=tuple(p["clusters"]),
            dry_run=check_mode,
            backend=p["backend"],
            entity=p["entity"],
            project=p["project"],
            base_url=p["base_url"],
            compute_internet=p["compute_internet"],
            allow_duplicate=p["allow_duplicate"],
            job_limits=p["job_limits"],
            wandb_problems=p["wandb_problems"],
        )
    except SweepopsError as exc:
        raise StepFailed(str(exc)) from exc
    from sweepops.ops.deploy_plan import where_to_watch

    result: Result = {
        "changed": changed,
        "deploy": deploy,
        "said": where_to_watch(deploy, p["exp"]),
    }
    if p["lab_roots"]:
        result["hosts"] = cluster_sweeps(deploy, p["lab_roots"])
    return result


def cluster_sweeps(deploy: dict[str, Any], lab_roots: dict[str, str]) -> dict[str, Any]:
    """Per cluster host (``lab_roots``: host -> its lab root), what the deploy's jobs there
    run: its sweeps with their directory on it (``LAB/sweeps/ID``), ``handoff`` (a wandb sweep
    whose compute nodes have no internet: the offline agent on the sweep directory) and
    ``agent`` (``wandb`` when the jobs run the user's ``wandb agent``, else ``sweepops``: the
    agent's runtime goes to the cluster)."""
    from sweepops.core import paths

    wandb = deploy.get("backend") == "wandb"
    handoff = deploy.get("handoff") or {}
    return {
        host: {
            "sweeps": [
                {**sweep, "dir": str(paths.lab_sweep(lab_root, sweep["id"]))}
                for sweep in deploy.get("sweeps") or []
            ],
            "handoff": host in handoff,
            "agent": "wandb" if wandb and host not in handoff else "sweepops",
        }
        for host, lab_root in lab_roots.items()
    }


def settings(p: Params, check_mode: bool) -> Result:
    """The inventory parses and names only known settings (sweepops.core.settings); the same
    check the CLI makes before Ansible starts, for ``ansible-playbook`` run directly."""
    from sweepops.core.settings import require_valid_inventory

    require_valid_inventory(p["sources"], Path(p["root"]))
    return {"changed": False}


def wandb_key(p: Params, check_mode: bool) -> Result:
    from sweepops.backends.wandb import base_url, find_api_key, netrc_machine

    url = base_url(p["base_url"])
    machine = netrc_machine(url)
    key = find_api_key(url)
    if not key:
        raise StepFailed(
            f"no wandb API key for {url} (WANDB_API_KEY or ~/.netrc machine {machine})",
            machine=machine,
        )
    return {"changed": False, "key": key, "machine": machine}


# --------------------------------------------------------------------------- env


def env_local(p: Params, check_mode: bool) -> Result:
    from sweepops.artifacts import envsync

    try:
        prefix = envsync.check_prefix(p["prefix"])
        sync_path = p["sync_path"] or str(prefix)
        if p["sync_path"] and not str(prefix).startswith(sync_path.rstrip("/") + "/"):
            raise SweepopsError(f"the env {prefix} is not inside the synced root {sync_path}")
        name = p["name"] or prefix.name
        entries = envsync.manifest(sync_path, content=p["content"])
        source = sha = text = ""
        if p["packages"]:
            source, packages = envsync.package_list(prefix)
            sha, text = envsync.lock_text(name, prefix, source, packages)
    except (SweepopsError, OSError) as exc:
        raise StepFailed(f"on the workstation: {exc}") from exc
    return {
        "changed": False,
        "name": name,
        "prefix": str(prefix),
        "sync_path": sync_path,
        "conda": envsync.is_conda_env(prefix),
        "digest": envsync.digest(entries),
        "size": envsync.total_size(entries),
        "file_count": len(entries),
        "lock_source": source,
        "lock_sha256": sha,
        "lock_text": text,
    }


def env_drift(p: Params, check_mode: bool) -> Result:
    from sweepops.artifacts import envsync

    remote = p["remote"]
    if remote.get("exists") and p["local_digest"] and remote.get("digest") == p["local_digest"]:
        return {"changed": False, "clean": True, "drift": _NO_DRIFT}
    try:
        local = envsync.manifest(p["path"], content=p["content"])
    except OSError as exc:
        raise StepFailed(f"on the workstation: cannot read {p['path']}: {exc}") from exc
    if remote.get("exists") and remote.get("digest") == envsync.digest(local):
        return {"changed": False, "clean": True, "drift": _NO_DRIFT}
    found = envsync.drift(local, remote.get("entries") or [])
    if not remote.get("exists"):
        msg = f"{p['host']}: the env is not on the cluster at {p['path']}"
    else:
        msg = f"{p['host']}: the cluster's copy of {p['path']} differs: {found.describe()}"
    hint = "; run `sweepops provision CLUSTER` (or provision.yml --limit CLUSTER) to sync it again"
    if p["fail"] and not found.clean:
        raise StepFailed(msg + hint, clean=False, drift=found.as_dict())
    return {"changed": False, "clean": found.clean, "drift": found.as_dict(), "msg": msg}


_NO_DRIFT: dict[str, list[str]] = {"changed": [], "missing": [], "extra": []}


# --------------------------------------------------------------------------- record


def record(p: Params, check_mode: bool) -> Result:
    """Record what a deploy submitted: ``clusters`` (host -> entry), or the entry of ``host``
    built from the sbatch role's ``submission`` (where), ``checked`` and ``submitted`` (its
    sbatch results: the job ids), the same for a deploy and a reproduction. Without ``root``
    only the job ids are returned (the fact ``sbatch_jobs``), nothing is recorded. A
    ``deploy`` record not in the ledger yet (a reproduction's) is appended first."""
    import json

    from sweepops.core.records import submission_info
    from sweepops.records import journal, ledger

    clusters = dict(p["clusters"] or {})
    jobs: dict[str, str] = {}
    if p["host"]:
        jobs = {str(r["sweep_id"]): str(r["job_id"]) for r in p["submitted"] or []}
        try:
            info = submission_info(p["submission"] or {}, p["checked"] or {}, jobs)
        except ValueError as exc:
            raise StepFailed(str(exc)) from exc
        clusters[p["host"]] = info
    facts = {"ansible_facts": {"sbatch_jobs": jobs}} if p["host"] else {}
    if not p["root"]:
        return {"changed": False, "summary": [], "submission": clusters.get(p["host"]), **facts}
    root = Path(p["root"])
    deploy_id = p["deploy_id"]
    deploy = ledger.find_deploy(root, deploy_id)
    if deploy is None and p["deploy"] and not check_mode:
        ledger.append(root, p["deploy"])
        deploy = ledger.find_deploy(root, deploy_id)
    done = {"submission": clusters.get(p["host"]), **facts} if p["host"] else {}
    if deploy is None:
        if check_mode:
            return {
                "changed": False,
                "summary": [f"deploy {deploy_id} (check mode: nothing recorded)"],
                **done,
            }
        raise StepFailed(f"deploy {deploy_id} is not in the ledger {ledger.ledger_path(root)}")
    lines = ledger.summary(deploy, clusters)
    if check_mode:
        return {"changed": False, "summary": lines, **done}
    changed = ledger.record_submission(root, deploy_id, clusters)
    if changed and p["journal"]:
        journal.append_deploy(root, deploy)  # the entry now names the jobs
    out = root / ".sweepops" / "deploys" / deploy_id
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(
        json.dumps({"deploy": deploy, "clusters": clusters}, indent=1)
    )
    (out / "summary.txt").write_text("\n".join(lines) + "\n")
    return {"changed": changed, "summary": lines, **done}


# --------------------------------------------------------------------------- provision, reproduce


def env_record(p: Params, check_mode: bool) -> Result:
    from sweepops.artifacts import envsync

    root = Path(p["root"])
    try:
        new = envsync.record_env(root, p["host"], p["env"], dry_run=check_mode)
    except OSError as exc:
        raise StepFailed(f"cannot write the ledger under {root}: {exc}") from exc
    return {"changed": new, "recorded": new}


def reproduce_check(p: Params, check_mode: bool) -> Result:
    from sweepops.ops.reproduce import verify

    out = verify(
        Path(p["root"]),
        p["expect"],
        p["observed"],
        host=p["host"],
        rebuild_dir=Path(p["rebuild_dir"]),
        deploy_id=p["deploy_id"],
    )
    return {"changed": False, **out}


# --------------------------------------------------------------------------- runtime


def runtime(p: Params, check_mode: bool) -> Result:
    """The agent's runtime for a cluster's interpreter (``target``, from the cluster probe),
    built into the workstation's cache unless there; with its file list for rsync. Built in
    check mode too (a cache of this machine, like the snapshot's file lists): the dry-run
    sync needs it."""
    from sweepops.artifacts.agent_runtime import build, cache_dir, runtime_base, runtime_files
    from sweepops.artifacts.snapshot import write_file_list
    from sweepops.remote.interpreter import runtime_key

    base = p["base"] or runtime_base()
    key = runtime_key(base, p["target"])
    if p["key"] and p["key"] != key:
        raise StepFailed(
            f"the cluster probe asked for the agent runtime {p['key']} but this machine's "
            f"sweepops makes {key} for {p['target']} (sweepops changed during the deploy?); "
            "deploy again"
        )
    cache = Path(p["cache"]) if p["cache"] else cache_dir(Path(p["root"]))
    path, built = build(p["target"], cache, base=base)
    files = runtime_files(path)
    files_from = cache / f"{key}.files"
    write_file_list(files, files_from)
    size = sum((path / f).lstat().st_size for f in files)
    return {
        "changed": built and not check_mode,
        "built": built,
        "key": key,
        "target": p["target"],
        "src": str(path),
        "files_from": str(files_from),
        "file_count": len(files),
        "bytes": size,
    }


# --------------------------------------------------------------------------- container, agents


def env_container(p: Params, check_mode: bool) -> Result:
    """Render the container definition; build the image when its definition changed."""
    from sweepops.artifacts import container, rootfs
    from sweepops.remote.imagedigest import file_sha256

    image = Path(p["image"])
    def_path = Path(p["def_path"])
    charliecloud = p["runtime"] == "charliecloud"
    try:
        found = None if charliecloud else container.find_runtime(prefer=p["runtime"])
        variables = container.def_variables(
            env_prefix=p["env_prefix"],
            conda=p["conda"],
            os_release=container.parse_os_release(Path(p["os_release"]).read_text()),
            cuda=p["cuda"],
            base=p["base_image"],
            post_commands=p["post_commands"],
            runtime="charliecloud" if charliecloud else (found[0] if found else "apptainer"),
            bootstrap=p["bootstrap"],
            mirror=p["mirror"],
            packages=p["packages"],
            bind_paths=p["bind_paths"],
        )
        text = container.render_def(p["template"], variables)
    except (SweepopsError, OSError) as exc:
        raise StepFailed(f"on the workstation: {exc}") from exc
    digest = container.text_digest(text)
    def_changed = not def_path.exists() or def_path.read_text() != text
    decision = container.build_decision(image, digest)
    base = (
        f"debootstrap {variables['suite']} {variables['mirror']}"
        if variables["bootstrap"] == "debootstrap"
        else variables["base_image"]
    )
    result: Result = {
        "digest": digest,
        "built": decision.build,
        "reason": decision.reason,
        "runtime": "",
        "base_image": base,
        "def_path": str(def_path),
        "diff": {"before": def_path.read_text() if def_path.exists() else "", "after": text},
    }
    if decision.build and charliecloud and not shutil.which("debootstrap"):
        raise StepFailed(
            f"on the workstation: the charliecloud image must be built ({decision.reason}) "
            "with debootstrap, which is not installed here; apt-get install debootstrap "
            "(Debian's package), or leave container_image unset to run without a container",
            **result,
        )
    if decision.build and not charliecloud and not found:
        raise StepFailed(
            f"on the workstation: the image must be built ({decision.reason}) but neither "
            "apptainer nor singularity is installed here; install apptainer "
            "(https://apptainer.org/docs/admin/main/installation.html), use "
            "container_runtime=charliecloud (built from Debian's packages), or leave "
            "container_image unset to run without a container",
            **result,
        )
    changed = def_changed or decision.build
    if check_mode:
        sha = file_sha256(str(image)) if image.exists() and not decision.build else ""
        return {"changed": changed, "sha256": sha, **result}
    try:
        if def_changed:
            def_path.parent.mkdir(parents=True, exist_ok=True)
            def_path.write_text(text)
        if decision.build and charliecloud:
            source = rootfs.Base(
                variables["suite"], variables["mirror"], tuple(variables["packages"])
            )
            result["base_built"] = rootfs.build_image(image, def_path, source, p["rootfs_cache"])
            container.digest_file(image).write_text(digest + "\n")
            result["runtime"] = "charliecloud"
        elif decision.build:
            assert found is not None
            container.build(image, def_path, digest, runtime_path=found[1], fakeroot=p["fakeroot"])
            result["runtime"] = found[0]
    except (SweepopsError, OSError) as exc:
        raise StepFailed(f"on the workstation: {exc}", **result) from exc
    return {"changed": changed, "sha256": file_sha256(str(image)), **result}


def local_agents(p: Params, check_mode: bool) -> Result:
    """Start a sweep's agents on this machine, unless they were started already."""
    from sweepops.executors.local import agent_records, start_agents
    from sweepops.runtime.offline_sweep import OfflineSweep

    if check_mode:
        sweep_dir = Path(p["sweep_dir"])
        started = agent_records(OfflineSweep(sweep_dir)) if sweep_dir.exists() else []
        return {"changed": not started, "agents": started}
    agents, changed = start_agents(
        OfflineSweep(p["sweep_dir"]),
        p["count"],
        code_dir=Path(p["code_dir"]),
        agent_args=p["agent_args"],
        wandb_path=p["wandb_path"],
    )
    return {"changed": changed, "agents": agents}


# --------------------------------------------------------------------------- registry

#: Steps Ansible skips in check mode (they cannot tell what they would do without doing it).
NO_CHECK_MODE = frozenset(name for name, spec in SPECS.items() if not spec.check_mode)

#: The step of each module name.
STEPS: dict[str, Callable[[Params, bool], Result]] = {
    "sweepops_deploy_plan": deploy_plan,
    "sweepops_deploy_gate": deploy_gate,
    "sweepops_snapshot": snapshot,
    "sweepops_code_sync_plan": code_sync_plan,
    "sweepops_sweeps": sweeps,
    "sweepops_runtime": runtime,
    "sweepops_wandb_key": wandb_key,
    "sweepops_settings": settings,
    "sweepops_env_local": env_local,
    "sweepops_env_drift": env_drift,
    "sweepops_record": record,
    "sweepops_env_record": env_record,
    "sweepops_reproduce_check": reproduce_check,
    "sweepops_env_container": env_container,
    "sweepops_local_agents": local_agents,
}


def run(name: str, params: Params, check_mode: bool) -> Result:
    """Run step ``name``; a SweepopsError or OSError escaping it becomes a StepFailed."""
    try:
        return STEPS[name](params, check_mode)
    except SweepopsError as exc:
        raise StepFailed(str(exc)) from exc
    except OSError as exc:  # a full disk, a permission: a message, not a traceback
        raise StepFailed(f"on the workstation: {exc}") from exc


def module_main(name: str, module_class: Any) -> None:
    """The whole ``main()`` of the library/ module ``name``: arguments, step, result."""
    run_module(SPECS[name], lambda params, check_mode: run(name, params, check_mode), module_class)
