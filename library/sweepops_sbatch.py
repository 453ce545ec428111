#!/usr/bin/python
"""Ansible module: write a sweep's batch script and submit it once (over sweepops.remote.slurm)."""

from __future__ import annotations

# BEGIN DOCUMENTATION, generated from its spec sweepops.remote.sbatch_spec.SPEC:
# edit the spec, then run `python -m sweepops.ansible.docgen --write`.

DOCUMENTATION = r"""
module: sweepops_sbatch
short_description: Submit a sweep's agent job array to Slurm, at most
  once
description:
  - Writes the batch script to C(DEST/SWEEP_ID.sbatch) (mode 0755,
    changed only if its content differs, with a diff in diff mode),
    unless I(src) names a script already rendered on the host; creates
    I(logs_dir) first. One call per sweep does what used to take three
    tasks; I(sweeps) submits all of a deploy's sweeps in one call.
  - Submits it with C(sbatch --parsable) after writing a record of
    intent, and records the job id in C(DEST/SWEEP_ID.submitted.json).
    A sweep already submitted is left alone; an attempt that crashed
    between sbatch and the record adopts the job carrying the comment
    C(sweepops:DEPLOY_ID:SWEEP_ID) instead of submitting again.
  - In check mode nothing is written or submitted; C(sbatch --test-only)
    validates the script (partition, GRES, limits) when it exists
    on the host.
  - Runs on the cluster's login node with the Python standard library
    only.
options:
  script_content:
    description: The batch script's text. Mutually exclusive with
      I(src).
    type: str
  src:
    description: Path on the host of a script already rendered. Mutually
      exclusive with I(script_content).
    type: path
  dest:
    description: The deploy's directory on the cluster (C(LAB/deploys/DEPLOY_ID));
      holds the scripts and the submission records.
    type: path
    required: true
  deploy_id:
    description: The deploy's id (part of the job comment).
    type: str
    required: true
  sweep_id:
    description: The sweep's id (names the files, part of the job
      comment); required with I(script_content) or I(src).
    type: str
  sweeps:
    description: 'All of a deploy''s sweeps on this host, submitted
      in this one call (one round trip): items with C(sweep_id), C(script_content)
      (or C(src)) and optionally C(sweep_meta) and C(sweeps_dir),
      each as the single-sweep options; one intent record per sweep
      before its sbatch, adoption on retry. C(sbatch --test-only)
      (I(validate)) runs for the first sweep not yet submitted only.
      Mutually exclusive with I(script_content) and I(src).'
    type: list
    elements: dict
  template:
    description: 'With I(sweeps) as the deploy''s sweep records (C(id),
      C(dir), C(meta)): the batch script template, rendered on the
      workstation for each sweep with it as C(sbatch_sweep) by the
      action plugin (action_plugins/sweepops_sbatch.py), which then
      calls this module once with the rendered items.'
    type: path
  create_sweep_dirs:
    description: 'With I(template): pass each sweep''s C(meta) as
      its I(sweep_meta), so its directory is made before the submission.'
    type: bool
    default: true
  logs_dir:
    description: Directory the script's C(--output) goes to (Slurm
      does not create it); created (mode 0755) before the submission
      when given.
    type: path
  sweep_meta:
    description: The sweep's C(meta) (from C(sweepops_sweeps)) when
      its agents need a sweep directory (offline sweeps); it is created
      as C(SWEEPS_DIR/ID) before the submission unless it exists,
      so the jobs never start without it.
    type: dict
  sweeps_dir:
    description: Where sweep directories live (C(LAB_ROOT/sweeps));
      required with I(sweep_meta).
    type: path
  validate:
    description: Run C(sbatch --test-only) before a real submission.
    type: bool
    default: true
  sbatch:
    description: The sbatch command.
    type: str
    default: sbatch
author: sweepops
"""

EXAMPLES = r"""
- name: Submit the sweep's agents
  sweepops_sbatch:
    script_content: "{{ lookup('ansible.builtin.template', 'agent.sbatch.j2') }}"
    dest: /srv/lab/deploys/d1
    deploy_id: d1
    sweep_id: abc123
"""

