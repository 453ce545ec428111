"""What library/sweepops_sbatch.py does on the login host (standard library only).

Writes each sweep's batch script (changed only if its text differs, with a diff), makes the
sweep's directory and the log directory, and submits each script once over
:func:`sweepops.remote.slurm.submit_once` (intent record before sbatch, adoption on retry).
One call holds one sweep (``script_content`` or ``src``) or all of a deploy's sweeps
(``sweeps``: one round trip, issue 17). Its spec is :data:`sweepops.remote.sbatch_spec.SPEC`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .module_spec import ModuleFailed, Params, Result
from .slurm import SlurmError, read_submitted, submit_once, validate_script, write_script
from .sweep_layout import materialise

COMMON = ("dest", "deploy_id", "logs_dir", "sbatch")


def _diff(script: Path, before: str, after: str) -> dict[str, Any]:
    return {"before": before, "after": after, "before_header": str(script),
            "after_header": str(script)}  # fmt: skip


def _validate_unwritten(script: Path, content: str | None, sbatch: str) -> str | None:
    """``sbatch --test-only`` of the script as it would be written, leaving no trace."""
    if content is None:
        return validate_script(script, sbatch=sbatch) if script.is_file() else None
    with tempfile.TemporaryDirectory(prefix="sweepops-sbatch-") as tmp:
        probe = Path(tmp) / script.name
        probe.write_text(content)
        return validate_script(probe, sbatch=sbatch)


def submit_one(
    common: Mapping[str, Any], item: Mapping[str, Any], validate: bool, check_mode: bool
) -> Result:
    """Write (unless ``src``) and submit once one sweep's script: its result, with ``changed``
    and ``validated`` (whether ``sbatch --test-only`` ran).

    ``common`` holds dest, deploy_id, logs_dir, sbatch; ``item`` holds sweep_id,
    script_content or src, and optionally sweep_meta and sweeps_dir. Raises
    :class:`ModuleFailed` (with the result so far).
    """
    dest = Path(common["dest"])
    sweep_id = item["sweep_id"]
    content = item.get("script_content")
    script = Path(item["src"]) if item.get("src") else dest / f"{sweep_id}.sbatch"
    result: Result = {"script": str(script), "sweep_id": sweep_id, "job_id": "",
                      "submitted": False, "validated": False}  # fmt: skip
    done = read_submitted(dest, sweep_id)
    meta = item.get("sweep_meta")
    sweeps_dir = item.get("sweeps_dir") or ""
    new_dir = bool(meta) and not os.path.isfile(
        os.path.join(sweeps_dir, str((meta or {}).get("id")), "sweep.json")
    )
    if new_dir:
        result["sweep_dir_created"] = True
    sbatch = common.get("sbatch") or "sbatch"

    if check_mode:
        rewrite = False
        if content is not None:
            before = script.read_text() if script.is_file() else ""
            rewrite = before != content
            if rewrite:
                result["diff"] = _diff(script, before, content)
        if done is not None:
            result.update(job_id=str(done["job_id"]), submitted=True)
            return {**result, "changed": rewrite or new_dir}
        if validate:
            try:
                result["test_only"] = _validate_unwritten(script, content, sbatch)
            except SlurmError as exc:
                raise ModuleFailed(str(exc), stderr=exc.stderr, **result) from exc
            result["validated"] = True
        result["msg"] = f"would submit {script} for sweep {sweep_id}"
        return {**result, "changed": True}

    changed = rewritten = False
    if new_dir:
        try:
            os.makedirs(sweeps_dir, exist_ok=True)
            changed = materialise(sweeps_dir, dict(meta or {}))
        except OSError as exc:
            raise ModuleFailed(f"cannot create the sweep directory in {sweeps_dir}: {exc}") from exc
    logs_dir = common.get("logs_dir")
    if logs_dir:
        try:
            os.makedirs(logs_dir, mode=0o755, exist_ok=True)
        except OSError as exc:
            raise ModuleFailed(f"cannot create {logs_dir}: {exc}", **result) from exc
    if content is not None:
        try:
            rewritten, before = write_script(script, content)
        except OSError as exc:
            raise ModuleFailed(f"cannot write {script}: {exc}", **result) from exc
        changed = changed or rewritten
        if rewritten:
            result["diff"] = _diff(script, before, content)
    elif not script.is_file():
        raise ModuleFailed(f"{script}: no such batch script on {os.uname().nodename}", **result)
    try:
        job_id, submitted_now = submit_once(
            script, dest, common["deploy_id"], sweep_id, sbatch=sbatch,
            validate=validate and done is None,
        )  # fmt: skip
    except SlurmError as exc:
        raise ModuleFailed(str(exc), stderr=exc.stderr, **result) from exc
    result.update(job_id=job_id, submitted=True, validated=validate and done is None)
    if done is not None and rewritten:
        result["warnings"] = [
            f"{script} changed, but sweep {sweep_id} was already submitted as job {job_id}: "
            "the new script is not submitted (use a new deploy id to submit again)"
        ]
    return {**result, "changed": changed or submitted_now}


def submit_all(common: Mapping[str, Any], sweeps: list[Mapping[str, Any]], validate: bool,
               check_mode: bool) -> Result:  # fmt: skip
    """All of a deploy's sweeps in one call (one round trip): ``results`` in their order.

    ``sbatch --test-only`` (with ``validate``) runs for the first sweep not yet submitted
    only: the scripts differ in the sweep, not in the resources, which the cluster probe
    checked. A failure stops there; the sweeps before it stay submitted (and recorded on the
    host), so a retry adopts or skips them and submits nothing twice.
    """
    results: list[Result] = []
    warnings: list[str] = []
    for item in sweeps:
        if not item.get("sweep_id") or (item.get("script_content") is None and not item.get("src")):
            raise ModuleFailed(
                "each item of sweeps needs sweep_id and script_content (or src)", results=results
            )
        try:
            res = submit_one(common, item, validate, check_mode)
        except ModuleFailed as exc:
            raise ModuleFailed(
                exc.msg, results=results, **{**exc.result, "sweep_id": item["sweep_id"]}
            ) from exc
        if res.pop("validated"):
            validate = False
        warnings += res.pop("warnings", [])
        results.append(res)
    out: Result = {"changed": any(r["changed"] for r in results), "results": results}
    if warnings:
        out["warnings"] = warnings
    return out


def submit(params: Params, check_mode: bool) -> Result:
    """The module: ``sweeps`` in one call, or the one sweep of ``script_content``/``src``."""
    common = {k: params.get(k) for k in COMMON}
    if params.get("sweeps") is not None:
        return submit_all(common, params["sweeps"], bool(params.get("validate", True)), check_mode)
    item = {k: params.get(k) for k in ("sweep_id", "script_content", "src", "sweep_meta",
                                       "sweeps_dir")}  # fmt: skip
    # check mode always validates a single sweep's script (as before sweeps existed)
    validate = check_mode or bool(params.get("validate", True))
    result = submit_one(common, item, validate, check_mode)
    result.pop("validated")
    return result
