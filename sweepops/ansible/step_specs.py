"""The specs of the workstation steps (sweepops.ansible.steps): arguments and documentation.

One :class:`ModuleSpec` per step. Its module in ``library/`` and its action plugin validate the
arguments with it, and ``python -m sweepops.ansible.docgen --write`` generates the module's
DOCUMENTATION, EXAMPLES and RETURN from it.
"""

from __future__ import annotations

from sweepops.remote.module_spec import ModuleSpec

_SPECS = (
    ModuleSpec(
        name="sweepops_snapshot",
        short_description="Compute the content-keyed code snapshot a deploy syncs",
        description=(
            (
                "Runs on the workstation (C(delegate_to: localhost)). Computes the git tree "
                "hash of I(code_dir)'s working tree as git would commit it (C(.gitignore) "
                "honoured) and writes the list of its files for C(rsync --files-from --from0)"
                " under I(state_dir)C(/snapshots/)."
            ),
            (
                "A dirty tree (modified, deleted or untracked non-ignored files) fails with "
                "the list of changed files, unless I(allow_dirty); then the diff against HEAD"
                " is written to I(state_dir)C(/deploys/DEPLOY_ID/dirty.diff)."
            ),
            (
                "Also returns the hash of the agent runtime's code and requirements "
                "(C(runtime_base))."
            ),
            (
                "Never reports a change. In check mode the file lists are written (the "
                "dry-run rsync needs them) but the diff is not."
            ),
        ),
        options={
            "code_dir": {
                "description": "The top level of the git repository to snapshot.",
                "type": "path",
                "required": True,
            },
            "allow_dirty": {
                "description": (
                    "Snapshot a dirty working tree instead of failing; the diff is stored."
                ),
                "type": "bool",
                "default": False,
            },
            "deploy_id": {
                "description": (
                    "Id of this deploy (letters, digits, C(.), C(_), C(-)); generated when omitted."
                ),
                "type": "str",
            },
            "state_dir": {
                "description": (
                    "Where file lists and dirty diffs go (default C(CODE_DIR/.sweepops))."
                ),
                "type": "path",
            },
            "exp": {
                "description": (
                    "The experiment (name or path). Its program (as the command runs it, see "
                    "C(sweepops.experiment.program)) must be in the snapshot; one that git "
                    "ignores or that is untracked fails, naming the file."
                ),
                "type": "str",
            },
        },
        returns={
            "key": {
                "description": "Git tree hash of the snapshot (C(HEAD^{tree}) when clean).",
                "returned": "always",
                "type": "str",
            },
            "commit": {
                "description": "HEAD's commit, null in a repository without commits.",
                "returned": "always",
                "type": "str",
            },
            "dirty": {
                "description": "Whether the snapshot differs from HEAD.",
                "returned": "always",
                "type": "bool",
            },
            "dirty_files": {
                "description": "Paths that differ from HEAD.",
                "returned": "always",
                "type": "list",
                "elements": "str",
            },
            "ancestors": {
                "description": (
                    "Trees of HEAD and its first-parent ancestors, candidates for rsync "
                    "--link-dest."
                ),
                "returned": "always",
                "type": "list",
                "elements": "str",
            },
            "file_count": {
                "description": "Number of files in the snapshot.",
                "returned": "always",
                "type": "int",
            },
            "files_from": {
                "description": (
                    "NUL-separated file list of the snapshot (relative to I(code_dir))."
                ),
                "returned": "always",
                "type": "str",
            },
            "diff_path": {
                "description": "The stored diff against HEAD (not written in check mode).",
                "returned": "when dirty",
                "type": "str",
            },
            "deploy_id": {
                "description": "The deploy id (given or generated).",
                "returned": "always",
                "type": "str",
            },
            "sync_id": {
                "description": (
                    "Names this run's C(.incoming-*) directories on the clusters (the deploy "
                    "id and a random suffix): two deploys of one id at once never sync into "
                    "the same one."
                ),
                "returned": "always",
                "type": "str",
            },
            "code_dir": {
                "description": "The repository, as given.",
                "returned": "always",
                "type": "str",
            },
            "runtime_base": {
                "description": (
                    "Hash of the agent runtime's code and requirements "
                    "(see C(sweepops.artifacts.agent_runtime)); the cluster probe adds the "
                    "interpreter's target to make the runtime's key."
                ),
                "returned": "always",
                "type": "str",
            },
        },
    ),
    ModuleSpec(
        name="sweepops_sweeps",
        short_description="Create the sweeps of a sweepops experiment",
        description=(
            "Loads and validates the experiment file, then creates one sweep per (sub)test.",
            (
                "Idempotent by I(deploy_id): a deploy id already in the ledger returns its sweeps "
                "unchanged."
            ),
            "In check mode nothing is created; the sweeps that would be created are returned.",
        ),
        options={
            "exp": {
                "description": "Experiment name (C(experiments/NAME)) or path.",
                "type": "str",
                "required": True,
            },
            "root": {
                "description": "The sweepops repository (holds C(experiments/) and C(.sweepops/)).",
                "type": "path",
                "required": True,
            },
            "deploy_id": {
                "description": "Id of this deploy; generated when omitted.",
                "type": "str",
            },
            "lab_root": {
                "description": "Where the sweeps directories go (default C(ROOT/.sweepops/lab)).",
                "type": "path",
            },
            "default_agents": {
                "description": "Agents per sweep when the experiment gives no C(_num_nodes).",
                "type": "raw",
                "default": 2,
            },
            "confirm_runs": {
                "description": "The deploy's number of runs (or C(yes)), confirming "
                "a deploy of more runs than I(confirm_runs_above); "
                "empty for none.",
                "type": "raw",
            },
            "confirm_runs_above": {
                "description": "More runs than this are refused before "
                "anything is made, unless I(confirm_runs) "
                "confirms them; empty for the default.",
                "type": "raw",
            },
            "clusters": {
                "description": "Where the sweeps will run; C(local) makes their directories here.",
                "type": "list",
                "elements": "str",
                "default": ["local"],
            },
            "backend": {
                "description": "C(wandb), C(offline) or C(auto) (wandb when an API key is "
                "configured); default the experiment's C(sweep_backend), "
                "else auto.",
                "type": "str",
                "choices": ["wandb", "offline", "auto"],
            },
            "entity": {
                "description": "wandb entity when the experiment names none (default the "
                "key's own).",
                "type": "str",
            },
            "project": {
                "description": "wandb project when the experiment names none (default the "
                "experiment name).",
                "type": "str",
            },
            "base_url": {
                "description": "wandb server (default C(WANDB_BASE_URL), else "
                "https://api.wandb.ai).",
                "type": "str",
            },
            "compute_internet": {
                "description": "Per cluster host, whether its compute nodes "
                "reach the wandb server (C(true), C(false), "
                "C(auto) = as provisioning recorded). With wandb, "
                "the hosts without get the hand-off (offline "
                "agent, C(sweepops sync)); listed in the record's "
                "C(handoff).",
                "type": "dict",
            },
            "allow_duplicate": {
                "description": "Create a new deploy even when an earlier one of "
                "the same experiment file at the same clean commit "
                "to the same clusters exists (it would run the "
                "grid again).",
                "type": "bool",
                "default": False,
            },
            "job_limits": {
                "description": "Per Slurm cluster host, its C(time) and "
                "C(preempt_signal_seconds); a combination that would "
                "interrupt and requeue every attempt is refused.",
                "type": "dict",
            },
            "wandb_problems": {
                "description": "Per cluster host, why its jobs could not run "
                "C(wandb agent) (the cluster probe's "
                "C(wandb_problem); empty when they can). With "
                "wandb, one for a host that runs C(wandb agent) "
                "refuses the deploy before a sweep is created.",
                "type": "dict",
            },
            "lab_roots": {
                "description": "Per cluster host, its lab root; the result's C(hosts) "
                "then says per host what its jobs run (its sweeps with "
                "their C(dir) there, C(handoff), C(agent)).",
                "type": "dict",
            },
        },
        returns={
            "deploy": {
                "description": "The deploy record (deploy_id, commit, sweeps with id, "
                "name, tags, agents, dir).",
                "returned": "always",
                "type": "dict",
            },
            "said": {
                "description": "What the deploy says at its end - a line per sweep, the "
                "deploy, where to watch.",
                "returned": "always",
                "type": "list",
                "elements": "str",
            },
            "hosts": {
                "description": "Per host of I(lab_roots) - its C(sweeps) (each with its "
                "C(dir) there), C(handoff) and C(agent) (C(wandb) - the jobs "
                "run C(wandb agent); C(sweepops) - the offline agent's "
                "runtime).",
                "returned": "when lab_roots is given",
                "type": "dict",
            },
        },
        examples="",
    ),
    ModuleSpec(
        name="sweepops_runtime",
        short_description="Build (once) the agent's runtime for a cluster's Python",
        description=(
            (
                "Runs on the workstation (C(delegate_to: localhost)). The offline agent's "
                "runtime - the sweepops modules the agent imports and its pinned requirements"
                " (C(sweeps), numpy, ...) as wheels for the interpreter the cluster probe "
                "found (I(target)) - is built with C(pip install --target --platform "
                "--python-version --only-binary=:all:) into I(cache)C(/KEY/) unless there, "
                "keyed by code, requirements and target."
            ),
            (
                "Also writes its file list for C(rsync --files-from --from0). It is built in "
                "check mode too (a cache on this machine; the dry-run sync needs it); changed"
                " only when built."
            ),
        ),
        options={
            "root": {
                "description": (
                    "The sweepops repository (its C(.sweepops/runtimes) is the default cache)."
                ),
                "type": "path",
                "required": True,
            },
            "target": {
                "description": (
                    "The interpreter's tag from the cluster probe "
                    "(C(cp311-linux-x86_64-glibc2.36))."
                ),
                "type": "str",
                "required": True,
            },
            "base": {
                "description": (
                    "The runtime's code and requirements hash (the snapshot step's "
                    "C(runtime_base)); computed when omitted."
                ),
                "type": "str",
            },
            "key": {
                "description": (
                    "The key the cluster probe computed; the build fails if this machine "
                    "makes another one."
                ),
                "type": "str",
            },
            "cache": {
                "description": (
                    "Where runtimes are built (default C($SWEEPOPS_RUNTIME_CACHE), else "
                    "C(ROOT/.sweepops/runtimes))."
                ),
                "type": "path",
            },
        },
        returns={
            "key": {
                "description": "The runtime's key (its directory name here and on the cluster).",
                "returned": "always",
                "type": "str",
            },
            "src": {
                "description": "The runtime's directory on the workstation (the rsync source).",
                "returned": "always",
                "type": "str",
            },
            "files_from": {
                "description": "NUL-separated list of its files relative to I(src).",
                "returned": "always",
                "type": "str",
            },
            "built": {
                "description": "Whether it was built now (false when cached).",
                "returned": "always",
                "type": "bool",
            },
            "file_count": {
                "description": "Its number of files.",
                "returned": "always",
                "type": "int",
            },
            "bytes": {
                "description": "Its size in bytes.",
                "returned": "always",
                "type": "int",
            },
        },
    ),
    ModuleSpec(
        name="sweepops_wandb_key",
        short_description="Read the wandb API key configured on this machine",
        description=(
            (
                "Returns the key from C(WANDB_API_KEY) or the C(~/.netrc) entry for the "
                "server's host[:port], and the netrc machine name wandb looks up for "
                "I(base_url)."
            ),
            "Use with C(no_log) only; the key must never reach a log. Changes nothing.",
        ),
        options={
            "base_url": {
                "description": (
                    "The wandb server (default C(WANDB_BASE_URL), else https://api.wandb.ai)."
                ),
                "type": "str",
            },
        },
        returns={
            "key": {
                "description": "The API key (secret).",
                "returned": "success",
                "type": "str",
            },
            "machine": {
                "description": "The netrc machine for I(base_url) (host[:port]).",
                "returned": "always",
                "type": "str",
            },
        },
    ),
    ModuleSpec(
        name="sweepops_settings",
        short_description="Check that the inventory parses and names only settings sweepops knows",
        description=(
            (
                "Every YAML file of the inventory sources parses, and every key of "
                "C(group_vars/), C(host_vars/) and the hosts files' C(vars) is a setting "
                "sweepops reads (the README's, the roles' knobs), C(ansible_*), or a name "
                "starting with C(_). An unknown one fails with its file, line and a "
                "did-you-mean. Changes nothing."
            ),
        ),
        options={
            "sources": {
                "description": "The inventory sources (C(ansible_inventory_sources)).",
                "type": "list",
                "elements": "str",
                "required": True,
            },
            "root": {
                "description": "The sweepops repository (its C(roles/) define the knobs).",
                "type": "path",
                "required": True,
            },
        },
        returns={
            "changed": {
                "description": "Always false.",
                "returned": "always",
                "type": "bool",
            },
        },
    ),
    ModuleSpec(
        name="sweepops_env_local",
        short_description="Check a local conda env or venv and fingerprint it for the sync",
        description=(
            (
                "Runs on the workstation (C(delegate_to: localhost)). Fails clearly when "
                "I(prefix) is not an absolute path, does not exist or has no C(bin/python)."
            ),
            (
                "Returns the manifest digest of I(sync_path) (default I(prefix)), its size "
                "and file count, and the env's package list (C(conda list --explicit) when "
                "the env is a conda env and conda is found, else C(pip freeze --all), else "
                "the C(*.dist-info) found) with its sha256 and the text of the lock file."
            ),
            "Reads only; never reports a change.",
        ),
        options={
            "prefix": {
                "description": "The env's absolute prefix (the directory holding C(bin/python)).",
                "type": "path",
                "required": True,
            },
            "name": {
                "description": (
                    "The env's name (the lock file's name); default the prefix's last component."
                ),
                "type": "str",
            },
            "sync_path": {
                "description": (
                    "What is synced, when more than the env (a whole conda root holding it)."
                ),
                "type": "path",
            },
            "content": {
                "description": "Hash file contents instead of using mtimes.",
                "type": "bool",
                "default": False,
            },
            "packages": {
                "description": (
                    "Also make the package list and lock text (a drift check needs only the "
                    "digest)."
                ),
                "type": "bool",
                "default": True,
            },
        },
        returns={
            "name": {
                "description": "The env's name.",
                "returned": "always",
                "type": "str",
            },
            "conda": {
                "description": "Whether the prefix is a conda env (has C(conda-meta/)).",
                "returned": "always",
                "type": "bool",
            },
            "digest": {
                "description": "Manifest digest of the synced path.",
                "returned": "always",
                "type": "str",
            },
            "size": {
                "description": "Bytes in the synced files.",
                "returned": "always",
                "type": "int",
            },
            "file_count": {
                "description": "Number of files and symlinks synced.",
                "returned": "always",
                "type": "int",
            },
            "lock_source": {
                "description": "How the package list was made (empty when I(packages) is false).",
                "returned": "always",
                "type": "str",
            },
            "lock_sha256": {
                "description": "sha256 of the package list.",
                "returned": "always",
                "type": "str",
            },
            "lock_text": {
                "description": "The lock file's text.",
                "returned": "always",
                "type": "str",
            },
        },
    ),
    ModuleSpec(
        name="sweepops_env_drift",
        short_description="Fail when a cluster's copy of an env differs from the workstation's",
        description=(
            (
                "Runs on the workstation (C(delegate_to: localhost)) after "
                "C(sweepops_env_manifest) ran on the cluster. Equal digests: done. Otherwise "
                "the local manifest is computed again and compared entry by entry; the module"
                " fails naming the differing files (changed, missing on the cluster, only on "
                "the cluster), unless I(fail) is false."
            ),
            "Never reports a change.",
        ),
        options={
            "path": {
                "description": "The synced path (same on both sides).",
                "type": "path",
                "required": True,
            },
            "host": {
                "description": "The cluster's name, for the message.",
                "type": "str",
                "required": True,
            },
            "remote": {
                "description": (
                    "The registered result of C(sweepops_env_manifest) on the cluster."
                ),
                "type": "dict",
                "required": True,
            },
            "local_digest": {
                "description": (
                    "The digest of the workstation's copy (C(sweepops_env_local)'s "
                    "C(digest)), if known; when the cluster's digest equals it the "
                    "workstation's env is not read again."
                ),
                "type": "str",
            },
            "content": {
                "description": (
                    "Hash file contents instead of using mtimes (as the remote side did)."
                ),
                "type": "bool",
                "default": False,
            },
            "fail": {
                "description": "Fail on drift (else report it in C(drift)).",
                "type": "bool",
                "default": True,
            },
        },
        returns={
            "clean": {
                "description": "Whether both copies are the same.",
                "returned": "always",
                "type": "bool",
            },
            "drift": {
                "description": (
                    "Lists C(changed), C(missing) (on the cluster), C(extra) (only on the cluster)."
                ),
                "returned": "always",
                "type": "dict",
            },
        },
    ),
    ModuleSpec(
        name="sweepops_record",
        short_description=(
            "Append a deploy's submissions to the experiment ledger and summarise them"
        ),
        description=(
            (
                "Appends one C(submitted) record per deploy to C(ROOT/.sweepops/ledger.jsonl) and "
                "writes C(ROOT/.sweepops/deploys/DEPLOY_ID/summary.json) and C(summary.txt)."
            ),
            "Recording the same submissions again changes nothing.",
        ),
        options={
            "root": {
                "description": "The sweepops repository; omitted - nothing is recorded, only "
                "the job ids are returned (the fact C(sbatch_jobs)).",
                "type": "path",
            },
            "deploy_id": {"description": "The deploy.", "type": "str", "required": True},
            "clusters": {
                "description": "Per cluster host, what was submitted there (login, "
                "lab_root, snapshot_dir, agent_dir, env_prefix, jobs).",
                "type": "dict",
            },
            "host": {
                "description": "The cluster host whose submission is built from "
                "I(submission), I(checked) and I(submitted) "
                "(sweepops.core.records.submission_info).",
                "type": "str",
            },
            "submission": {
                "description": "Where it was submitted - login, user, port, lab_root, "
                "snapshot_dir, agent_dir, env_prefix, container_image, "
                "shard, inventory_sources.",
                "type": "dict",
            },
            "checked": {
                "description": "What the jobs were checked against - env_path, "
                "env_content_hash, env_digest, container_digest (and "
                "rebuilt).",
                "type": "dict",
            },
            "submitted": {
                "description": "The C(sweepops_sbatch) results of the sweeps (their "
                "sweep_id and job_id).",
                "type": "list",
                "elements": "dict",
            },
            "deploy": {
                "description": "A deploy record appended to the ledger first when it is "
                "not there yet (a reproduction's).",
                "type": "dict",
            },
            "journal": {
                "description": "Refresh the experiment journal's entry of the deploy.",
                "type": "bool",
                "default": True,
            },
        },
        returns={
            "summary": {
                "description": "Lines saying, per sweep, its jobs per cluster and how to "
                "run one agent by hand.",
                "returned": "always",
                "type": "list",
                "elements": "str",
            },
            "submission": {
                "description": "The recorded entry of I(host).",
                "returned": "when host is given",
                "type": "dict",
            },
            "ansible_facts": {
                "description": "C(sbatch_jobs) - sweep id -> job id of I(host).",
                "returned": "when host is given",
                "type": "dict",
            },
        },
        examples="",
    ),
    ModuleSpec(
        name="sweepops_env_record",
        short_description="Record a cluster's env lock in the ledger",
        description=(
            (
                "Appends an C(env) event to C(ROOT/.sweepops/ledger.jsonl) unless the latest "
                "one for this host and env says the same (then no change). Nothing is written"
                " in check mode."
            ),
        ),
        options={
            "root": {
                "description": "The sweepops repository (its C(.sweepops/) holds the ledger).",
                "type": "path",
                "required": True,
            },
            "host": {
                "description": "The cluster's inventory host.",
                "type": "str",
                "required": True,
            },
            "env": {
                "description": (
                    "What to record (name, prefix, lock_sha256, lock_source, lock_path, ...)."
                ),
                "type": "dict",
                "required": True,
            },
        },
        returns={
            "recorded": {
                "description": "Whether an event was appended (or would be, in check mode).",
                "returned": "always",
                "type": "bool",
            },
        },
    ),
    ModuleSpec(
        name="sweepops_reproduce_check",
        short_description=(
            "Refuse a reproduction whose env or container changed; rebuild a gone snapshot"
        ),
        description=(
            (
                "Runs on the workstation (C(delegate_to: localhost)) after the cluster was "
                "asked for the env's fingerprint, the image's sha256 and whether the snapshot"
                " and agent are there."
            ),
            (
                "Fails, saying what changed and what to do, when the env fingerprint or the "
                "container image digest differs from what the deploy recorded."
            ),
            (
                "When the code snapshot is gone, rebuilds it in I(rebuild_dir) from the "
                "recorded commit and stored diff and checks its tree hash (fails when the "
                "commit is unknown here or the tree differs); returns in C(snapshot) what the"
                " C(code_sync) role needs to sync it again."
            ),
            (
                "Never reports a change on the cluster (the rebuilt tree is a local scratch "
                "directory)."
            ),
        ),
        options={
            "root": {
                "description": "The sweepops repository (its git history and C(.sweepops/)).",
                "type": "path",
                "required": True,
            },
            "host": {
                "description": "The cluster's inventory host, for messages.",
                "type": "str",
                "required": True,
            },
            "expect": {
                "description": "What the deploy recorded (C(sweepops.ops.reproduce.expected)).",
                "type": "dict",
                "required": True,
            },
            "observed": {
                "description": (
                    "What the cluster answered (C(env), C(image), C(snapshot_present), "
                    "C(agent_present))."
                ),
                "type": "dict",
                "required": True,
            },
            "rebuild_dir": {
                "description": "Where a gone snapshot is rebuilt.",
                "type": "path",
                "required": True,
            },
            "deploy_id": {
                "description": (
                    "The reproduction's deploy id (names the cluster's temporary sync directory)."
                ),
                "type": "str",
                "required": True,
            },
        },
        returns={
            "sync": {
                "description": (
                    "Whether the code_sync role must put a snapshot or the agent back."
                ),
                "returned": "always",
                "type": "bool",
            },
            "rebuilt": {
                "description": "Whether the snapshot was rebuilt from commit and diff.",
                "returned": "always",
                "type": "bool",
            },
            "snapshot": {
                "description": (
                    "The C(code_sync_snapshot) for the code_sync role (empty when nothing to sync)."
                ),
                "returned": "always",
                "type": "dict",
            },
        },
        check_mode=False,
    ),
    ModuleSpec(
        name="sweepops_env_container",
        short_description=(
            "Render container.def and build the image only when the definition changed"
        ),
        description=(
            (
                "Runs on the workstation (C(delegate_to: localhost)). Renders I(template) "
                "into I(def_path) (base matching C(/etc/os-release): a registry image, CUDA "
                "when given, or debootstrap; the env bound by reference), and builds I(image) "
                "when the image is missing or its recorded definition digest "
                "(C(IMAGE.def.sha256)) differs. Changed when the definition was written or "
                "the image built. In check mode nothing is written or built."
            ),
            (
                "apptainer or singularity build a C(.sif). For C(runtime=charliecloud) the "
                "image is a tarball of a debootstrap'd Debian tree (base cached in "
                "I(rootfs_cache)) in which the rendered script ran as root (C(chroot)); "
                "this needs root or C(sudo -n) and debootstrap on the workstation."
            ),
            "Fails clearly when a build is needed and no runtime exists on the workstation.",
        ),
        options={
            "template": {
                "description": "The definition template (Jinja2).",
                "type": "path",
                "required": True,
            },
            "def_path": {
                "description": "Where the rendered definition goes.",
                "type": "path",
                "required": True,
            },
            "image": {
                "description": "The image file on the workstation.",
                "type": "path",
                "required": True,
            },
            "env_prefix": {
                "description": "The env bound into the container (same path everywhere).",
                "type": "path",
                "required": True,
            },
            "conda": {
                "description": "Whether the env is a conda env (else a venv).",
                "type": "bool",
                "default": True,
            },
            "cuda": {
                "description": "CUDA version of the base image (e.g. 12.2.0); empty for none.",
                "type": "str",
                "default": "",
            },
            "base_image": {
                "description": (
                    "The docker image for C(From:); empty picks one matching the workstation."
                ),
                "type": "str",
                "default": "",
            },
            "post_commands": {
                "description": "Extra shell lines for C(%post).",
                "type": "list",
                "elements": "str",
                "default": [],
            },
            "runtime": {
                "description": (
                    "C(auto) (apptainer, then singularity), C(apptainer), C(singularity) or "
                    "C(charliecloud) (built with debootstrap, no runtime needed here)."
                ),
                "type": "str",
                "choices": ["auto", "apptainer", "singularity", "charliecloud"],
                "default": "auto",
            },
            "bootstrap": {
                "description": (
                    "Where apptainer's base comes from: C(docker) (I(base_image) from a "
                    "registry) or C(debootstrap) (Debian's packages, C(Bootstrap: "
                    "debootstrap)). charliecloud always uses debootstrap."
                ),
                "type": "str",
                "choices": ["docker", "debootstrap"],
                "default": "docker",
            },
            "mirror": {
                "description": "The debootstrap mirror; empty: Debian's or Ubuntu's own.",
                "type": "str",
                "default": "",
            },
            "packages": {
                "description": (
                    "OS packages in the image (debootstrap C(--include), or apt-get in "
                    "C(%post) on a registry base), e.g. python3 for a venv's base interpreter."
                ),
                "type": "list",
                "elements": "str",
                "default": [],
            },
            "bind_paths": {
                "description": (
                    "More paths bound in at run time; the definition makes their mount "
                    "points (charliecloud binds only onto existing directories)."
                ),
                "type": "list",
                "elements": "str",
                "default": [],
            },
            "rootfs_cache": {
                "description": "Where debootstrap bases are cached (charliecloud).",
                "type": "path",
                "default": "~/.cache/sweepops/rootfs",
            },
            "fakeroot": {
                "description": (
                    "Build with C(--fakeroot) when not root; false builds through C(sudo -n)."
                ),
                "type": "bool",
                "default": True,
            },
            "os_release": {
                "description": "The workstation's os-release file.",
                "type": "path",
                "default": "/etc/os-release",
            },
        },
        returns={
            "digest": {
                "description": "sha256 of the rendered definition.",
                "returned": "always",
                "type": "str",
            },
            "built": {
                "description": "Whether the image was (or, in check mode, would be) built.",
                "returned": "always",
                "type": "bool",
            },
            "reason": {
                "description": "Why it was built or not.",
                "returned": "always",
                "type": "str",
            },
            "sha256": {
                "description": (
                    "sha256 of the image (empty when it does not exist, e.g. in check mode)."
                ),
                "returned": "always",
                "type": "str",
            },
            "runtime": {
                "description": "The runtime used to build (empty when none was needed).",
                "returned": "always",
                "type": "str",
            },
            "base_image": {
                "description": "The C(From:) image.",
                "returned": "always",
                "type": "str",
            },
        },
    ),
    ModuleSpec(
        name="sweepops_local_agents",
        short_description="Start detached sweepops agents for an offline sweep on this machine",
        description=(
            "Starts I(count) agents in their own session, logging to C(SWEEP_DIR/agents/).",
            "Idempotent: a sweep whose agents were already started is left alone.",
        ),
        options={
            "sweep_dir": {
                "description": "The sweep directory.",
                "type": "path",
                "required": True,
            },
            "count": {
                "description": "Number of agents.",
                "type": "int",
                "required": True,
            },
            "code_dir": {
                "description": "Directory the runs start in.",
                "type": "path",
                "required": True,
            },
            "agent_args": {
                "description": "Extra arguments for C(sweepops agent).",
                "type": "list",
                "elements": "str",
                "default": [],
            },
            "wandb_path": {
                "description": (
                    "ENTITY/PROJECT/ID of a wandb sweep; the agents are then C(wandb agent)."
                ),
                "type": "str",
            },
        },
        returns={
            "agents": {
                "description": "One record per agent (pid, log).",
                "returned": "always",
                "type": "list",
                "elements": "dict",
            },
        },
    ),
    ModuleSpec(
        name="sweepops_deploy_plan",
        short_description="Plan a deploy - its target hosts and what each of them does",
        description=(
            (
                "Names the hosts C(clusters=) asks for (in the order of Ansible's pattern), and "
                "fails on an empty or unknown C(clusters=) or a missing C(exp=) before anything "
                "runs."
            ),
            (
                "Per host, from its inventory settings - its scheduler, its share C(I/K) of every "
                "sweep when the deploy spans several hosts, the env path the drift check "
                "fingerprints, its job limits and whether its compute nodes reach the internet."
            ),
            (
                "Changes nothing. Run as an action plugin, it reads each target host's settings "
                "from C(hostvars) itself when I(settings) is not given."
            ),
        ),
        options={
            "clusters": {
                "description": "The C(clusters=) value, comma separated; default C(local).",
                "type": "str",
            },
            "groups": {
                "description": "The inventory's groups (Ansible's C(groups)).",
                "type": "dict",
                "required": True,
            },
            "settings": {
                "description": "Per target host, its inventory settings (scheduler, "
                "lab_root, time, ...).",
                "type": "dict",
            },
            "exp": {
                "description": "The C(exp=) value; an empty one is refused (not given - not "
                "checked).",
                "type": "str",
            },
        },
        returns={
            "ansible_facts": {
                "description": "C(sweepops_plan) - targets, host_list, hosts (host "
                "-> scheduler, shard, lab_root, env_path, "
                "compute_internet, job_limits, slurm), slurm, "
                "lab_roots, compute_internet, job_limits and sweeps "
                "(the first host's sweep settings).",
                "returned": "always",
                "type": "dict",
            }
        },
        examples="""
- name: Plan the deploy
  sweepops_deploy_plan:
    clusters: "{{ clusters | default(omit) }}"
    groups: "{{ groups }}"
    exp: "{{ exp | default('') }}"
""",
    ),
    ModuleSpec(
        name="sweepops_deploy_gate",
        short_description="Stop a deploy unless every target host passed its checks",
        description=(
            (
                "Fails, before any sweep is created, when a target host did not pass the cluster "
                "checks (an unreachable host drops out of a play silently)."
            ),
            "Returns per host what its probe found missing for C(wandb agent).",
            (
                "Changes nothing. Run as an action plugin, it reads I(checked) (each host's "
                "C(sweepops_checked)) and I(wandb_problems) (C(cluster_check_probe.wandb_problem))"
                " from C(hostvars) itself when they are not given."
            ),
        ),
        options={
            "hosts": {
                "description": "The deploy's target hosts.",
                "type": "list",
                "elements": "str",
                "required": True,
            },
            "checked": {"description": "Per host, whether it passed its checks.", "type": "dict"},
            "wandb_problems": {
                "description": "Per host, why its jobs could not run C(wandb "
                "agent) (empty when they can).",
                "type": "dict",
            },
        },
        returns={
            "wandb_problems": {
                "description": "Per host, the probe's C(wandb_problem) ('' when there is none).",
                "returned": "always",
                "type": "dict",
            }
        },
        examples="""
- name: Stop unless every cluster passed its checks
  sweepops_deploy_gate:
    hosts: "{{ sweepops_plan.host_list }}"
  register: sweepops_gate
""",
    ),
    ModuleSpec(
        name="sweepops_code_sync_plan",
        short_description="Plan the code_sync role's rsync of the snapshot and the agent's runtime",
        description=(
            (
                "Names the snapshot's directories on the cluster (C(LAB/code/KEY), "
                "C(LAB/agent/KEY)) and the trees the cluster probe looks for."
            ),
            (
                "Given what the probe found (I(present)), gives per missing tree the synchronize "
                "arguments (hard links to earlier trees, read-only files, Ansible's ControlMaster "
                "joined) and the trees to rename into place."
            ),
            (
                "Sets the facts C(code_sync_plan), C(code_sync_snapshot_dir), "
                "C(code_sync_agent_dir) and C(code_sync_result). Changes nothing."
            ),
        ),
        options={
            "lab_root": {
                "description": "The lab root on the cluster.",
                "type": "str",
                "required": True,
            },
            "snapshot": {
                "description": "The sweepops_snapshot result the play has already (empty "
                "- use I(computed)).",
                "type": "dict",
            },
            "computed": {
                "description": "The sweepops_snapshot result the role computed.",
                "type": "dict",
            },
            "runtime": {
                "description": "The agent's runtime to sync too (key, src, files_from); "
                "empty - none.",
                "type": "dict",
            },
            "host": {
                "description": "The cluster host (names the temporary directories).",
                "type": "str",
                "required": True,
            },
            "present": {
                "description": "The probe's answer (with C(trees)); empty - not known yet.",
                "type": "dict",
            },
            "control_path": {
                "description": "The ssh connection's control_path setting.",
                "type": "str",
            },
            "control_path_dir": {
                "description": "The ssh connection's control_path_dir setting.",
                "type": "str",
            },
            "ssh_extra_args": {"description": "The host's ansible_ssh_extra_args.", "type": "str"},
            "rsync_extra_opts": {
                "description": "Extra rsync options.",
                "type": "list",
                "elements": "str",
            },
        },
        returns={
            "ansible_facts": {
                "description": "C(code_sync_plan) (snapshot_dir, agent_dir, trees, "
                "incoming_tag, known, and when known syncs and "
                "synced), C(code_sync_snapshot_dir), "
                "C(code_sync_agent_dir), C(code_sync_result).",
                "returned": "always",
                "type": "dict",
            }
        },
        examples="""
- name: Plan the sync
  sweepops_code_sync_plan:
    lab_root: /srv/lab
    snapshot: "{{ sweepops_snapshot }}"
    host: "{{ inventory_hostname }}"
""",
    ),
)

#: The spec of each step, by module name.
SPECS: dict[str, ModuleSpec] = {spec.name: spec for spec in _SPECS}
