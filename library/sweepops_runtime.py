#!/usr/bin/python
"""Ansible module: the agent's runtime for a cluster's interpreter (thin wrapper over
sweepops.artifacts.agent_runtime). Run on localhost."""

from __future__ import annotations

# BEGIN DOCUMENTATION, generated from its spec sweepops.ansible.steps.SPECS:
# edit the spec, then run `python -m sweepops.ansible.docgen --write`.

DOCUMENTATION = r"""
module: sweepops_runtime
short_description: Build (once) the agent's runtime for a cluster's
  Python
description:
  - 'Runs on the workstation (C(delegate_to: localhost)). The offline
    agent''s runtime - the sweepops modules the agent imports and
    its pinned requirements (C(sweeps), numpy, ...) as wheels for
    the interpreter the cluster probe found (I(target)) - is built
    with C(pip install --target --platform --python-version --only-binary=:all:)
    into I(cache)C(/KEY/) unless there, keyed by code, requirements
    and target.'
  - Also writes its file list for C(rsync --files-from --from0). It
    is built in check mode too (a cache on this machine; the dry-run
    sync needs it); changed only when built.
options:
  root:
    description: The sweepops repository (its C(.sweepops/runtimes)
      is the default cache).
    type: path
    required: true
  target:
    description: The interpreter's tag from the cluster probe (C(cp311-linux-x86_64-glibc2.36)).
    type: str
    required: true
  base:
    description: The runtime's code and requirements hash (the snapshot
      step's C(runtime_base)); computed when omitted.
    type: str
  key:
    description: The key the cluster probe computed; the build fails
      if this machine makes another one.
    type: str
  cache:
    description: Where runtimes are built (default C($SWEEPOPS_RUNTIME_CACHE),
      else C(ROOT/.sweepops/runtimes)).
    type: path
author: sweepops
"""

RETURN = r"""
key:
  description: The runtime's key (its directory name here and on the
    cluster).
  returned: always
  type: str
src:
  description: The runtime's directory on the workstation (the rsync
    source).
  returned: always
  type: str
files_from:
  description: NUL-separated list of its files relative to I(src).
  returned: always
  type: str
built:
  description: Whether it was built now (false when cached).
  returned: always
  type: bool
file_count:
  description: Its number of files.
  returned: always
  type: int
bytes:
  description: Its size in bytes.
  returned: always
  type: int
"""
# END DOCUMENTATION

from ansible.module_utils.sweepops_workstation import run_step


def main() -> None:
    # The step and its spec: sweepops.ansible.steps (also run in-process by
    # action_plugins/sweepops_runtime.py).
    run_step("sweepops_runtime")


if __name__ == "__main__":
    main()
