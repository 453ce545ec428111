"""The interpreter a job will use, as the cluster sees it: found, described, and matched.

Standard library only: the deploy's cluster probe runs it on the login host (as Ansible
module_utils: module_utils/sweepops_remote links to this package), and the agent's runtime
carries it so that a job can check, before anything else, that its compute node gives the
interpreter the runtime was built for.

- :func:`activation` is the shell the job script runs before the agent (modules, conda, the
  env's PATH), the same lines as ``templates/agent.sbatch.j2`` renders;
- :data:`DESCRIBE` is the code the activated interpreter runs to say what it is (path,
  version, implementation, machine, C library) and whether ``wandb`` is there;
- :func:`target_of` turns that into the tag the runtime is built for, and
  :func:`runtime_key` the runtime's content address (code + requirements + target);
- the ``*_problem`` functions say, in the same words for the probe and the job, what is
  missing and what to do.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
from typing import Any

from .container_runtime import BINARIES, exec_argv, runtime_of_binary

#: The lowest manylinux glibc minor version pip wheels are offered for (manylinux1 = 2.5).
_MANYLINUX_FLOOR = 5
#: The legacy manylinux names (PEP 513/571/599) and the glibc they stand for.
_LEGACY_MANYLINUX = {"manylinux1": 5, "manylinux2010": 12, "manylinux2014": 17}

#: Run by the activated interpreter (``python -c``); prints one JSON object. Kept to what
#: Python 3.6+ has, so an old interpreter still says what it is instead of failing to parse.
DESCRIBE = r"""
import json, os, platform, sys
def describe(check_wandb):
    info = {
        "executable": sys.executable,
        "version": list(sys.version_info[:3]),
        "implementation": sys.implementation.name,
        "cache_tag": sys.implementation.cache_tag,
        "machine": platform.machine(),
        "system": platform.system().lower(),
        "libc": list(platform.libc_ver()),
        "prefix": sys.prefix,
    }
    if check_wandb:
        try:
            import wandb
            info["wandb"] = getattr(wandb, "__version__", "?")
        except Exception as exc:
            info["wandb_error"] = "%s: %s" % (type(exc).__name__, exc)
    return info
if __name__ == "__main__":
    print(json.dumps(describe(os.environ.get("SWEEPOPS_CHECK_WANDB") == "1")))
