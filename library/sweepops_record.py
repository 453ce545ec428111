#!/usr/bin/python
"""Ansible module: record what a deploy submitted, and say it (wrapper over sweepops.ledger)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: sweepops_record
short_description: Append a deploy's submissions to the experiment ledger and summarise them
description:
  - Appends one C(submitted) record per deploy to C(ROOT/.sweepops/ledger.jsonl) and writes
    C(ROOT/.sweepops/deploys/DEPLOY_ID/summary.json) and C(summary.txt).
  - Recording the same submissions again changes nothing.
options:
  root:
    description: The sweepops repository.
    type: path
    required: true
  deploy_id:
    description: The deploy.
    type: str
    required: true
  clusters:
    description:
      - Per cluster host, what was submitted there
        (login, lab_root, snapshot_dir, agent_dir, env_prefix, jobs).
    type: dict
    required: true
author: sweepops
"""

RETURN = r"""
summary:
  description: Lines saying, per sweep, its jobs per cluster and how to run one agent by hand.
  returned: always
  type: list
  elements: str
"""

import json
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "root": {"type": "path", "required": True},
            "deploy_id": {"type": "str", "required": True},
            "clusters": {"type": "dict", "required": True},
        },
        supports_check_mode=True,
    )
    from sweepops import ledger

    root = Path(module.params["root"])
    deploy_id = module.params["deploy_id"]
    clusters = module.params["clusters"]
    deploy = ledger.find_deploy(root, deploy_id)
    if deploy is None:
        if module.check_mode:
            module.exit_json(
                changed=False, summary=[f"deploy {deploy_id} (check mode: nothing recorded)"]
            )
        module.fail_json(msg=f"deploy {deploy_id} is not in the ledger {ledger.ledger_path(root)}")
    lines = ledger.summary(deploy, clusters)
    if module.check_mode:
        module.exit_json(changed=False, summary=lines)
    changed = ledger.record_submission(root, deploy_id, clusters)
    if changed:
        from sweepops import journal

        journal.append_deploy(root, deploy)  # the entry now names the jobs
    out = root / ".sweepops" / "deploys" / deploy_id
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(
        json.dumps({"deploy": deploy, "clusters": clusters}, indent=1)
    )
    (out / "summary.txt").write_text("\n".join(lines) + "\n")
    module.exit_json(changed=changed, summary=lines)


if __name__ == "__main__":
    main()
