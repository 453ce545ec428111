#!/usr/bin/python
"""Ansible module: what a deploy syncs (a thin wrapper over sweepops.artifacts.snapshot). Run
on localhost."""

from __future__ import annotations

# BEGIN DOCUMENTATION, generated from its spec sweepops.ansible.steps.SPECS:
# edit the spec, then run `python -m sweepops.ansible.docgen --write`.

DOCUMENTATION = r"""
module: sweepops_snapshot
short_description: Compute the content-keyed code snapshot a deploy
  syncs
description:
  - 'Runs on the workstation (C(delegate_to: localhost)). Computes
    the git tree hash of I(code_dir)''s working tree as git would
    commit it (C(.gitignore) honoured) and writes the list of its
    files for C(rsync --files-from --from0) under I(state_dir)C(/snapshots/).'
  - A dirty tree (modified, deleted or untracked non-ignored files)
    fails with the list of changed files, unless I(allow_dirty); then
    the diff against HEAD is written to I(state_dir)C(/deploys/DEPLOY_ID/dirty.diff).
  - Also returns the hash of the agent runtime's code and requirements
    (C(runtime_base)).
  - Never reports a change. In check mode the file lists are written
    (the dry-run rsync needs them) but the diff is not.
options:
  code_dir:
    description: The top level of the git repository to snapshot.
    type: path
    required: true
  allow_dirty:
    description: Snapshot a dirty working tree instead of failing;
      the diff is stored.
    type: bool
    default: false
  deploy_id:
    description: Id of this deploy (letters, digits, C(.), C(_), C(-));
      generated when omitted.
    type: str
  state_dir:
    description: Where file lists and dirty diffs go (default C(CODE_DIR/.sweepops)).
    type: path
  exp:
    description: The experiment (name or path). Its program (as the
      command runs it, see C(sweepops.experiment.program)) must be
      in the snapshot; one that git ignores or that is untracked fails,
      naming the file.
    type: str
author: sweepops
"""

RETURN = r"""
key:
  description: Git tree hash of the snapshot (C(HEAD^{tree}) when
    clean).
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
  description: Trees of HEAD and its first-parent ancestors, candidates
    for rsync --link-dest.
  returned: always
  type: list
  elements: str
file_count:
  description: Number of files in the snapshot.
  returned: always
  type: int
files_from:
  description: NUL-separated file list of the snapshot (relative to
    I(code_dir)).
  returned: always
  type: str
diff_path:
  description: The stored diff against HEAD (not written in check
    mode).
  returned: when dirty
  type: str
deploy_id:
  description: The deploy id (given or generated).
  returned: always
  type: str
sync_id:
  description: 'Names this run''s C(.incoming-*) directories on the
    clusters (the deploy id and a random suffix): two deploys of one
    id at once never sync into the same one.'
  returned: always
  type: str
code_dir:
  description: The repository, as given.
  returned: always
  type: str
runtime_base:
  description: Hash of the agent runtime's code and requirements (see
    C(sweepops.artifacts.agent_runtime)); the cluster probe adds the
    interpreter's target to make the runtime's key.
  returned: always
  type: str
"""
# END DOCUMENTATION

from ansible.module_utils.sweepops_workstation import run_step


def main() -> None:
    # The step and its spec: sweepops.ansible.steps (also run in-process by
    # action_plugins/sweepops_snapshot.py).
    run_step("sweepops_snapshot")


if __name__ == "__main__":
    main()
