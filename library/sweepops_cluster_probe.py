#!/usr/bin/python
"""Ansible module: everything a deploy must know of a cluster, in one round trip.

A shim: its spec and its code are sweepops/remote/cluster_probe.py (standard library only), shipped
to the login host as module_utils (module_utils/sweepops_remote links to sweepops/remote/).
"""

from __future__ import annotations

# BEGIN DOCUMENTATION, generated from its spec sweepops.remote.cluster_probe.SPEC:
# edit the spec, then run `python -m sweepops.ansible.docgen --write`.

DOCUMENTATION = r"""
module: sweepops_cluster_probe
short_description: Look at a cluster's lab root, Slurm, env copy and
  code snapshots at once
description:
  - Runs on the cluster's login host, before a deploy creates or submits
    anything. One module run (one round trip) answers what would otherwise
    take one each, since each costs a remote Python start-up.
  - The lab root - whether it is a directory writable by the user.
  - Slurm - C(sinfo -h -o %P) - its exit status, the partitions, the
    error.
  - 'Given I(sbatch_test), whether Slurm accepts a job with those
    options (C(sbatch --test-only OPTIONS --wrap true)): a partition,
    GRES, memory or time limit the cluster refuses is found before
    any sweep is created.'
  - 'Given I(env_path), the env copy there (C(sweepops_env_manifest)''s
    answer, without the entries: the drift check asks for them only
    when the digests differ).'
  - Given I(image_path), the container image's sha256 (cached next
    to it by file identity, as C(sweepops_image_digest) does) and
    whether it exists.
  - 'Given I(job), the jobs'' interpreter: the job script''s activation
    (modules, conda, the env''s PATH; inside the container when its
    runtime is on the login host) is run and the interpreter it gives
    describes itself (path, version, implementation, platform), and
    for a wandb sweep says whether C(wandb) imports. What is missing
    comes back in I(problems), each naming the cluster and what to
    do. Given I(runtime_base) too, the agent runtime that interpreter
    needs (its key) is looked for as one more tree (kind C(agent)).'
  - Given I(trees), the code snapshots (C(sweepops_code_sync state=probe)'s
    answer); leftover C(.incoming-*) directories older than I(incoming_max_age)
    are removed (not in check mode), the only change this module makes.
options:
  lab_root:
    description: The cluster's lab root.
    type: str
    required: true
  refuse:
    description: Fail, with one message naming the host, what is wrong
      and what to do, when the lab root is unset, missing or not writable,
      Slurm or its controller does not answer, the partition is unknown,
      the resources are above its limits or refused by C(sbatch --test-only),
      the container image is missing or the jobs' interpreter does
      not work (I(problems)); otherwise the answers are only returned.
    type: bool
    default: false
  host:
    description: The host's name in the messages of I(refuse).
    type: str
    default: ''
  user:
    description: The user in the messages of I(refuse).
    type: str
    default: ''
  partition:
    description: 'With I(refuse): the partition the jobs go to, which
      must be one of I(partitions) (empty: the cluster''s default).'
    type: str
    default: ''
  sinfo:
    description: The sinfo command.
    type: str
    default: sinfo
  sbatch_test:
    description: sbatch options (C(--partition=gpu), C(--gres=gpu:1),
      ...) to test; none when empty.
    type: list
    default: []
    elements: str
  resources:
    description: The jobs' C(partition), C(time), C(mem), C(cpus_per_task)
      and C(gres), checked against the partition's MaxTime and its
      nodes' memory, CPUs and GRES (C(sinfo)); none when empty.
    type: dict
    default: {}
  sbatch:
    description: The sbatch command.
    type: str
    default: sbatch
  env_path:
    description: The synced env path to fingerprint (none when empty).
    type: str
    default: ''
  env_content:
    description: Hash file contents instead of using mtimes.
    type: bool
    default: false
  image_path:
    description: The container image file to fingerprint (none when
      empty).
    type: str
    default: ''
  trees:
    description: Snapshots to look for, each with C(kind) (C(code)
      or C(agent)) and C(key).
    type: list
    default: []
    elements: dict
  cluster:
    description: The cluster's name in messages (its inventory group).
    type: str
    default: ''
  job:
    description: The jobs' activation - C(python), C(modules), C(conda_root),
      C(env_prefix), C(check_wandb), C(container) (C(image), C(runtime),
      C(binds)); empty checks no interpreter.
    type: dict
    default: {}
  runtime_base:
    description: The agent runtime's code and requirements hash (see
      C(sweepops.artifacts.agent_runtime)); with the interpreter's
      target it makes the runtime's key.
    type: str
    default: ''
  incoming_tag:
    description: As C(sweepops_code_sync)'s (names the directories
      a sync writes into).
    type: str
  incoming_max_age:
    description: As C(sweepops_code_sync)'s.
    type: str
    default: 1d
author: sweepops
"""