"""


def describe_here() -> dict[str, Any]:
    """What :data:`DESCRIBE` says of the running interpreter (without the wandb check)."""
    namespace: dict[str, Any] = {"__name__": "sweepops_describe"}
    exec(DESCRIBE, namespace)  # noqa: S102 - our own constant: one description, two uses
    return dict(namespace["describe"](False))


def target_of(info: dict[str, Any]) -> str:
    """The tag a runtime for this interpreter is built for, e.g. ``cp311-linux-x86_64-glibc2.36``.

    Implementation and minor version pick the wheels' ABI; system, machine and C library
    their platform. Raises ValueError for an interpreter no runtime can be built for."""
    impl = str(info.get("implementation", ""))
    version = info.get("version") or []
    if impl != "cpython" or len(version) < 2:
        raise ValueError(
            f"the agent's runtime needs CPython; this interpreter is {impl or '?'} "
            f"{'.'.join(map(str, version)) or '?'}"
        )
    system = str(info.get("system", ""))
    machine = str(info.get("machine", ""))
    libc_name, libc_version = (list(info.get("libc") or []) + ["", ""])[:2]
    if system != "linux" or not machine:
        raise ValueError(f"the agent's runtime is built for Linux only; this is {system or '?'}")
    libc = f"{libc_name}{libc_version}" if libc_name else "musl"
    return f"cp{version[0]}{version[1]}-{system}-{machine}-{libc}"


def pip_platforms(target: str) -> list[str]:
    """``pip --platform`` values (best first) whose wheels run on ``target``."""
    _, system, machine, libc = target.split("-", 3)
    if system != "linux":
        raise ValueError(f"no wheels platform for {target}")
    if libc.startswith("glibc"):
        major, _, minor = libc[len("glibc") :].partition(".")
        if major != "2" or not minor.isdigit():
            raise ValueError(f"unknown glibc version in {target}")
        top = int(minor)
        out = [f"manylinux_2_{m}_{machine}" for m in range(top, _MANYLINUX_FLOOR - 1, -1)]
        out += [f"{name}_{machine}" for name, m in _LEGACY_MANYLINUX.items() if m <= top]
        return out
    return [f"musllinux_1_{m}_{machine}" for m in (2, 1)]


def compatible(built_for: str, found: str) -> bool:
    """Whether a runtime built for ``built_for`` runs on an interpreter of tag ``found``:
    the same ABI, system and machine, and a C library at least as new."""
    b_abi, _, b_libc = built_for.rpartition("-")
    f_abi, _, f_libc = found.rpartition("-")
    if b_abi != f_abi:
        return False
    if b_libc.startswith("glibc") and f_libc.startswith("glibc"):
        return _version(f_libc[5:]) >= _version(b_libc[5:])
    return b_libc == f_libc


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())


def runtime_key(base: str, target: str) -> str:
    """The runtime's content address: its code and requirements (``base``) for ``target``."""
    return hashlib.sha256(f"{base}\0{target}".encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- activation


def activation(modules: list[str], conda_root: str, env_prefix: str) -> str:
    """The shell lines that give a job its interpreter: modules, conda, the env's PATH
    (as templates/agent.sbatch.j2 renders them; a unit test holds the two together)."""
    lines: list[str] = []
    if modules:
        lines.append("set +u")
        lines += [f"module load {mod}" for mod in modules]
        lines.append("set -u")
    if conda_root and env_prefix:
        lines.append(
            f"source {shlex.quote(conda_root + '/etc/profile.d/conda.sh')}"
            f" && conda activate {shlex.quote(env_prefix)}"
        )
    if env_prefix:
        lines.append(f'export PATH={shlex.quote(env_prefix + "/bin")}:"$PATH"')
    return "\n".join(lines)


def container_argv(
    runtime: str, image: str, binds: list[str], nv: bool, kind: str = ""
) -> list[str]:
    """The command that runs ``bash -c SCRIPT`` (appended by the caller) in the container.
    ``runtime`` is the program's path; ``kind`` the runtime's name (default: the program's)."""
    name = kind or runtime_of_binary(os.path.basename(runtime))
    return exec_argv(name, runtime, image, binds, nv)


def probe_script(activate: str, python: str) -> str:
    """Activate as the job does, then let ``python`` describe itself."""
    return (
        "set -eu\n"
        f"set +u\n{activate}\nset -u\n"
        f"command -v {shlex.quote(python)} >/dev/null 2>&1 || "
        f"{{ echo 'SWEEPOPS-NO-PYTHON'; exit 0; }}\n"
        # as `wandb agent` and the program run it (no -s: a user-site wandb counts)
        f"exec {shlex.quote(python)} -c {shlex.quote(DESCRIBE)}\n"
    )


def probe(
    *,
    activate: str,
    python: str,
    check_wandb: bool,
    wrapper: list[str] | None = None,
    timeout: float = 60,
) -> dict[str, Any]:
    """Run the job's activation and ``python`` here; the interpreter's description, or
    ``error`` (what went wrong, shown in the problem message)."""
    argv = [*(wrapper or []), "bash", "-c", probe_script(activate, python)]
    env = dict(os.environ, SWEEPOPS_CHECK_WANDB="1" if check_wandb else "0")
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, env=env, check=False
        )
    except FileNotFoundError:
        return {"error": f"{argv[0]}: not found"}
    except subprocess.TimeoutExpired:
        return {"error": f"the activation and `{python}` did not answer within {timeout:.0f} s"}
    except OSError as exc:
        return {"error": str(exc)}
    out = proc.stdout.strip().splitlines()
    if out and out[-1] == "SWEEPOPS-NO-PYTHON":
        return {"error": f"`{python}` is not on PATH after the activation"}
    if proc.returncode != 0 or not out:
        err = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        return {"error": f"the activation or `{python}` failed: {err}"}
    try:
        info = json.loads(out[-1])
    except ValueError:
        return {"error": f"`{python}` printed no description: {out[-1][:200]}"}
    try:
        info["target"] = target_of(info)
    except ValueError as exc:
        info["target_error"] = str(exc)
    return info


# --------------------------------------------------------------------------- the words


def _settings(env_prefix: str, conda_root: str, modules: list[str], python: str) -> str:
    parts = [f"env_prefix={env_prefix or '(unset)'}"]
    if conda_root:
        parts.append(f"conda_root={conda_root}")
    if modules:
        parts.append(f"modules={','.join(modules)}")
    if python != "python":
        parts.append(f"agent_python={python}")
    return ", ".join(parts)


