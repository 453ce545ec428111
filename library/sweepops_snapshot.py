#!/usr/bin/python
"""Ansible module: what a deploy syncs (a thin wrapper over sweepops.snapshot). Run on localhost."""

from __future__ import annotations

DOCUMENTATION = r"""
module: sweepops_snapshot
short_description: Compute the content-keyed code snapshot and agent package a deploy syncs
description:
  - Runs on the workstation (C(delegate_to: localhost)). Computes the git tree hash of
    I(code_dir)'s working tree as git would commit it (C(.gitignore) honoured) and writes
    the list of its files for C(rsync --files-from --from0) under I(state_dir)C(/snapshots/).
  - A dirty tree (modified, deleted or untracked non-ignored files) fails with the list of
    changed files, unless I(allow_dirty); then the diff against HEAD is written to
    I(state_dir)C(/deploys/DEPLOY_ID/dirty.diff).
  - Also returns the installed C(sweepops) package (the offline agent the cluster runs) and
    the content hash of its C(*.py) files, with its own file list.
  - Never reports a change. In check mode the file lists are written (the dry-run rsync
    needs them) but the diff is not.
options:
  code_dir:
    description: The top level of the git repository to snapshot.
    type: path
    required: true
  allow_dirty:
    description: Snapshot a dirty working tree instead of failing; the diff is stored.
    type: bool
    default: false
  deploy_id:
    description: Id of this deploy (letters, digits, C(.), C(_), C(-)); generated when omitted.
    type: str
  state_dir:
    description: Where file lists and dirty diffs go (default C(CODE_DIR/.sweepops)).
    type: path
author: sweepops
"""

RETURN = r"""
key:
  description: Git tree hash of the snapshot (C(HEAD^{tree}) when clean).
  returned: always
  type: str
commit:
  description: HEAD's commit, null in a repository without commits.
  returned: always
  type: str
dirty:
  description: Whether the snapshot differs from HEAD.
  returned: always
  type: bool
dirty_files:
  description: Paths that differ from HEAD.
  returned: always
  type: list
  elements: str
ancestors:
  description: Trees of HEAD and its first-parent ancestors, candidates for rsync --link-dest.
  returned: always
  type: list
  elements: str
file_count:
  description: Number of files in the snapshot.
  returned: always
  type: int
files_from:
  description: NUL-separated file list of the snapshot (relative to I(code_dir)).
  returned: always
  type: str
diff_path:
  description: The stored diff against HEAD (not written in check mode).
  returned: when dirty
  type: str
deploy_id:
  description: The deploy id (given or generated).
  returned: always
  type: str
code_dir:
  description: The repository, as given.
  returned: always
  type: str
agent_dir:
  description: The installed sweepops package directory.
  returned: always
  type: str
agent_src:
  description: Its parent, the rsync source for I(agent_files_from).
  returned: always
  type: str
agent_hash:
  description: Content hash of the package's C(*.py) files.
  returned: always
  type: str
agent_files_from:
  description: NUL-separated list of the package's files relative to I(agent_src).
  returned: always
  type: str
"""

import re
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule

DEPLOY_ID = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "code_dir": {"type": "path", "required": True},
            "allow_dirty": {"type": "bool", "default": False},
            "deploy_id": {"type": "str"},
            "state_dir": {"type": "path"},
        },
        supports_check_mode=True,
    )
    try:
        from sweepops.errors import SweepopsError
        from sweepops.snapshot import (
            agent_files,
            agent_package,
            snapshot_of,
            write_file_list,
            write_manifest,
        )
    except ImportError as exc:
        module.fail_json(
            msg=f"the sweepops package is not importable by {module._name}'s Python: {exc}; "
            "install it (pip install -e .) into the Python that runs ansible-playbook"
        )
    p = module.params
    deploy_id = p["deploy_id"]
    if not deploy_id:
        # Only when none is given (the CLI always gives one): importing it costs ~0.2 s.
        from sweepops.sweeps_create import new_deploy_id

        deploy_id = new_deploy_id()
    if not DEPLOY_ID.match(deploy_id) or deploy_id in (".", ".."):
        module.fail_json(msg=f"deploy_id {deploy_id!r}: use letters, digits, '.', '_', '-' only")
    code_dir = Path(p["code_dir"])
    state_dir = Path(p["state_dir"]) if p["state_dir"] else code_dir / ".sweepops"
    try:
        snap = snapshot_of(code_dir, allow_dirty=p["allow_dirty"])
        files_from = state_dir / "snapshots" / f"{snap.key}.files"
        write_manifest(snap, files_from)
        agent_dir, agent_hash = agent_package()
        agent_files_from = state_dir / "snapshots" / f"agent-{agent_hash}.files"
        write_file_list(agent_files(agent_dir), agent_files_from)
    except (SweepopsError, OSError) as exc:
        module.fail_json(msg=str(exc))
    result = {
        "changed": False,
        "key": snap.key,
        "commit": snap.commit,
        "dirty": snap.dirty,
        "dirty_files": list(snap.dirty_files),
        "ancestors": list(snap.ancestors),
        "file_count": len(snap.files),
        "files_from": str(files_from),
        "deploy_id": deploy_id,
        "code_dir": str(code_dir),
        "agent_dir": str(agent_dir),
        "agent_src": str(agent_dir.parent),
        "agent_hash": agent_hash,
        "agent_files_from": str(agent_files_from),
    }
    if snap.dirty:
        diff_path = state_dir / "deploys" / deploy_id / "dirty.diff"
        if not module.check_mode:
            try:
                diff_path.parent.mkdir(parents=True, exist_ok=True)
                diff_path.write_text(snap.diff)
            except OSError as exc:
                module.fail_json(msg=f"cannot store the diff: {exc}")
        result["diff_path"] = str(diff_path)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
