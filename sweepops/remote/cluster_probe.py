"""The cluster probe (library/sweepops_cluster_probe.py): everything a deploy must know of a
cluster, in one round trip: the lab root, Slurm's partitions, whether Slurm accepts the jobs'
options and resources, the env copy, the container image, the jobs' interpreter and the code
snapshots. Runs on the login host (standard library only, shipped as module_utils)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .imagedigest import image_digest
from .interpreter import preflight
from .manifest import describe_prefix
from .module_spec import ModuleFailed, ModuleSpec, Params, Result
from .slurm import controller_unreachable
from .slurm_limits import SINFO_FORMAT, partition_limits, resource_problems
from .snapshot_store import check_trees, parse_age, probe

#: Runs a command: (exit status, stdout, stderr stripped); 127/124/126 when it cannot.
Runner = Callable[[list[str]], tuple[int, str, str]]


def run(argv: list[str]) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``argv``: 127 when not found, 124 when it did not
    answer within 60 s, 126 when it could not start."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    except FileNotFoundError:
        return 127, "", f"{argv[0]}: not found"
    except subprocess.TimeoutExpired:
        return 124, "", f"{argv[0]} did not answer within 60 s"
    except OSError as exc:
        return 126, "", str(exc)
    return proc.returncode, proc.stdout, proc.stderr.strip()


def parse_partitions(out: str) -> list[str]:
    """The partitions of ``sinfo -h -o %P``'s output (the default one without its ``*``)."""
    return [line.strip().rstrip("*") for line in out.splitlines() if line.strip()]


def slurm_partitions(sinfo: str, runner: Runner = run) -> tuple[int, list[str], str]:
    rc, out, err = runner([sinfo, "-h", "-o", "%P"])
    return rc, parse_partitions(out), err


def check_resources(sinfo: str, resources: dict[str, Any], runner: Runner = run) -> list[str]:
    """The jobs' resources that the partition or its nodes cannot give (see slurm_limits)."""
    if not resources:
        return []
    rc, out, _err = runner([sinfo, "-h", "-o", SINFO_FORMAT])
    if rc != 0:
        return []  # sbatch --test-only and the Slurm check say what is wrong
    return resource_problems(resources, partition_limits(out))


def check_slurm(p: Params, runner: Runner = run) -> Result:
    """Slurm's part of the probe: the partitions, the controller, the resources, and
    ``sbatch --test-only`` of the jobs' options."""
    found: Result = {}
    found["slurm_rc"], found["partitions"], found["slurm_error"] = slurm_partitions(
        p["sinfo"], runner
    )
    up = found["slurm_rc"] == 0
    # the controller not answering is not "Slurm is not here" (nor "Slurm refuses")
    found["controller_down"] = found["slurm_rc"] == 124 or (
        not up and controller_unreachable(found["slurm_error"])
    )
    found["sbatch_test_rc"], found["sbatch_test_error"] = None, ""
    found["resource_problems"] = check_resources(p["sinfo"], p["resources"], runner) if up else []
    if p["sbatch_test"] and up:
        rc, _, err = runner([p["sbatch"], "--test-only", *p["sbatch_test"], "--wrap", "true"])
        found["sbatch_test_rc"] = rc
        found["sbatch_test_error"] = err if rc else ""
        found["controller_down"] = bool(rc) and controller_unreachable(err)
    return found


def lab_writable(lab: str) -> bool:
    return bool(lab) and os.path.isdir(lab) and os.access(lab, os.W_OK | os.X_OK)


