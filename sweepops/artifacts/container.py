"""The container a cluster's jobs run in: its definition, when to build it, when to copy it.

The image holds the OS (matching the workstation's, with CUDA when asked); the Python env is
not inside it but bound in by reference at its identical absolute path, so the image changes
only when its definition does. The ``container`` role uses this through the
``sweepops_env_container`` module:

- :func:`base_image`: the ``From:`` image matching ``/etc/os-release`` (+ CUDA).
- :func:`render_def`: ``templates/container.def.j2`` rendered; :func:`text_digest` hashes it.
- :func:`build_decision`: build only when the image is missing or was built from another
  definition (its digest is recorded next to the image, ``IMAGE.def.sha256``).
- :func:`build`: apptainer or singularity (whichever exists), ``--fakeroot`` or ``sudo -n``;
  a charliecloud image is built from Debian's packages by :mod:`sweepops.artifacts.rootfs`.
- :func:`debootstrap_source`: the suite and mirror matching the workstation, for an apptainer
  definition's ``Bootstrap: debootstrap`` and for charliecloud's base.
- :func:`needs_copy`: copy to the cluster only when the sha256 differs (roles/container).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweepops.core.errors import SweepopsError

RUNTIMES = ("apptainer", "singularity")
#: NVIDIA publishes CUDA images for Ubuntu and Rocky Linux, not Debian: the closest Ubuntu.
DEBIAN_TO_UBUNTU = {"10": "18.04", "11": "20.04", "12": "22.04", "13": "24.04"}
RHEL_LIKE = ("rhel", "rocky", "almalinux", "centos")
#: where the base of an image comes from: a registry (docker) or Debian's packages
BOOTSTRAPS = ("docker", "debootstrap")
MIRRORS = {"debian": "http://deb.debian.org/debian", "ubuntu": "http://archive.ubuntu.com/ubuntu"}


def parse_os_release(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and not key.startswith("#"):
            out[key.strip()] = value.strip().strip('"').strip("'")
    return out


def base_image(os_release: dict[str, str], cuda: str = "") -> str:
    """The docker image for ``From:``: the workstation's OS, or NVIDIA's CUDA image of the
    nearest OS when ``cuda`` (e.g. ``12.2.0``) is given."""
    os_id = os_release.get("ID", "").lower()
    like = os_release.get("ID_LIKE", "").lower().split()
    version = os_release.get("VERSION_ID", "")
    major = version.split(".")[0]
    if os_id == "ubuntu":
        return f"nvidia/cuda:{cuda}-runtime-ubuntu{version}" if cuda else f"ubuntu:{version}"
    if os_id == "debian":
        if not cuda:
            return f"debian:{major}"
        if major in DEBIAN_TO_UBUNTU:
            return f"nvidia/cuda:{cuda}-runtime-ubuntu{DEBIAN_TO_UBUNTU[major]}"
    if os_id in RHEL_LIKE or "rhel" in like:
        return f"nvidia/cuda:{cuda}-runtime-rockylinux{major}" if cuda else f"rockylinux:{major}"
    raise SweepopsError(
        f"no base image known for the workstation's OS ({os_id or 'unknown'} {version})"
        + (f" with CUDA {cuda}" if cuda else ""),
        hint="set container_base_image (a docker image, e.g. ubuntu:22.04)",
    )


def debootstrap_source(os_release: dict[str, str], mirror: str = "") -> tuple[str, str]:
    """(suite, mirror) for debootstrap matching the workstation's Debian or Ubuntu."""
    os_id = os_release.get("ID", "").lower()
    suite = os_release.get("VERSION_CODENAME", "")
    if os_id not in MIRRORS or not suite:
        raise SweepopsError(
            "a debootstrap base needs a Debian or Ubuntu workstation (its /etc/os-release "
            f"names {os_id or 'no OS'} {suite or os_release.get('VERSION_ID', '')})",
            hint="use container_bootstrap=docker with container_base_image, or build on Debian",
        )
    return suite, mirror or MIRRORS[os_id]


def conda_root_of(prefix: str | Path) -> str:
    """The conda installation an env belongs to: ROOT for ROOT/envs/NAME, else the prefix."""
    p = Path(prefix)
    return str(p.parent.parent) if p.parent.name == "envs" else str(p)


