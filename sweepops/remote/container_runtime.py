"""The container runtimes jobs can run in, and the command line that enters each.

Standard library only: used on the workstation (the container role, the job script's
filters) and, shipped as module_utils, on the login host (the cluster facts, the deploy's
preflight).

- apptainer / singularity: one image file (``.sif``), ``RUNTIME exec --bind A,B [--nv] IMAGE``.
- charliecloud (Debian's ``charliecloud`` package): ``ch-run`` runs a plain directory image
  in an unprivileged user namespace. The image travels as one tarball (``NAME.tar.gz``: one
  file, so its sha256 is what deploys record and reproduce checks); the container role
  unpacks it next to itself (:func:`run_path`: ``NAME``) and jobs run
  ``ch-run -b A:A -b B:B NAME -- COMMAND``. ch-run has no ``--nv``: the host's ``/dev``
  (``/dev/nvidia*``) and the environment (``CUDA_VISIBLE_DEVICES``) pass in as they are;
  the driver's libraries are injected into the unpacked image by ``ch-fromhost --nvidia``.
"""

from __future__ import annotations

from typing import Any

#: runtime name -> the program that runs a container
BINARIES = {"apptainer": "apptainer", "singularity": "singularity", "charliecloud": "ch-run"}
#: the runtimes whose image is one file that runs as it is
SIF_RUNTIMES = ("apptainer", "singularity")
#: the image suffixes charliecloud's tarball may have (the unpacked directory drops it)
TARBALL_SUFFIXES = (".tar.gz", ".tgz", ".tar")


def binary(runtime: str) -> str:
    """The program of ``runtime`` (``ch-run`` for charliecloud). ValueError when unknown."""
    try:
        return BINARIES[runtime]
    except KeyError:
        raise ValueError(
            f"unknown container runtime {runtime!r}: use one of {', '.join(BINARIES)}"
        ) from None


def runtime_of_binary(name: str) -> str:
    """The runtime a program belongs to (``ch-run`` -> ``charliecloud``)."""
    for runtime, program in BINARIES.items():
        if program == name or runtime == name:
            return runtime
    return name


def run_path(runtime: str, image: str) -> str:
    """What the runtime runs: the image file itself, or (charliecloud) the directory the
    tarball ``NAME.tar.gz`` is unpacked into, ``NAME``. ValueError for a charliecloud image
    that is not a tarball."""
    if runtime != "charliecloud":
        return image
    for suffix in TARBALL_SUFFIXES:
        if image.endswith(suffix) and len(image) > len(suffix) and not image.endswith("/" + suffix):
            return image[: -len(suffix)]
    raise ValueError(
        f"container_image {image!r}: a charliecloud image travels as a tarball; name it "
        f"NAME{TARBALL_SUFFIXES[0]} (it is unpacked into NAME on the cluster)"
    )


def exec_argv(runtime: str, program: str, image: str, binds: list[str], nv: bool) -> list[str]:
    """The command that runs what the caller appends (e.g. ``bash -c SCRIPT``) in the
    container, each bind at its own path. ``program`` is the runtime's path or name."""
    paths = list(dict.fromkeys(b for b in binds if b))
    if runtime == "charliecloud":
        argv = [program]
        for path in paths:
            argv += ["-b", f"{path}:{path}"]
        return [*argv, run_path(runtime, image), "--"]
    argv = [program, "exec"]
    if nv:
        argv.append("--nv")
    if paths:
        argv += ["--bind", ",".join(paths)]
    return [*argv, image]


def image_stem(image: str) -> str:
    """The image's file name without its suffix (``train`` for ``LAB/c/train.tar.gz``): names
    the definition rendered for it."""
    name = image.rstrip("/").rsplit("/", 1)[-1]
    for suffix in (*TARBALL_SUFFIXES, ".sif"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def pick(facts: dict[str, Any], wanted: str) -> dict[str, Any] | None:
    """The runtime the jobs use, from the cluster facts (``container_runtimes``: every one
    found, ``container_runtime``: the first): the one named ``wanted``, else the first found;
    None when the login host has none (or not the one wanted)."""
    found = list(facts.get("container_runtimes") or [])
    first = facts.get("container_runtime")
    if not found and first:
        found = [first]
    if not wanted:
        return first or (found[0] if found else None)
    return next((r for r in found if r.get("name") == wanted), None)


def missing_message(host: str, wanted: str, image: str) -> str:
    """What the container role says when the login host has no (or not the wanted) runtime."""
    if wanted:
        what = f"{wanted} (its program {BINARIES.get(wanted, wanted)}) is not"
    else:
        what = "neither apptainer, singularity nor charliecloud (ch-run) is"
    return (
        f"{host}: {what} on the login host's PATH, so container_image={image} cannot run "
        "there. Ask the cluster's admins (or load its module in your shell profile), install "
        "Debian's charliecloud package, or leave container_image unset."
    )


def in_env_argv(
    runtime: str, program: str, image: str, env_prefix: str, command: list[str]
) -> list[str]:
    """``command`` run in the container with the env bound at its path and its ``bin`` first
    on PATH (ch-run has no ``%environment``): the container role's sanity run."""
    shell = ["/bin/sh", "-c", 'PATH="$0/bin:$PATH"; export PATH; exec "$@"', env_prefix]
    return [*exec_argv(runtime, program, image, [env_prefix], False), *shell, *command]