def refusal(p: Params, found: Result) -> str | None:
    """Why the deploy must stop at this cluster (the first reason, as the checks go), or
    None: the lab root, Slurm, the partition, the resources, ``sbatch --test-only``, the
    container image and the jobs' interpreter. Each message names the host (``host``),
    what is wrong and what to do."""
    host, lab = p["host"] or "this cluster", p["lab_root"]
    if not lab.startswith("/"):
        return (
            f"{host}: no lab_root set (got '{lab}'); set lab_root in "
            "inventory/group_vars/<cluster>.yml to a directory on the shared disk"
        )
    if not found["lab_ok"]:
        return (
            f"{host}: the lab root {lab} does not exist or is not a directory writable by "
            f"{p['user'] or 'you'}; create it on the shared disk (mkdir -p {lab}) or fix "
            "lab_root for this cluster"
        )
    if found["slurm_rc"] != 0:
        if found["controller_down"]:
            return (
                f"{host}: the Slurm controller (slurmctld) does not answer (sinfo: "
                f"{found['slurm_error']}); nothing was created or submitted; check it with "
                "`scontrol ping` on the cluster and deploy again once it answers"
            )
        return (
            f"{host}: Slurm does not answer here (sinfo: "
            f"{found['slurm_error'] or 'not found'}); is this the login host, and is Slurm "
            "in the PATH of a non-interactive ssh session?"
        )
    partition = p["partition"]
    if partition and partition not in found["partitions"]:
        return (
            f"{host}: unknown partition '{partition}'; this cluster has "
            f"{', '.join(found['partitions'])}; fix partition in its group_vars"
        )
    if found["resource_problems"]:
        return (
            f"{host}: {'; and '.join(found['resource_problems'])} (in this cluster's "
            "group_vars, or -e)"
        )
    rc, error = found["sbatch_test_rc"], found["sbatch_test_error"].strip()
    if rc not in (None, 0):
        if rc in (124, 126, 127) or found["controller_down"]:
            return (
                f"{host}: could not ask Slurm whether it accepts the jobs' resources "
                f"({error}); is slurmctld up, and sbatch in the PATH of a non-interactive "
                "ssh session? Try again."
            )
        return (
            f"{host}: Slurm refuses a job with {' '.join(p['sbatch_test'])} ({error}); fix "
            "partition, gres, cpus_per_task, mem, time, exclude or extra_directives in this "
            "cluster's group_vars"
        )
    if p["image_path"] and not found["image"].get("exists"):
        return (
            f"{host}: the container image {p['image_path']} (container_image) is not there, "
            "so the jobs could not start; run `sweepops provision CLUSTER` to build and copy "
            "it, or leave container_image unset"
        )
    if found["problems"]:
        return "; ".join(found["problems"])
    return None


def checked_probe(p: Params, check_mode: bool) -> Result:
    """The module: the probe (:func:`probe_cluster`) and, given ``refuse``, its answers
    checked (:func:`refusal`), failing with the first reason to stop. An unset lab root
    stops it before anything runs."""
    if p["refuse"] and not p["lab_root"].startswith("/"):
        raise ModuleFailed(str(refusal(p, {})))
    found = probe_cluster(p, check_mode)
    why = refusal(p, found) if p["refuse"] else None
    if why:
        raise ModuleFailed(why, **found)
    return found


def _env(p: Params) -> Result:
    """The env copy at ``env_path``; ValueError or OSError saying what is wrong."""
    path = os.path.normpath(os.path.expanduser(p["env_path"]))
    if not os.path.isabs(path):
        raise ValueError(f"env_path {path!r} is not an absolute path")
    try:
        env = describe_prefix(path, content=p["env_content"], entries=False)
    except OSError as exc:
        raise OSError(f"cannot read {path}: {exc}") from exc
    env.pop("entries")  # the drift check asks for them only when the digests differ
    return {"path": path, **env}


def _image(p: Params, check_mode: bool) -> Result:
    image = os.path.expanduser(p["image_path"])
    try:
        # In check mode nothing is written, the digest cache included.
        return {"path": image, **image_digest(image, cache=not check_mode)}
    except OSError as exc:
        raise OSError(f"cannot read the container image {image}: {exc}") from exc


def probe_cluster(p: Params, check_mode: bool) -> Result:
    """The module: see SPEC.

    Its independent parts - Slurm (sinfo, ``sbatch --test-only``), the jobs' interpreter
    (its activation and, for wandb, ``import wandb``: the slowest), the env walk and the
    image digest - run at once, each in a thread (they wait on subprocesses and the disk);
    the snapshot listing, which needs the interpreter's runtime key, comes after. Every
    part only reads (the image digest's cache aside), so running them together changes no
    answer; a part that fails is raised in the order the parts were listed, with what the
    others found."""
    lab = os.path.expanduser(p["lab_root"])
    result: Result = {"changed": False, "env": {}, "image": {}, "trees": {}, "removed": []}
    result.update(interpreter={}, runtime_key="", problems=[], wandb_problem="")
    result["lab_ok"] = lab_writable(lab)
    with ThreadPoolExecutor(max_workers=4) as pool:
        slurm = pool.submit(check_slurm, p)
        job = (
            pool.submit(preflight, p["cluster"] or "this cluster", p["job"], p["runtime_base"])
            if p["job"]
            else None
        )
        env = pool.submit(_env, p) if p["env_path"] else None
        image = pool.submit(_image, p, check_mode) if p["image_path"] else None
        result.update(slurm.result())
        if job is not None:
            result.update(job.result())
        for key, part in (("env", env), ("image", image)):
            if part is None:
                continue
            try:
                result[key] = part.result()
            except (ValueError, OSError) as exc:
                raise ModuleFailed(str(exc), **result) from exc
    trees = list(p["trees"])
    if result["runtime_key"]:
        # an earlier runtime (LATEST) shares most files: rsync hard-links them
        trees.append({"kind": "agent", "key": result["runtime_key"], "candidates": []})
    if trees and result["lab_ok"]:
        problem = check_trees(trees, p["incoming_tag"])
        if problem:
            raise ModuleFailed(problem, **result)
        try:
            max_age = parse_age(p["incoming_max_age"])
            found, stale = probe(lab, trees, p["incoming_tag"], max_age, remove=not check_mode)
        except (ValueError, OSError) as exc:
            raise ModuleFailed(str(exc), **result) from exc
        result.update(trees=found, removed=stale, changed=bool(stale))
    return result


