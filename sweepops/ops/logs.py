"""``sweepops logs EXP [RUN_ID|JOB_ID] [-f]``: a run's or a job's log, wherever it ran.

Without an id it lists the deploy's logs (this machine's runs, then each cluster's runs and
job tasks). With one it prints that log (the last MiB of a long one); ``-f`` follows it until
the run or job has ended. Clusters are read through ``playbooks/logs.yml``
(``library/sweepops_log.py``), so the user never needs to know the lab layout.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from sweepops.core.errors import SweepopsError
from sweepops.records import ledger
from sweepops.remote.log_lookup import find_log, list_logs, read_from

#: Seconds between two reads of a followed log (a cluster read costs an ssh round trip).
FOLLOW_POLL = 2.0


def _ask(
    root: Path,
    deploy: dict[str, Any],
    inventory: list[str],
    target: str,
    offset: int,
    hosts: list[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Each cluster's answer of ``sweepops_log`` (or ``{"failed": True, "msg": ...}``)."""
    from sweepops.ansible.runner import collect

    submitted = ledger.submissions(root, deploy["deploy_id"])
    targets = {
        host: {
            "lab_root": info["lab_root"],
            "deploy_id": deploy["deploy_id"],
            "sweep_ids": [s["id"] for s in deploy["sweeps"]],
        }
        for host, info in submitted.items()
        if hosts is None or host in hosts
    }
    if not targets:
        return {}
    answers = collect(
        root,
        "playbooks/logs.yml",
        {"sweepops_targets": targets, "log_target": target, "log_offset": offset},
        inventory=[*inventory, *ledger.inventories_of(root, deploy["deploy_id"])],
    )
    for host in targets:
        answers.setdefault(host, {"failed": True, "msg": ledger.unknown_host_message(host)})
    return answers


def _local_dirs(deploy: dict[str, Any]) -> dict[str, str]:
    return {s["id"]: s["dir"] for s in deploy["sweeps"] if s.get("dir")}


def _list(root: Path, deploy: dict[str, Any], inventory: list[str]) -> int:
    rows = [("local", e) for e in list_logs(_local_dirs(deploy)) if e["exists"]]
    for host, res in sorted(_ask(root, deploy, inventory, "", -1).items()):
        if res.get("failed"):
            print(f"sweepops: {host}: cannot list its logs: {res.get('msg')}", file=sys.stderr)
            continue
        rows += [(host, e) for e in res.get("logs") or []]
    if not rows:
        print(f"deploy {deploy['deploy_id']} has no logs yet")
        return 0
    print(f"{'where':<16} {'kind':<4} {'id':<14} {'state':<10} log")
    for where, e in rows:
        print(f"{where:<16} {e['kind']:<4} {e['id']:<14} {e.get('state') or '-':<10} {e['path']}")
    print(f"show one: sweepops logs {deploy['experiment']} ID [-f]")
    return 0


def _follow_local(found: dict[str, Any], sweep_dirs: dict[str, str], follow: bool) -> int:
    text, offset, _ = read_from(found["path"], -1)
    sys.stdout.write(text)
    sys.stdout.flush()
    while follow:
        again = find_log(found["id"], sweep_dirs) or found
        text, offset, _ = read_from(found["path"], offset)
        sys.stdout.write(text)
        sys.stdout.flush()
        if not text and again.get("state") not in ("running", "pending"):
            break
        if not text:
            time.sleep(FOLLOW_POLL / 4)
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    from sweepops.ops.which_deploy import deploy_for

    deploy = deploy_for(args.root, args.exp, args.deploy)
    if not args.id:
        return _list(args.root, deploy, args.inventory)
    sweep_dirs = _local_dirs(deploy)
    found = find_log(args.id, sweep_dirs)
    if found is not None:
        print(f"==> {found['path']} (run {found['id']}, {found.get('state')}) <==", file=sys.stderr)
        return _follow_local(found, sweep_dirs, args.follow)
    answers = _ask(args.root, deploy, args.inventory, args.id, -1)
    host, res = next(((h, r) for h, r in sorted(answers.items()) if r.get("found")), ("", {}))
    if not host:
        broken = [f"{h}: {r.get('msg')}" for h, r in sorted(answers.items()) if r.get("failed")]
        raise SweepopsError(
            f"deploy {deploy['deploy_id']} has no run or job {args.id!r} on this machine"
            + (f" or on {', '.join(sorted(answers))}" if answers else "")
            + (f" (could not ask {'; '.join(broken)})" if broken else ""),
            hint=f"`sweepops logs {deploy['experiment']}` lists its runs and jobs",
        )
    found = res["found"]
    state = found.get("state") or "-"
    tasks = found.get("tasks") or []
    more = f"; the job's tasks: {', '.join(tasks)}" if len(tasks) > 1 else ""
    print(
        f"==> {host}:{found['path']} ({found['kind']} {found['id']}, {state}){more} <==",
        file=sys.stderr,
    )
    sys.stdout.write(res.get("text") or "")
    sys.stdout.flush()
    offset, live = int(res.get("offset") or 0), bool(res.get("live"))
    while args.follow and live:
        time.sleep(FOLLOW_POLL)
        got = _ask(args.root, deploy, args.inventory, found["id"], offset, hosts=[host]).get(host)
        if not got or got.get("failed"):
            raise SweepopsError(f"lost {host} while following: {(got or {}).get('msg')}")
        sys.stdout.write(got.get("text") or "")
        sys.stdout.flush()
        offset, live = int(got.get("offset") or offset), bool(got.get("live"))
    return 0