def render_def(template: str | Path, variables: dict[str, Any]) -> str:
    """Render the container definition template (Jinja2, like Ansible's template module)."""
    import jinja2

    env = jinja2.Environment(
        trim_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    return env.from_string(Path(template).read_text()).render(**variables)


def def_variables(
    *,
    env_prefix: str,
    conda: bool,
    os_release: dict[str, str],
    cuda: str = "",
    base: str = "",
    post_commands: Sequence[str] = (),
    runtime: str = "apptainer",
    bootstrap: str = "docker",
    mirror: str = "",
    packages: Sequence[str] = (),
    bind_paths: Sequence[str] = (),
) -> dict[str, Any]:
    """The definition template's variables. A charliecloud image always bootstraps from
    Debian's packages; apptainer/singularity from a registry image (``docker``, the default)
    or with ``debootstrap``."""
    if runtime == "charliecloud":
        bootstrap = "debootstrap"
    if bootstrap not in BOOTSTRAPS:
        raise SweepopsError(
            f"container_bootstrap {bootstrap!r} is not one of {', '.join(BOOTSTRAPS)}",
            hint="docker pulls From: a registry; debootstrap builds from Debian's packages",
        )
    variables: dict[str, Any] = {
        "bootstrap": bootstrap,
        "cuda": cuda,
        "env_prefix": env_prefix,
        "bind_path": env_prefix,
        "bind_paths": list(dict.fromkeys(p for p in [env_prefix, *bind_paths] if p)),
        "conda": conda,
        "conda_root": conda_root_of(env_prefix),
        "post_commands": list(post_commands),
        "packages": list(packages),
        "runtime": runtime,
        "suite": "",
        "mirror": "",
        "base_image": "",
    }
    if bootstrap == "debootstrap":
        if cuda:
            raise SweepopsError(
                f"container_cuda={cuda} needs NVIDIA's CUDA base image (a registry): a "
                "debootstrap base has no CUDA",
                hint="install CUDA's libraries into the env (e.g. pip's nvidia-* wheels), or "
                "use apptainer with container_bootstrap=docker",
            )
        variables["suite"], variables["mirror"] = debootstrap_source(os_release, mirror)
    else:
        variables["base_image"] = base or base_image(os_release, cuda)
    return variables


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def digest_file(image: str | Path) -> Path:
    """Where the digest of the definition an image was built from is recorded."""
    return Path(f"{image}.def.sha256")


@dataclass(frozen=True)
class Decision:
    build: bool
    reason: str


def build_decision(image: str | Path, digest: str) -> Decision:
    image = Path(image)
    if not image.exists():
        return Decision(True, f"{image} does not exist")
    recorded = digest_file(image)
    if not recorded.exists():
        return Decision(True, f"{image} has no recorded definition digest")
    old = recorded.read_text().strip()
    if old != digest:
        return Decision(True, f"the definition changed ({old[:12]} -> {digest[:12]})")
    return Decision(False, f"{image} was built from this definition")


def find_runtime(
    which: Callable[[str], str | None] = shutil.which, prefer: str = ""
) -> tuple[str, str] | None:
    """(name, path) of apptainer or singularity (``prefer`` first), or None."""
    names = [prefer] if prefer and prefer != "auto" else list(RUNTIMES)
    for name in names:
        path = which(name)
        if path:
            return name, path
    return None


def build_command(
    runtime_path: str, image: str | Path, definition: str | Path, *, fakeroot: bool, root: bool
) -> list[str]:
    """Root builds directly; others with --fakeroot, or through sudo -n when not allowed."""
    cmd = [runtime_path, "build", "--force"]
    if root:
        return [*cmd, str(image), str(definition)]
    if fakeroot:
        return [*cmd, "--fakeroot", str(image), str(definition)]
    return ["sudo", "-n", *cmd, str(image), str(definition)]


def build(
    image: str | Path,
    definition: str | Path,
    digest: str,
    *,
    runtime_path: str,
    fakeroot: bool = True,
    root: bool | None = None,
    run: Callable[..., Any] = subprocess.run,
) -> None:
    """Build into IMAGE.building, rename into place, record the definition's digest."""
    image = Path(image)
    image.parent.mkdir(parents=True, exist_ok=True)
    tmp = image.with_name(image.name + ".building")
    is_root = os.geteuid() == 0 if root is None else root
    cmd = build_command(runtime_path, tmp, definition, fakeroot=fakeroot, root=is_root)
    proc = run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout or "").strip().splitlines()[-15:])
        raise SweepopsError(
            f"building {image} failed ({proc.returncode}): {' '.join(cmd)}\n{tail}",
            hint="without root, apptainer needs --fakeroot (subuid/subgid entries) or "
            "container_fakeroot=false with passwordless sudo",
        )
    os.replace(tmp, image)
    digest_file(image).write_text(digest + "\n")


def needs_copy(local_sha256: str, remote_sha256: str | None) -> bool:
    """Copy the image to the cluster: it was built here (``local_sha256``) and the cluster's
    copy is missing (``remote_sha256`` None) or differs (roles/container, through the filter
    ``sweepops_image_needs_copy``)."""
    return bool(local_sha256) and remote_sha256 != local_sha256


def needs_copy_stat(local_sha256: str, remote_stat: dict[str, Any]) -> bool:
    """:func:`needs_copy` of the cluster's image as ``ansible.builtin.stat`` (sha256) saw it."""
    remote = remote_stat.get("checksum") if remote_stat.get("exists") else None
    return needs_copy(local_sha256, remote or None)
