"""``sweepops reproduce RUN_ID``: run one finished run again, exactly, on a cluster.

The run is found in the local sweeps of the ledger's deploys or in the cluster records that
``sweepops results`` fetched (``.sweepops/cache/HOST/SWEEP/runs/RUN.json``). Its copy is a
new one-run offline sweep: the original sweep's config with every parameter fixed to the
run's value (``value``, method grid), submitted by ``playbooks/reproduce.yml`` with the
same code snapshot (``LAB/code/KEY``), agent runtime (``LAB/agent/KEY``,
sweepops.artifacts.agent_runtime)
and env prefix the original deploy recorded, and the same container image path.

Before it submits, ``reproduce.yml`` looks at the cluster and :func:`verify` decides:

- the env's fingerprint (the manifest digest the deploy's drift check recorded,
  ``env_digest``) and the container image's sha256 (``container_digest``) must be what the
  deploy recorded, else it refuses, saying what changed and what to do; so must the env's
  package-list hash of the ledger's ``env`` events (``sweepops provision``);
- a code snapshot that is gone from the cluster is rebuilt on the workstation from the
  recorded commit and the stored dirty diff (:mod:`sweepops.artifacts.rebuild`), checked against the
  recorded tree hash and synced again as ``LAB/code/KEY``; a gone agent runtime is synced
  again from this machine's runtime cache (content-addressed: the same key is the same
  runtime), else refused; an agent directory from before runtimes is refused.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweepops.core import paths
from sweepops.core.errors import SweepopsError
from sweepops.core.records import DEPLOY, ENV, EnvEvent, kind_of
from sweepops.executors.choose import executors_for
from sweepops.records import ledger


@dataclass
class Found:
    """A run of a deploy: its record, its sweep entry, and where it ran (``local`` or host)."""

    deploy: dict[str, Any]
    sweep: dict[str, Any]
    record: dict[str, Any]
    cluster: str


def find_run(root: Path, run_id: str) -> Found:
    """The run ``run_id`` in the newest deploy that has it: in the run records each of its
    executors keeps here (local sweeps, then each cluster's fetched copies)."""
    for deploy in reversed(ledger.deploy_lines(root)):
        sweeps = {s["id"]: s for s in deploy["sweeps"]}
        places = [d for ex in executors_for(root, deploy) for d in ex.result_dirs()]
        for cluster, path, _accounted in places:
            rec_path = path / "runs" / f"{run_id}.json"
            if path.name in sweeps and rec_path.is_file():
                record = json.loads(rec_path.read_text())
                return Found(deploy, sweeps[path.name], record, cluster)
    raise SweepopsError(
        f"no run {run_id} in the deploys of {ledger.ledger_path(root)}",
        hint="runs on clusters are known once fetched: run `sweepops results EXP` first",
    )


def one_run_config(config: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """The sweep config that runs exactly ``params`` once (grid of single ``value``s)."""
    out = {k: v for k, v in config.items() if k not in ("run_cap", "early_terminate")}
    out["method"] = "grid"
    out["parameters"] = {
        k: (v if isinstance(v, dict) and "value" in v else {"value": v}) for k, v in params.items()
    }
    return out


def env_hashes(root: Path, deploy_id: str, host: str, prefix: str) -> tuple[str | None, str | None]:
    """(hash at deploy time, latest hash) of the package list of env ``prefix`` on ``host``,
    from the ledger's ``env`` events (written by ``sweepops provision``); None if none."""
    at_deploy = latest = None
    seen_deploy = False
    for rec in ledger.records(root):
        kind = kind_of(rec)
        if kind == DEPLOY and rec.get("deploy_id") == deploy_id:
            seen_deploy = True
        if kind == ENV:
            event = EnvEvent.of(rec)
            if event.host == host and event.prefix == prefix:
                latest = event.lock_sha256
                if not seen_deploy:
                    at_deploy = latest
    return at_deploy, latest


def plan(root: Path, run_id: str, cluster: str | None) -> dict[str, Any]:
    """What to submit: the new deploy record (one sweep) and the target's submission info.
    Raises SweepopsError when the run cannot be reproduced as recorded."""
    from sweepops.runtime.offline_sweep import new_id, sweep_meta

    found = find_run(root, run_id)
    if found.record.get("state") != "finished":
        raise SweepopsError(f"run {run_id} is {found.record.get('state')}, not finished")
    submitted = ledger.submissions(root, found.deploy["deploy_id"])
    host = cluster or (found.cluster if found.cluster != "local" else None)
    if host is None:
        raise SweepopsError(
            f"run {run_id} ran on this machine; name a cluster with --cluster HOST",
        )
    origin = submitted.get(found.cluster) or submitted.get(host)
    if origin is None:
        raise SweepopsError(
            f"deploy {found.deploy['deploy_id']} recorded no code snapshot on a cluster",
            hint="reproduce needs the snapshot a cluster deploy made (LAB/code/KEY)",
        )
    notes = []
    prefix = origin.get("env_prefix") or ""
    at_deploy, latest = env_hashes(root, found.deploy["deploy_id"], host, prefix)
    if at_deploy is None:
        notes.append(
            f"no env hash was recorded for {prefix or 'the env'} on {host} at deploy time; "
            "proceeding with the same env prefix"
        )
    elif latest != at_deploy:
        raise SweepopsError(
            f"the env {prefix} on {host} changed since deploy {found.deploy['deploy_id']}: "
            f"package-list hash {at_deploy[:12]} then, {str(latest)[:12]} now",
            hint="the run would not be exact; restore the env or re-run the experiment",
        )
    meta = found.sweep["meta"]
    repro_id = f"reproduce-{time.strftime('%Y%m%d-%H%M%S')}-{new_id(4)}"
    extra = {k: v for k, v in meta.items() if k not in ("id", "name", "tags", "config")}
    extra.update({"deploy_id": repro_id, "reproduces": run_id})
    new_meta = sweep_meta(
        config=one_run_config(meta["config"], found.record["params"]),
        name=f"{found.sweep['name']}-reproduce",
        tags=[*meta.get("tags", []), "reproduce"],
        extra=extra,
    )
    deploy = {
        "deploy_id": repro_id,
        "experiment": found.deploy["experiment"],
        "commit": found.deploy.get("commit"),
        # the same snapshot: its uncommitted changes are the original deploy's stored diff
        "dirty_files": found.deploy.get("dirty_files") or [],
        "diff_of": found.deploy.get("diff_of") or found.deploy["deploy_id"],
        "reproduces": {"run_id": run_id, "deploy_id": found.deploy["deploy_id"]},
        "time": time.time(),
        "sweeps": [
            {
                "id": new_meta["id"],
                "name": new_meta["name"],
                "tags": new_meta["tags"],
                "agents": 1,
                "runs": 1,
                "meta": new_meta,
            }
        ],
    }
    expect = expected(root, found.deploy, origin)
    if not expect["env_digest"] and prefix:
        notes.append(
            f"deploy {found.deploy['deploy_id']} recorded no env fingerprint for {host}; "
            "the env's files are not compared"
        )
    return {
        "found": found,
        "host": host,
        "deploy": deploy,
        "snapshot_key": Path(origin["snapshot_dir"]).name,
        "agent_key": Path(origin["agent_dir"]).name,
        "env_prefix": prefix,
        "expect": expect,
        "notes": notes,
    }


def _as_bool(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def expected(root: Path, deploy: dict[str, Any], origin: dict[str, Any]) -> dict[str, Any]:
    """What the cluster must still have for an exact re-run, from the deploy's records: the
    env fingerprint and image digest of its ``submitted`` record, the snapshot and agent
    keys, and what rebuilds the snapshot (commit, stored diff)."""
    # a reproduction's snapshot is its original deploy's, and so is the diff
    diff_of = deploy.get("diff_of") or deploy["deploy_id"]
    diff_path = paths.dirty_diff(root, diff_of)
    return {
        "deploy_id": deploy["deploy_id"],
        "env_path": origin.get("env_path") or "",
        "env_content_hash": _as_bool(origin.get("env_content_hash")),
        "env_digest": origin.get("env_digest") or "",
        "container_image": origin.get("container_image") or "",
        "container_digest": origin.get("container_digest") or "",
        "snapshot_key": Path(origin["snapshot_dir"]).name,
        "agent_key": Path(origin["agent_dir"]).name,
        "commit": deploy.get("commit") or "",
        "dirty": bool(deploy.get("dirty_files")),
        "diff_path": str(diff_path),
    }


def changes(expect: dict[str, Any], observed: dict[str, Any], host: str) -> list[str]:
    """What differs on ``host`` from what the deploy recorded (env fingerprint, container
    image digest), one sentence each; empty when the run can be reproduced exactly.
    ``observed``: ``env`` (the cluster's sweepops_env_manifest answer) and ``image`` (its
    sweepops_image_digest answer), each empty when not asked."""
    out = []
    deploy_id = expect["deploy_id"]
    if expect.get("env_digest"):
        env = observed.get("env") or {}
        path = expect["env_path"]
        if not env.get("exists"):
            out.append(f"the env {path} is gone from {host} (deploy {deploy_id} ran with it)")
        elif env.get("digest") != expect["env_digest"]:
            out.append(
                f"the env {path} on {host} changed since deploy {deploy_id}: fingerprint "
                f"{expect['env_digest'][:12]} then, {str(env.get('digest'))[:12]} now"
                + _env_files_changed(expect, env)
            )
    if expect.get("container_digest"):
        image = observed.get("image") or {}
        path = expect["container_image"]
        if not image.get("exists"):
            out.append(f"the container image {path} is gone from {host}")
        elif image.get("sha256") != expect["container_digest"]:
            now_ = str(image.get("sha256"))[:12]
            out.append(
                f"the container image {path} on {host} changed since deploy {deploy_id}: "
                f"sha256 {expect['container_digest'][:12]} then, {now_} now"
            )
    return out


def _env_files_changed(expect: dict[str, Any], remote: dict[str, Any]) -> str:
    """Which files differ, when the workstation's copy of the env is still the one the
    deploy fingerprinted (then it stands for the cluster's copy as it was); else ""."""
    from sweepops.artifacts import envsync

    try:
        local = envsync.manifest(expect["env_path"], content=bool(expect["env_content_hash"]))
    except OSError:
        return ""
    if envsync.digest(local) != expect["env_digest"] or not remote.get("entries"):
        return ""
    return f" ({envsync.drift(local, remote['entries']).describe(limit=10)})"


CHANGED_HINT = (
    "the run would not be exact. Restore what changed (the env as it was at the deploy: "
    "`sweepops provision CLUSTER` syncs the workstation's copy; the image: the one whose "
    "sha256 the ledger records), or re-run the experiment with a new deploy"
)


def verify(
    root: Path,
    expect: dict[str, Any],
    observed: dict[str, Any],
    *,
    host: str,
    rebuild_dir: Path,
    deploy_id: str,
) -> dict[str, Any]:
    """Decide on what ``reproduce.yml`` saw on the cluster. Raises SweepopsError when the
    env or image changed, or when a gone snapshot/agent cannot be restored exactly.
    Returns ``{"sync": bool, "snapshot": code_sync_snapshot or {}, "rebuilt": bool,
    "runtime": code_sync_runtime or {}}``: what the ``code_sync`` role must put back.
    ``observed``: ``env``, ``image``, ``snapshot_present``, ``agent_present`` and
    ``agent_is_runtime`` (LAB/agent/KEY has the runtime's ``runtime.json``)."""
    from sweepops.artifacts.agent_runtime import cache_dir, runtime_files
    from sweepops.artifacts.snapshot import write_file_list

    problems = changes(expect, observed, host)
    if problems:
        raise SweepopsError("cannot reproduce exactly: " + "; ".join(problems), hint=CHANGED_HINT)
    snapshot_there = bool(observed.get("snapshot_present"))
    agent_there = bool(observed.get("agent_present"))
    if (
        agent_there
        and "agent_is_runtime" in observed
        and not _as_bool(observed["agent_is_runtime"])
    ):
        # LAB/agent/KEY of a deploy made before agent runtimes: the sweepops package that
        # jobs put on PYTHONPATH. Today's job script runs `python -s DIR agent`, which it is
        # not (no __main__.py, no sweep engine): the job would die at its first line.
        raise SweepopsError(
            f"cannot reproduce exactly: the agent {expect['agent_key']} of deploy "
            f"{expect['deploy_id']} on {host} is a sweepops package from before agent "
            "runtimes, which this sweepops' job script cannot run",
            hint="re-run the experiment with a new deploy (its runs are then reproducible)",
        )
    if snapshot_there and agent_there:
        return {"sync": False, "snapshot": {}, "rebuilt": False, "runtime": {}}
    key, agent_key = expect["snapshot_key"], expect["agent_key"]
    state = paths.snapshots_dir(root)
    # The agent's runtime is content-addressed: the workstation's cache has it by its key.
    runtime = cache_dir(root) / agent_key
    if not agent_there and not (runtime / "runtime.json").is_file():
        raise SweepopsError(
            f"the agent runtime {agent_key} of deploy {expect['deploy_id']} is gone from {host}, "
            f"and this machine's cache has no copy ({runtime})",
            hint="reproduce from the workstation that made that deploy, or re-run the experiment",
        )
    files_from = state / f"{key}.files"
    rebuilt = False
    code_dir = root
    if not snapshot_there:
        from sweepops.artifacts.rebuild import rebuild

        diff = None
        if expect.get("dirty"):
            path = Path(expect["diff_path"])
            if not path.is_file():
                raise SweepopsError(
                    f"the snapshot {key} is gone from {host}, and the diff of deploy "
                    f"{expect['deploy_id']}'s uncommitted changes is missing ({path})",
                    hint="restore that file (or LAB/code/KEY on the cluster), or re-run",
                )
            diff = path.read_text(errors="surrogateescape")
        made = rebuild(root, expect["commit"], diff, key, rebuild_dir)
        write_file_list(made.files, files_from)
        code_dir, rebuilt = made.path, True
    synced_runtime: dict[str, Any] = {}
    if not agent_there:
        agent_list = runtime.parent / f"{agent_key}.files"
        write_file_list(runtime_files(runtime), agent_list)
        synced_runtime = {"key": agent_key, "src": str(runtime), "files_from": str(agent_list)}
    return {
        "sync": True,
        "rebuilt": rebuilt,
        "snapshot": {
            "key": key,
            "code_dir": str(code_dir),
            "files_from": str(files_from),
            "ancestors": [],
            "deploy_id": deploy_id,
        },
        "runtime": synced_runtime,
    }


def cmd_reproduce(args: argparse.Namespace) -> int:
    from sweepops.ansible.runner import collect
    from sweepops.ansible.view import short_view
    from sweepops.core.paths import deploy_log
    from sweepops.results.gather import gather

    p = plan(args.root, args.run_id, args.cluster)
    for note in p["notes"]:
        print(f"note: {note}", file=sys.stderr)
    deploy, host = p["deploy"], p["host"]
    expect = p["expect"]
    rebuild_dir = Path(tempfile.mkdtemp(prefix="sweepops-rebuild-")) / expect["snapshot_key"]
    extravars = {
        "sweepops_target": host,
        "sweepops_deploy": deploy,
        "sweepops_root": str(args.root),
        "snapshot_key": p["snapshot_key"],
        "agent_key": p["agent_key"],
        "reproduce_expect": expect,
        "reproduce_rebuild_dir": str(rebuild_dir),
        # the image the run had (none if it had none), whatever the inventory says now
        "container_image": expect["container_image"],
        **({"env_prefix": p["env_prefix"]} if p["env_prefix"] else {}),
    }
    # the short view of each stage (on stderr with --json: stdout carries the JSON alone),
    # the whole Ansible log kept with the new deploy's own
    log = deploy_log(args.root, deploy["deploy_id"])
    view = short_view(
        log,
        verbose=args.verbose,
        no_color=args.no_color,
        stream=sys.stderr if args.json else sys.stdout,
    )
    try:
        res = collect(
            args.root, "playbooks/reproduce.yml", extravars, inventory=args.inventory, view=view
        ).get(host)
    finally:
        shutil.rmtree(rebuild_dir.parent, ignore_errors=True)
    if not res or res.get("failed"):
        msg = (res or {}).get("msg") or f"{host} did not answer (is it in the inventory?)"
        raise SweepopsError(
            f"could not submit the reproduction on {host}: {msg}", hint=f"the whole log: {log}"
        )
    # the sbatch role recorded the new deploy and its submission (steps.record), as a deploy's
    info = res.get("submission")
    if not info:
        raise SweepopsError(f"reproduce.yml on {host} said nothing of a submission: {res}")
    found = p["found"]
    if info.get("rebuilt"):
        print(
            f"the snapshot {p['snapshot_key']} was gone from {host}: rebuilt from commit "
            f"{str(expect['commit'])[:12]}"
            + (" and the stored diff" if expect["dirty"] else "")
            + ", tree hash checked, synced again",
            file=sys.stderr,
        )
    # With --json, stdout carries the JSON alone: what is said on the way goes to stderr.
    say = sys.stderr if args.json else sys.stdout
    print(
        f"reproducing run {args.run_id} (sweep {found.sweep['name']}, deploy "
        f"{found.deploy['deploy_id']}) on {host}: snapshot {info['snapshot_dir']}, "
        f"job {next(iter(info['jobs'].values()), '-')}, deploy {deploy['deploy_id']}",
        file=say,
    )
    if not args.wait:
        print(
            f"results: sweepops results {deploy['experiment']} --deploy {deploy['deploy_id']}",
            file=say,
        )
        if args.json:
            submitted = {
                "run_id": args.run_id,
                "deploy_id": deploy["deploy_id"],
                "host": host,
                "job": next(iter(info["jobs"].values()), None),
                "snapshot_dir": info["snapshot_dir"],
            }
            print(json.dumps(submitted))
        return 0
    from sweepops.core.progress import Progress

    bar = Progress("reproduce", 1)
    deadline = time.monotonic() + args.timeout
    while True:
        rows, _metric, _ = gather(
            args.root,
            deploy,
            inventory=args.inventory,
            progress=Progress("fetch", stream=io.StringIO(), tty=False),
        )
        done = [r for r in rows if r["state"] in ("finished", "failed", "crashed")]
        bar.update(len(done), message=f"run(s) done on {host}")
        if done or time.monotonic() > deadline:
            break
        time.sleep(3)
    bar.close()
    if not done:
        raise SweepopsError(f"the reproduction did not finish in {args.timeout:.0f}s")
    metric_name = (found.sweep["meta"]["config"].get("metric") or {}).get("name")
    from sweepops.results.rows import lookup

    before = lookup(found.record.get("summary") or {}, metric_name) if metric_name else None
    after = lookup(done[0]["summary"], metric_name) if metric_name else None
    out = {
        "run_id": args.run_id,
        "reproduction": done[0]["run_id"],
        "state": done[0]["state"],
        "metric": metric_name,
        "original": before,
        "reproduced": after,
        "same": before == after,
    }
    print(json.dumps(out) if args.json else f"{metric_name}: {before} then, {after} now")
    return 0 if done[0]["state"] == "finished" else 1
