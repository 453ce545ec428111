"""Golden files of the rendered batch script (as submitit keeps ``_sbatch_test_record.txt``).

Each case is a typical cluster's inventory settings; the script is rendered the way the sbatch
role renders it: the role's ``defaults/main.yml`` turn the inventory settings into the
``sbatch_*`` inputs, and Ansible's own ``template`` lookup renders ``templates/agent.sbatch.j2``
with them. The result must equal ``tests/data/sbatch_golden/CASE.sbatch`` byte for byte.

A change to the script that is meant: ``SWEEPOPS_UPDATE_GOLDEN=1 pytest tests/unit/test_sbatch_golden.py``
rewrites the files; review their diff before committing it.
"""

from __future__ import annotations

import difflib
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import filter_loader, init_plugin_loader
from ansible.template import Templar, trust_as_template

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "data" / "sbatch_golden"
ROLE = REPO / "roles" / "sbatch"

init_plugin_loader()  # the lookup is found as Ansible finds it: ansible.builtin.template
filter_loader.add_directory(str(REPO / "filter_plugins"))  # as ansible.cfg's filter_plugins

SWEEP = {"id": "abc123", "name": "lr-grid", "agents": 4, "dir": "/srv/lab/sweeps/abc123"}
WANDB_SWEEP = {
    "id": "sw9",
    "name": "wandb grid",
    "agents": 2,
    "dir": "/srv/lab/sweeps/sw9",
    "backend": "wandb",
    "path": "ent/proj/sw9",
    "base_url": "http://127.0.0.1:8080",
    "run_env": {"WANDB_TAGS": "a,b", "WANDB_RUN_GROUP": "d1", "WANDB_PROJECT": "proj"},
    "meta": {"workdir": "examples/mnist"},
}

#: case name -> (the cluster's inventory settings, the role's per-deploy inputs)
CASES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "cpu": ({"lab_root": "/srv/lab", "env_prefix": "/opt/env"}, {}),
    "gpu": (
        {
            "lab_root": "/srv/lab",
            "env_prefix": "/home/r/envs/ml",
            "conda_root": "/opt/conda",
            "partition": "gpu",
            "gres": "gpu:a100:1",
            "cpus_per_task": 8,
            "mem": "32G",
            "time": "04:00:00",
            "exclude": "node[07-08]",
            "mail_type": "END,FAIL",
            "mail_user": "me@lab.org",
            "array_throttle": 2,
            "modules": ["cuda/12.2"],
            "extra_directives": ["--account=ml", "#SBATCH --qos=high"],
        },
        {},
    ),
    "container": (
        {
            "lab_root": "/srv/lab",
            "env_prefix": "/srv/lab/envs/train",
            "container_image": "/srv/lab/containers/train.sif",
            "container_runtime": "singularity",
            "bind_paths": ["/scratch"],
            "preempt_signal_seconds": 0,
            "agent_python": "python3",
        },
        {},
    ),
    "charliecloud": (
        {
            "lab_root": "/srv/lab",
            "env_prefix": "/srv/lab/envs/train",
            "container_image": "/srv/lab/containers/train.tar.gz",
            "container_runtime": "charliecloud",
            "bind_paths": ["/scratch"],
            "agent_python": "python3",
        },
        {},
    ),
    "wandb": (
        {
            "lab_root": "/srv/lab",
            "env_prefix": "/opt/env",
            "wandb_job_env": {"WANDB_SILENT": "true"},
        },
        {"sbatch_sweep": WANDB_SWEEP},
    ),
    "wandb_handoff": (
        {"lab_root": "/srv/lab", "env_prefix": "/opt/env", "time": "00:30:00"},
        {"sbatch_sweep": WANDB_SWEEP, "sbatch_wandb_handoff": True, "sbatch_shard": "2/3"},
    ),
    "shard": (
        {"lab_root": "/srv/lab", "env_prefix": "/opt/env", "agent_lease_seconds": 30},
        {"sbatch_shard": "1/2"},
    ),
}


def _trusted(value: Any) -> Any:
    """Strings as Ansible trusts those it loads from a role's files: templates."""
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, list):
        return [_trusted(v) for v in value]
    if isinstance(value, dict):
        return {k: _trusted(v) for k, v in value.items()}
    return value


