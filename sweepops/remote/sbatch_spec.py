"""The spec of library/sweepops_sbatch.py (its arguments and documentation).

The module's code (writing each batch script and submitting it once) is
sweepops.remote.sbatch_submit; the library file is a shim that runs it with this spec, and its
DOCUMENTATION is generated from this.
"""

from __future__ import annotations

from .module_spec import ModuleSpec

SPEC = ModuleSpec(
    name="sweepops_sbatch",
    short_description="Submit a sweep's agent job array to Slurm, at most once",
    description=(
        (
            "Writes the batch script to C(DEST/SWEEP_ID.sbatch) (mode 0755, changed only "
            "if its content differs, with a diff in diff mode), unless I(src) names a "
            "script already rendered on the host; creates I(logs_dir) first. One call per"
            " sweep does what used to take three tasks; I(sweeps) submits all of a "
            "deploy's sweeps in one call."
        ),
        (
            "Submits it with C(sbatch --parsable) after writing a record of intent, and "
            "records the job id in C(DEST/SWEEP_ID.submitted.json). A sweep already "
            "submitted is left alone; an attempt that crashed between sbatch and the "
            "record adopts the job carrying the comment C(sweepops:DEPLOY_ID:SWEEP_ID) "
            "instead of submitting again."
        ),
        (
            "In check mode nothing is written or submitted; C(sbatch --test-only) "
            "validates the script (partition, GRES, limits) when it exists on the host."
        ),
        "Runs on the cluster's login node with the Python standard library only.",
    ),
    options={
        "script_content": {
            "description": "The batch script's text. Mutually exclusive with I(src).",
            "type": "str",
        },
        "src": {
            "description": (
                "Path on the host of a script already rendered. Mutually exclusive with "
                "I(script_content)."
            ),
            "type": "path",
        },
        "dest": {
            "description": (
                "The deploy's directory on the cluster (C(LAB/deploys/DEPLOY_ID)); holds "
                "the scripts and the submission records."
            ),
            "type": "path",
            "required": True,
        },
        "deploy_id": {
            "description": "The deploy's id (part of the job comment).",
            "type": "str",
            "required": True,
        },
        "sweep_id": {
            "description": (
                "The sweep's id (names the files, part of the job comment); required with "
                "I(script_content) or I(src)."
            ),
            "type": "str",
        },
        "sweeps": {
            "description": (
                "All of a deploy's sweeps on this host, submitted in this one call (one "
                "round trip): items with C(sweep_id), C(script_content) (or C(src)) and "
                "optionally C(sweep_meta) and C(sweeps_dir), each as the single-sweep "
                "options; one intent record per sweep before its sbatch, adoption on retry. "
                "C(sbatch --test-only) (I(validate)) runs for the first sweep not yet "
                "submitted only. Mutually exclusive with I(script_content) and I(src)."
            ),
            "type": "list",
            "elements": "dict",
        },
        "template": {
            "description": (
                "With I(sweeps) as the deploy's sweep records (C(id), C(dir), C(meta)): the "
                "batch script template, rendered on the workstation for each sweep with it "
                "as C(sbatch_sweep) by the action plugin (action_plugins/sweepops_sbatch.py), "
                "which then calls this module once with the rendered items."
            ),
            "type": "path",
        },
        "lab_root": {
            "description": (
                "With I(template): the cluster's lab root; the action plugin fails, before"
                " rendering, when it is empty or a sweep has no C(id) or C(dir) "
                "(sweepops.ansible.sbatch_args)."
            ),
            "type": "str",
        },
        "create_sweep_dirs": {
            "description": (
                "With I(template): pass each sweep's C(meta) as its I(sweep_meta), so its "
                "directory is made before the submission."
            ),
            "type": "bool",
            "default": True,
        },
        "logs_dir": {
            "description": (
                "Directory the script's C(--output) goes to (Slurm does not create it); "
                "created (mode 0755) before the submission when given."
            ),
            "type": "path",
        },
        "sweep_meta": {
            "description": (
                "The sweep's C(meta) (from C(sweepops_sweeps)) when its agents need a "
                "sweep directory (offline sweeps); it is created as C(SWEEPS_DIR/ID) "
                "before the submission unless it exists, so the jobs never start without "
                "it."
            ),
            "type": "dict",
        },
        "sweeps_dir": {
            "description": (
                "Where sweep directories live (C(LAB_ROOT/sweeps)); required with I(sweep_meta)."
            ),
            "type": "path",
        },
        "validate": {
            "description": "Run C(sbatch --test-only) before a real submission.",
            "type": "bool",
            "default": True,
        },
        "sbatch": {
            "description": "The sbatch command.",
            "type": "str",
            "default": "sbatch",
        },
    },
    returns={
        "results": {
            "description": (
                "With I(sweeps): one result per sweep in their order (sweep_id, job_id, "
                "script, submitted, changed, as below)."
            ),
            "returned": "with sweeps",
            "type": "list",
        },
        "sweep_dir_created": {
            "description": (
                "True when the sweep directory was created (or would be, in check mode)."
            ),
            "returned": "when created",
            "type": "bool",
        },
        "job_id": {
            "description": (
                "The Slurm (array) job id; empty in check mode when nothing was submitted yet."
            ),
            "returned": "always",
            "type": "str",
        },
        "script": {
            "description": "Path of the batch script on the host.",
            "returned": "always",
            "type": "str",
        },
        "submitted": {
            "description": (
                "Whether the job is now submitted (false in check mode for a new sweep)."
            ),
            "returned": "always",
            "type": "bool",
        },
        "test_only": {
            "description": "The C(sbatch --test-only) message, when the script was validated.",
            "returned": "when validated",
            "type": "str",
        },
    },
    examples="""
- name: Submit the sweep's agents
  sweepops_sbatch:
    script_content: "{{ lookup('ansible.builtin.template', 'agent.sbatch.j2') }}"
    dest: /srv/lab/deploys/d1
    deploy_id: d1
    sweep_id: abc123
""",
    mutually_exclusive=(("script_content", "src", "sweeps"),),
    required_one_of=(("script_content", "src", "sweeps"),),
    required_by={
        "sweep_meta": ("sweeps_dir",),
        "script_content": ("sweep_id",),
        "src": ("sweep_id",),
    },
)