def python_problem(
    cluster: str,
    error: str,
    *,
    env_prefix: str,
    conda_root: str,
    modules: list[str],
    python: str = "python",
    where: str = "the login host",
) -> str:
    """The jobs would find no working interpreter."""
    return (
        f"{cluster}: the jobs' activation ({_settings(env_prefix, conda_root, modules, python)}) "
        f"gives no working Python on {where}: {error}; set env_prefix in "
        f"inventory/group_vars/{cluster}.yml to the env your program runs in "
        "(or fix conda_root, modules or agent_python there)"
    )


def wandb_problem(cluster: str, error: str, *, env_prefix: str, python: str = "python") -> str:
    """A wandb sweep's jobs run the user's ``wandb agent``: wandb must be in their env."""
    return (
        f"{cluster}: wandb is not importable by the jobs' {python} ({error}), and a wandb "
        f"sweep runs `wandb agent` from your env (env_prefix={env_prefix or '(unset)'}); "
        f"install wandb there (pip install wandb), or set env_prefix in "
        f"inventory/group_vars/{cluster}.yml to an env that has it"
    )


def target_problem(cluster: str, built_for: str, found: str, host: str) -> str:
    """A compute node's interpreter is not the one the runtime was built for."""
    return (
        f"{cluster}: on {host} the jobs' Python is {found}, but the agent's runtime was built "
        f"for {built_for}, what the login host has: compute nodes differ from the login host; "
        f"make the activation give the same Python everywhere (env_prefix, conda_root, "
        f"modules in inventory/group_vars/{cluster}.yml)"
    )


# --------------------------------------------------------------------------- preflight


def preflight(cluster: str, job: dict[str, Any], runtime_base: str = "") -> dict[str, Any]:
    """What the cluster probe asks of the jobs' interpreter, on the login host, in one go.

    ``job``: ``python`` (default ``python``), ``modules``, ``conda_root``, ``env_prefix``,
    ``check_wandb`` and ``container`` (``image``, ``runtime``, ``binds``, ``nv``): the job
    script's activation. Returns ``interpreter`` (its description, ``where`` it was looked
    at), ``runtime_key`` (given ``runtime_base``: the runtime that interpreter needs),
    ``problems`` (messages naming the cluster, what is missing and what to do) and
    ``wandb_problem`` (the message when a wandb sweep's ``wandb agent`` could not run)."""
    python = str(job.get("python") or "python")
    modules = [str(m) for m in job.get("modules") or []]
    conda_root = str(job.get("conda_root") or "")
    env_prefix = str(job.get("env_prefix") or "")
    container = job.get("container") or {}
    wrapper: list[str] | None = None
    where = "the login host"
    note = ""
    if container.get("image"):
        runtime = str(container.get("runtime") or "apptainer")
        found = shutil.which(BINARIES.get(runtime, runtime))
        if found:
            binds = [str(b) for b in container.get("binds") or []]
            wrapper = container_argv(found, str(container["image"]), binds, False, runtime)
            where = f"the login host, in the container {container['image']}"
        else:
            note = f"{runtime} is not on the login host: the container was not entered here"
    info = probe(
        activate=activation(modules, conda_root, env_prefix),
        python=python,
        check_wandb=bool(job.get("check_wandb")),
        wrapper=wrapper,
    )
    info["where"] = where
    if note:
        info["note"] = note
    problems: list[str] = []
    error = info.get("error") or info.get("target_error")
    if env_prefix and not os.path.isdir(env_prefix):
        problems.append(
            f"{cluster}: env_prefix {env_prefix} does not exist on the cluster, so the jobs "
            f"would not run in your env; copy it there with `sweepops provision {cluster}`, "
            f"or set env_prefix in inventory/group_vars/{cluster}.yml to where it is"
        )
    elif error:
        problems.append(
            python_problem(
                cluster,
                error,
                env_prefix=env_prefix,
                conda_root=conda_root,
                modules=modules,
                python=python,
                where=where,
            )
        )
    # Whether the sweeps are wandb's is decided after the probe: the deploy raises this one
    # only then (before any sweep is created).
    wandb = ""
    if not problems and job.get("check_wandb") and "wandb_error" in info:
        wandb = wandb_problem(cluster, info["wandb_error"], env_prefix=env_prefix, python=python)
    result: dict[str, Any] = {
        "interpreter": info,
        "problems": problems,
        "wandb_problem": wandb,
        "runtime_key": "",
    }
    if runtime_base and info.get("target"):
        result["runtime_key"] = runtime_key(runtime_base, info["target"])
    return result