def render(settings: dict[str, Any], inputs: dict[str, Any]) -> str:
    """The script as the sbatch role renders it for one sweep on a cluster with ``settings``."""
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    variables: dict[str, Any] = {
        **_trusted(defaults),
        **settings,
        "inventory_hostname": "fjord-login",
        "group_names": ["fjord"],
        "role_path": str(ROLE),
        "sbatch_deploy_id": "d1",
        "sbatch_sweep": SWEEP,
        "sbatch_snapshot_dir": "/srv/lab/code/0123456789ab",
        "sbatch_agent_dir": "/srv/lab/agent/fedcba987654",
        "sbatch_shard": "",
        "sbatch_wandb_handoff": False,
        **inputs,
    }
    loader = DataLoader()
    loader.set_basedir(str(ROLE))
    templar = Templar(loader=loader, variables=variables)
    return str(
        templar.template(
            trust_as_template("{{ lookup('ansible.builtin.template', sbatch_template) }}")
        )
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_rendered_script_is_the_golden_one(case: str, tmp_path: Path) -> None:
    got = render(*CASES[case])
    path = GOLDEN / f"{case}.sbatch"
    if os.environ.get("SWEEPOPS_UPDATE_GOLDEN") == "1":
        path.write_text(got)
    assert path.is_file(), f"{path} is missing: SWEEPOPS_UPDATE_GOLDEN=1 writes it"
    want = path.read_text()
    if got != want:
        diff = "".join(
            difflib.unified_diff(
                want.splitlines(keepends=True),
                got.splitlines(keepends=True),
                fromfile=f"{path.relative_to(REPO)} (golden)",
                tofile=f"{case} (rendered now)",
            )
        )
        pytest.fail(
            f"the rendered batch script of case {case!r} differs from its golden file; if the "
            f"change is meant, rerun with SWEEPOPS_UPDATE_GOLDEN=1 and commit the diff:\n{diff}",
            pytrace=False,
        )
    script = tmp_path / "job.sbatch"
    script.write_text(got)
    check = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_the_cases_differ() -> None:
    """Every case shows something the others do not (a case equal to another guards nothing)."""
    scripts = {case: render(*CASES[case]) for case in CASES}
    assert len(set(scripts.values())) == len(scripts)
    assert "--gres=gpu:a100:1" in scripts["gpu"] and "--gres" not in scripts["cpu"]
    assert "singularity exec" in scripts["container"]
    # ch-run runs the unpacked tarball, each bind at its own path, and has no --nv
    assert (
        "ch-run -b /srv/lab:/srv/lab -b /srv/lab/envs/train:/srv/lab/envs/train "
        "-b /scratch:/scratch /srv/lab/containers/train -- \\\n    bash -c"
    ) in scripts["charliecloud"]
    assert "--nv" not in scripts["charliecloud"]
    assert "wandb agent" in scripts["wandb"] and "wandb agent" not in scripts["wandb_handoff"]
    assert "--shard 1/2" in scripts["shard"]


def test_the_cluster_check_asks_slurm_about_the_job_submitted() -> None:
    """cluster_check's sbatch --test-only options (its role defaults) are the script's
    resource and extra directives (one builder: sweepops.remote.sbatch_options)."""
    settings, inputs = CASES["gpu"]
    script = render(settings, inputs)
    directives = [
        line.removeprefix("#SBATCH ") for line in script.splitlines() if line.startswith("#SBATCH ")
    ]
    defaults = yaml.safe_load(
        (REPO / "roles" / "cluster_check" / "defaults" / "main.yml").read_text()
    )
    variables = {**_trusted(defaults), **settings, "inventory_hostname": "fjord-login"}
    templar = Templar(loader=DataLoader(), variables=variables)
    test_only = templar.template(trust_as_template("{{ cluster_check_sbatch_test }}"))
    assert test_only == [
        "--partition=gpu",
        "--gres=gpu:a100:1",
        "--cpus-per-task=8",
        "--mem=32G",
        "--time=04:00:00",
        "--exclude=node[07-08]",
        "--account=ml",
        "--qos=high",
    ]
    assert all(option in directives for option in test_only)


def test_an_unknown_resource_setting_is_refused() -> None:
    from sweepops.remote.sbatch_options import resource_options

    assert resource_options({"partition": "", "cpus_per_task": 0, "mem": "4G"}) == ["--mem=4G"]
    with pytest.raises(ValueError, match="not an sbatch resource setting: gpus"):
        resource_options({"gpus": 1})