SPEC = ModuleSpec(
    name="sweepops_cluster_probe",
    short_description="Look at a cluster's lab root, Slurm, env copy and code snapshots at once",
    description=(
        (
            "Runs on the cluster's login host, before a deploy creates or submits "
            "anything. One module run (one round trip) answers what would otherwise take "
            "one each, since each costs a remote Python start-up."
        ),
        "The lab root - whether it is a directory writable by the user.",
        "Slurm - C(sinfo -h -o %P) - its exit status, the partitions, the error.",
        (
            "Given I(sbatch_test), whether Slurm accepts a job with those options "
            "(C(sbatch --test-only OPTIONS --wrap true)): a partition, GRES, memory or "
            "time limit the cluster refuses is found before any sweep is created."
        ),
        (
            "Given I(env_path), the env copy there (C(sweepops_env_manifest)'s answer, "
            "without the entries: the drift check asks for them only when the digests "
            "differ)."
        ),
        (
            "Given I(image_path), the container image's sha256 (cached next to it by file"
            " identity, as C(sweepops_image_digest) does) and whether it exists."
        ),
        (
            "Given I(job), the jobs' interpreter: the job script's activation (modules, "
            "conda, the env's PATH; inside the container when its runtime is on the login"
            " host) is run and the interpreter it gives describes itself (path, version, "
            "implementation, platform), and for a wandb sweep says whether C(wandb) "
            "imports. What is missing comes back in I(problems), each naming the cluster "
            "and what to do. Given I(runtime_base) too, the agent runtime that "
            "interpreter needs (its key) is looked for as one more tree (kind C(agent))."
        ),
        (
            "Given I(trees), the code snapshots (C(sweepops_code_sync state=probe)'s "
            "answer); leftover C(.incoming-*) directories older than I(incoming_max_age) "
            "are removed (not in check mode), the only change this module makes."
        ),
    ),
    options={
        "lab_root": {
            "description": "The cluster's lab root.",
            "type": "str",
            "required": True,
        },
        "refuse": {
            "description": (
                "Fail, with one message naming the host, what is wrong and what to do, when"
                " the lab root is unset, missing or not writable, Slurm or its controller "
                "does not answer, the partition is unknown, the resources are above its "
                "limits or refused by C(sbatch --test-only), the container image is missing"
                " or the jobs' interpreter does not work (I(problems)); otherwise the "
                "answers are only returned."
            ),
            "type": "bool",
            "default": False,
        },
        "host": {
            "description": "The host's name in the messages of I(refuse).",
            "type": "str",
            "default": "",
        },
        "user": {
            "description": "The user in the messages of I(refuse).",
            "type": "str",
            "default": "",
        },
        "partition": {
            "description": (
                "With I(refuse): the partition the jobs go to, which must be one of "
                "I(partitions) (empty: the cluster's default)."
            ),
            "type": "str",
            "default": "",
        },
        "sinfo": {
            "description": "The sinfo command.",
            "type": "str",
            "default": "sinfo",
        },
        "sbatch_test": {
            "description": (
                "sbatch options (C(--partition=gpu), C(--gres=gpu:1), ...) to test; none "
                "when empty."
            ),
            "type": "list",
            "elements": "str",
            "default": [],
        },
        "resources": {
            "description": (
                "The jobs' C(partition), C(time), C(mem), C(cpus_per_task) and C(gres), "
                "checked against the partition's MaxTime and its nodes' memory, CPUs and "
                "GRES (C(sinfo)); none when empty."
            ),
            "type": "dict",
            "default": {},
        },
        "sbatch": {
            "description": "The sbatch command.",
            "type": "str",
            "default": "sbatch",
        },
        "env_path": {
            "description": "The synced env path to fingerprint (none when empty).",
            "type": "str",
            "default": "",
        },
        "env_content": {
            "description": "Hash file contents instead of using mtimes.",
            "type": "bool",
            "default": False,
        },
        "image_path": {
            "description": "The container image file to fingerprint (none when empty).",
            "type": "str",
            "default": "",
        },
        "trees": {
            "description": (
                "Snapshots to look for, each with C(kind) (C(code) or C(agent)) and C(key)."
            ),
            "type": "list",
            "elements": "dict",
            "default": [],
        },
        "cluster": {
            "description": "The cluster's name in messages (its inventory group).",
            "type": "str",
            "default": "",
        },
        "job": {
            "description": (
                "The jobs' activation - C(python), C(modules), C(conda_root), "
                "C(env_prefix), C(check_wandb), C(container) (C(image), C(runtime), "
                "C(binds)); empty checks no interpreter."
            ),
            "type": "dict",
            "default": {},
        },
        "runtime_base": {
            "description": (
                "The agent runtime's code and requirements hash "
                "(see C(sweepops.artifacts.agent_runtime)); with the interpreter's target it "
                "makes the runtime's key."
            ),
            "type": "str",
            "default": "",
        },
        "incoming_tag": {
            "description": (
                "As C(sweepops_code_sync)'s (names the directories a sync writes into)."
            ),
            "type": "str",
        },
        "incoming_max_age": {
            "description": "As C(sweepops_code_sync)'s.",
            "type": "str",
            "default": "1d",
        },
    },
    returns={
        "lab_ok": {
            "description": "Whether the lab root is a directory the user can write into.",
            "returned": "always",
            "type": "bool",
        },
        "slurm_rc": {
            "description": "sinfo's exit status (127 when it is not found).",
            "returned": "always",
            "type": "int",
        },
        "partitions": {
            "description": "The partitions sinfo lists (the default one without its C(*)).",
            "returned": "always",
            "type": "list",
            "elements": "str",
        },
        "slurm_error": {
            "description": "sinfo's standard error, or why it could not run.",
            "returned": "always",
            "type": "str",
        },
        "controller_down": {
            "description": (
                "Whether sinfo or C(sbatch --test-only) failed because the Slurm "
                "controller (slurmctld) did not answer."
            ),
            "returned": "always",
            "type": "bool",
        },
        "sbatch_test_rc": {
            "description": (
                "The exit status of C(sbatch --test-only) (0 when accepted; none when not"
                " tested; 124 when it did not answer, 126/127 when it could not run)."
            ),
            "returned": "always",
            "type": "int",
        },
        "resource_problems": {
            "description": (
                "One line per value of I(resources) above the partition's limit or what "
                "its nodes have, naming the value and the limit; empty when all fit or "
                "nothing was asked."
            ),
            "returned": "always",
            "type": "list",
            "elements": "str",
        },
        "sbatch_test_error": {
            "description": "What C(sbatch --test-only) said when it refused.",
            "returned": "always",
            "type": "str",
        },
        "env": {
            "description": (
                "C(path), C(exists), C(digest), C(ancestor), C(writable), C(free_bytes), "
                "C(home) of I(env_path); empty without one."
            ),
            "returned": "always",
            "type": "dict",
        },
        "image": {
            "description": (
                "C(exists), C(sha256) (and the cache's file identity) of I(image_path); "
                "empty without one."
            ),
            "returned": "always",
            "type": "dict",
        },
        "interpreter": {
            "description": (
                "The jobs' interpreter as it describes itself (C(executable), C(version),"
                " C(implementation), C(target), C(where), C(wandb) or C(wandb_error)), or"
                " C(error); empty without I(job)."
            ),
            "returned": "always",
            "type": "dict",
        },
        "runtime_key": {
            "description": (
                "The key of the agent runtime for that interpreter (empty without "
                "I(runtime_base) or a working interpreter)."
            ),
            "returned": "always",
            "type": "str",
        },
        "problems": {
            "description": (
                "What the jobs would miss, one message each (cluster, what, what to do)."
            ),
            "returned": "always",
            "type": "list",
            "elements": "str",
        },
        "wandb_problem": {
            "description": (
                "Given C(job.check_wandb), why a wandb sweep's C(wandb agent) could not "
                "run there (empty when it could); the deploy raises it once the sweeps "
                "are known to be wandb's."
            ),
            "returned": "always",
            "type": "str",
        },
        "trees": {
            "description": (
                "As C(sweepops_code_sync state=probe)'s C(trees); empty without I(trees)."
            ),
            "returned": "always",
            "type": "dict",
        },
        "removed": {
            "description": (
                "Leftover C(.incoming-*) directories removed (or that would be, in check mode)."
            ),
            "returned": "always",
            "type": "list",
            "elements": "str",
        },
    },
    examples="""
- name: Look at the cluster
  sweepops_cluster_probe:
    lab_root: /srv/lab
    env_path: /opt/envs/demo
    trees: [{kind: code, key: 0123abcd0123abcd}]
    incoming_tag: deploy-1-atlas
  register: probe
""",
)
