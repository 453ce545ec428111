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
    tasks.
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
      comment).
    type: str
    required: true
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


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "script_content": {"type": "str"},
            "src": {"type": "path"},
            "dest": {"type": "path", "required": True},
            "deploy_id": {"type": "str", "required": True},
            "sweep_id": {"type": "str", "required": True},
            "logs_dir": {"type": "path"},
            "sweep_meta": {"type": "dict"},
            "sweeps_dir": {"type": "path"},
            "validate": {"type": "bool", "default": True},
            "sbatch": {"type": "str", "default": "sbatch"},
        },
        required_by={"sweep_meta": ("sweeps_dir",)},
        mutually_exclusive=[("script_content", "src")],
        required_one_of=[("script_content", "src")],
        supports_check_mode=True,
    )
    p = module.params
    dest = Path(p["dest"])
    sweep_id = p["sweep_id"]
    script = Path(p["src"]) if p["src"] else dest / f"{sweep_id}.sbatch"
    result: dict = {"script": str(script), "sweep_id": sweep_id, "job_id": "", "submitted": False}
    done = read_submitted(dest, sweep_id)
    meta = p["sweep_meta"]
    new_dir = bool(meta) and not os.path.isfile(
        os.path.join(p["sweeps_dir"] or "", str((meta or {}).get("id")), "sweep.json")
    )
    if new_dir:
        result["sweep_dir_created"] = True

    if module.check_mode:
        rewrite = False
        if p["script_content"] is not None:
            before = script.read_text() if script.is_file() else ""
            rewrite = before != p["script_content"]
            if rewrite and module._diff:
                result["diff"] = _diff(script, before, p["script_content"])
        if done is not None:
            result.update(job_id=str(done["job_id"]), submitted=True)
            module.exit_json(changed=rewrite or new_dir, **result)
        try:
            result["test_only"] = _validate_unwritten(script, p["script_content"], p["sbatch"])
        except SlurmError as exc:
            module.fail_json(msg=str(exc), stderr=exc.stderr, **result)
        result["msg"] = f"would submit {script} for sweep {sweep_id}"
        module.exit_json(changed=True, **result)

    changed = rewritten = False
    if new_dir:
        try:
            os.makedirs(p["sweeps_dir"], exist_ok=True)
            changed = materialise(p["sweeps_dir"], meta)
        except OSError as exc:
            module.fail_json(msg=f"cannot create the sweep directory in {p['sweeps_dir']}: {exc}")
    if p["logs_dir"]:
        try:
            os.makedirs(p["logs_dir"], mode=0o755, exist_ok=True)
        except OSError as exc:
            module.fail_json(msg=f"cannot create {p['logs_dir']}: {exc}", **result)
    if p["script_content"] is not None:
        try:
            rewritten, before = write_script(script, p["script_content"])
            changed = changed or rewritten
        except OSError as exc:
            module.fail_json(msg=f"cannot write {script}: {exc}", **result)
        if rewritten and module._diff:
            result["diff"] = _diff(script, before, p["script_content"])
    elif not script.is_file():
        module.fail_json(msg=f"{script}: no such batch script on {os.uname().nodename}", **result)
    try:
        job_id, submitted_now = submit_once(
            script,
            dest,
            p["deploy_id"],
            sweep_id,
            sbatch=p["sbatch"],
            validate=p["validate"] and done is None,
        )
    except SlurmError as exc:
        module.fail_json(msg=str(exc), stderr=exc.stderr, **result)
    result.update(job_id=job_id, submitted=True)
    if done is not None and rewritten:
        module.warn(
            f"{script} changed, but sweep {sweep_id} was already submitted as job {job_id}: "
            "the new script is not submitted (use a new deploy id to submit again)"
        )
    module.exit_json(changed=changed or submitted_now, **result)


if __name__ == "__main__":
    main()