EXAMPLES = r"""
- name: Look at the cluster
  sweepops_cluster_probe:
    lab_root: /srv/lab
    env_path: /opt/envs/demo
    trees: [{kind: code, key: 0123abcd0123abcd}]
    incoming_tag: deploy-1-atlas
  register: probe
"""

RETURN = r"""
lab_ok:
  description: Whether the lab root is a directory the user can write
    into.
  returned: always
  type: bool
slurm_rc:
  description: sinfo's exit status (127 when it is not found).
  returned: always
  type: int
partitions:
  description: The partitions sinfo lists (the default one without
    its C(*)).
  returned: always
  type: list
  elements: str
slurm_error:
  description: sinfo's standard error, or why it could not run.
  returned: always
  type: str
controller_down:
  description: Whether sinfo or C(sbatch --test-only) failed because
    the Slurm controller (slurmctld) did not answer.
  returned: always
  type: bool
sbatch_test_rc:
  description: The exit status of C(sbatch --test-only) (0 when accepted;
    none when not tested; 124 when it did not answer, 126/127 when
    it could not run).
  returned: always
  type: int
resource_problems:
  description: One line per value of I(resources) above the partition's
    limit or what its nodes have, naming the value and the limit;
    empty when all fit or nothing was asked.
  returned: always
  type: list
  elements: str
sbatch_test_error:
  description: What C(sbatch --test-only) said when it refused.
  returned: always
  type: str
env:
  description: C(path), C(exists), C(digest), C(ancestor), C(writable),
    C(free_bytes), C(home) of I(env_path); empty without one.
  returned: always
  type: dict
image:
  description: C(exists), C(sha256) (and the cache's file identity)
    of I(image_path); empty without one.
  returned: always
  type: dict
interpreter:
  description: The jobs' interpreter as it describes itself (C(executable),
    C(version), C(implementation), C(target), C(where), C(wandb) or
    C(wandb_error)), or C(error); empty without I(job).
  returned: always
  type: dict
runtime_key:
  description: The key of the agent runtime for that interpreter (empty
    without I(runtime_base) or a working interpreter).
  returned: always
  type: str
problems:
  description: What the jobs would miss, one message each (cluster,
    what, what to do).
  returned: always
  type: list
  elements: str
wandb_problem:
  description: Given C(job.check_wandb), why a wandb sweep's C(wandb
    agent) could not run there (empty when it could); the deploy raises
    it once the sweeps are known to be wandb's.
  returned: always
  type: str
trees:
  description: As C(sweepops_code_sync state=probe)'s C(trees); empty
    without I(trees).
  returned: always
  type: dict
removed:
  description: Leftover C(.incoming-*) directories removed (or that
    would be, in check mode).
  returned: always
  type: list
  elements: str
"""
# END DOCUMENTATION

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.sweepops_remote.cluster_probe import SPEC, checked_probe
from ansible.module_utils.sweepops_remote.module_spec import run_module


def main() -> None:
    run_module(SPEC, checked_probe, AnsibleModule)


if __name__ == "__main__":
    main()