RETURN = r"""
results:
  description: 'With I(sweeps): one result per sweep in their order
    (sweep_id, job_id, script, submitted, changed, as below).'
  returned: with sweeps
  type: list
sweep_dir_created:
  description: True when the sweep directory was created (or would
    be, in check mode).
  returned: when created
  type: bool
job_id:
  description: The Slurm (array) job id; empty in check mode when
    nothing was submitted yet.
  returned: always
  type: str
script:
  description: Path of the batch script on the host.
  returned: always
  type: str
submitted:
  description: Whether the job is now submitted (false in check mode
    for a new sweep).
  returned: always
  type: bool
test_only:
  description: The C(sbatch --test-only) message, when the script
    was validated.
  returned: when validated
  type: str
"""
# END DOCUMENTATION

import os
import tempfile
from pathlib import Path
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.sweepops_slurm import (
    SlurmError,
    read_submitted,
    submit_once,
    validate_script,
    write_script,
)
from ansible.module_utils.sweepops_sweep_layout import materialise


def _diff(script: Path, before: str, after: str) -> dict[str, Any]:
    return {
        "before": before,
        "after": after,
        "before_header": str(script),
        "after_header": str(script),
    }


def _validate_unwritten(script: Path, content: str | None, sbatch: str) -> str | None:
    """``sbatch --test-only`` of the script as it would be written, leaving no trace."""
    if content is None:
        return validate_script(script, sbatch=sbatch) if script.is_file() else None
    with tempfile.TemporaryDirectory(prefix="sweepops-sbatch-") as tmp:
        probe = Path(tmp) / script.name
        probe.write_text(content)
        return validate_script(probe, sbatch=sbatch)


class _Failed(Exception):
    """One sweep's submission failed: ``fail_json``'s fields."""

    def __init__(self, fields: dict[str, Any]) -> None:
        super().__init__(fields.get("msg", ""))
        self.fields = fields


def _one(
    module: AnsibleModule, common: dict[str, Any], item: dict[str, Any], validate: bool
) -> dict[str, Any]:
    """Write (unless ``src``) and submit once one sweep's script; its result, with ``changed``.

    ``common`` holds dest, deploy_id, logs_dir, sbatch; ``item`` holds sweep_id,
    script_content or src, sweep_meta, sweeps_dir. Raises :class:`_Failed`.
    """
    dest = Path(common["dest"])
    sweep_id = item["sweep_id"]
    content = item.get("script_content")
    script = Path(item["src"]) if item.get("src") else dest / f"{sweep_id}.sbatch"
    result: dict = {"script": str(script), "sweep_id": sweep_id, "job_id": "", "submitted": False}
    done = read_submitted(dest, sweep_id)
    meta = item.get("sweep_meta")
    sweeps_dir = item.get("sweeps_dir") or ""
    new_dir = bool(meta) and not os.path.isfile(
        os.path.join(sweeps_dir, str((meta or {}).get("id")), "sweep.json")
    )
    if new_dir:
        result["sweep_dir_created"] = True

    if module.check_mode:
        rewrite = False
        if content is not None:
            before = script.read_text() if script.is_file() else ""
            rewrite = before != content
            if rewrite and module._diff:
                result["diff"] = _diff(script, before, content)
        if done is not None:
            result.update(job_id=str(done["job_id"]), submitted=True)
            return {**result, "changed": rewrite or new_dir}
        if validate:
            try:
                result["test_only"] = _validate_unwritten(script, content, common["sbatch"])
                result["validated"] = True
            except SlurmError as exc:
                raise _Failed({"msg": str(exc), "stderr": exc.stderr, **result}) from exc
        result["msg"] = f"would submit {script} for sweep {sweep_id}"
        return {**result, "changed": True}

    changed = rewritten = False
    if new_dir:
        try:
            os.makedirs(sweeps_dir, exist_ok=True)
            changed = materialise(sweeps_dir, meta)
        except OSError as exc:
            raise _Failed(
                {"msg": f"cannot create the sweep directory in {sweeps_dir}: {exc}"}
            ) from exc
    if common["logs_dir"]:
        try:
            os.makedirs(common["logs_dir"], mode=0o755, exist_ok=True)
        except OSError as exc:
            raise _Failed({"msg": f"cannot create {common['logs_dir']}: {exc}", **result}) from exc
    if content is not None:
        try:
            rewritten, before = write_script(script, content)
            changed = changed or rewritten
        except OSError as exc:
            raise _Failed({"msg": f"cannot write {script}: {exc}", **result}) from exc
        if rewritten and module._diff:
            result["diff"] = _diff(script, before, content)
    elif not script.is_file():
        raise _Failed({"msg": f"{script}: no such batch script on {os.uname().nodename}", **result})
    try:
        job_id, submitted_now = submit_once(
            script,
            dest,
            common["deploy_id"],
            sweep_id,
            sbatch=common["sbatch"],
            validate=validate and done is None,
        )
    except SlurmError as exc:
        raise _Failed({"msg": str(exc), "stderr": exc.stderr, **result}) from exc
    result.update(job_id=job_id, submitted=True, validated=validate and done is None)
    if done is not None and rewritten:
        module.warn(
            f"{script} changed, but sweep {sweep_id} was already submitted as job {job_id}: "
            "the new script is not submitted (use a new deploy id to submit again)"
        )
    return {**result, "changed": changed or submitted_now}


def _batch(module: AnsibleModule, common: dict[str, Any], sweeps: list[dict[str, Any]]) -> None:
    """All of a deploy's sweeps in one call (one round trip): ``results`` in their order.

    ``sbatch --test-only`` (with I(validate)) runs for the first sweep not yet submitted only:
    the scripts differ in the sweep, not in the resources, which the cluster probe checked.
    A failure stops there; the sweeps before it stay submitted (and recorded on the host), so
    a retry adopts or skips them and submits nothing twice.
    """
    results: list[dict[str, Any]] = []
    validate = bool(module.params["validate"])
    for item in sweeps:
        if not item.get("sweep_id") or (item.get("script_content") is None and not item.get("src")):
            module.fail_json(
                msg="each item of sweeps needs sweep_id and script_content (or src)",
                results=results,
            )
        try:
            res = _one(module, common, item, validate)
        except _Failed as exc:
            module.fail_json(results=results, **{**exc.fields, "sweep_id": item["sweep_id"]})
        if res.pop("validated", False):
            validate = False
        results.append(res)
    module.exit_json(changed=any(r["changed"] for r in results), results=results)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "script_content": {"type": "str"},
            "src": {"type": "path"},
            "sweeps": {"type": "list", "elements": "dict"},
            "dest": {"type": "path", "required": True},
            "deploy_id": {"type": "str", "required": True},
            "sweep_id": {"type": "str"},
            # rendered away by the action plugin (action_plugins/sweepops_sbatch.py)
            "template": {"type": "path"},
            "create_sweep_dirs": {"type": "bool", "default": True},
            "logs_dir": {"type": "path"},
            "sweep_meta": {"type": "dict"},
            "sweeps_dir": {"type": "path"},
            "validate": {"type": "bool", "default": True},
            "sbatch": {"type": "str", "default": "sbatch"},
        },
        required_by={
            "sweep_meta": ("sweeps_dir",),
            "script_content": ("sweep_id",),
            "src": ("sweep_id",),
        },
        mutually_exclusive=[("script_content", "src", "sweeps")],
        required_one_of=[("script_content", "src", "sweeps")],
        supports_check_mode=True,
    )
    p = module.params
    common = {k: p[k] for k in ("dest", "deploy_id", "logs_dir", "sbatch")}
    if p["sweeps"] is not None:
        _batch(module, common, p["sweeps"])
    item = {k: p[k] for k in ("sweep_id", "script_content", "src", "sweep_meta", "sweeps_dir")}
    try:
        # check mode always validates a single sweep's script (as before I(sweeps) existed)
        res = _one(module, common, item, module.check_mode or bool(p["validate"]))
    except _Failed as exc:
        module.fail_json(**exc.fields)
    res.pop("validated", None)
    module.exit_json(**res)


if __name__ == "__main__":
    main()
