#!/usr/bin/python
"""Ansible module: render the container definition and build the image when it changed (thin
wrapper over sweepops.artifacts.container). Run on localhost."""

from __future__ import annotations

# BEGIN DOCUMENTATION, generated from its spec sweepops.ansible.steps.SPECS:
# edit the spec, then run `python -m sweepops.ansible.docgen --write`.

DOCUMENTATION = r"""
module: sweepops_env_container
short_description: Render container.def and build the image only when
  the definition changed
description:
  - 'Runs on the workstation (C(delegate_to: localhost)). Renders
    I(template) into I(def_path) (base matching C(/etc/os-release):
    a registry image, CUDA when given, or debootstrap; the env bound
    by reference), and builds I(image) when the image is missing or
    its recorded definition digest (C(IMAGE.def.sha256)) differs.
    Changed when the definition was written or the image built. In
    check mode nothing is written or built.'
  - apptainer or singularity build a C(.sif). For C(runtime=charliecloud)
    the image is a tarball of a debootstrap'd Debian tree (base cached
    in I(rootfs_cache)) in which the rendered script ran as root (C(chroot));
    this needs root or C(sudo -n) and debootstrap on the workstation.
  - Fails clearly when a build is needed and no runtime exists on
    the workstation.
options:
  template:
    description: The definition template (Jinja2).
    type: path
    required: true
  def_path:
    description: Where the rendered definition goes.
    type: path
    required: true
  image:
    description: The image file on the workstation.
    type: path
    required: true
  env_prefix:
    description: The env bound into the container (same path everywhere).
    type: path
    required: true
  conda:
    description: Whether the env is a conda env (else a venv).
    type: bool
    default: true
  cuda:
    description: CUDA version of the base image (e.g. 12.2.0); empty
      for none.
    type: str
    default: ''
  base_image:
    description: The docker image for C(From:); empty picks one matching
      the workstation.
    type: str
    default: ''
  post_commands:
    description: Extra shell lines for C(%post).
    type: list
    default: []
    elements: str
  runtime:
    description: C(auto) (apptainer, then singularity), C(apptainer),
      C(singularity) or C(charliecloud) (built with debootstrap, no
      runtime needed here).
    type: str
    default: auto
    choices:
      - auto
      - apptainer
      - singularity
      - charliecloud
  bootstrap:
    description: 'Where apptainer''s base comes from: C(docker) (I(base_image)
      from a registry) or C(debootstrap) (Debian''s packages, C(Bootstrap:
      debootstrap)). charliecloud always uses debootstrap.'
    type: str
    default: docker
    choices:
      - docker
      - debootstrap
  mirror:
    description: 'The debootstrap mirror; empty: Debian''s or Ubuntu''s
      own.'
    type: str
    default: ''
  packages:
    description: OS packages in the image (debootstrap C(--include),
      or apt-get in C(%post) on a registry base), e.g. python3 for
      a venv's base interpreter.
    type: list
    default: []
    elements: str
  bind_paths:
    description: More paths bound in at run time; the definition makes
      their mount points (charliecloud binds only onto existing directories).
    type: list
    default: []
    elements: str
  rootfs_cache:
    description: Where debootstrap bases are cached (charliecloud).
    type: path
    default: ~/.cache/sweepops/rootfs
  fakeroot:
    description: Build with C(--fakeroot) when not root; false builds
      through C(sudo -n).
    type: bool
    default: true
  os_release:
    description: The workstation's os-release file.
    type: path
    default: /etc/os-release
author: sweepops
"""

RETURN = r"""
digest:
  description: sha256 of the rendered definition.
  returned: always
  type: str
built:
  description: Whether the image was (or, in check mode, would be)
    built.
  returned: always
  type: bool
reason:
  description: Why it was built or not.
  returned: always
  type: str
sha256:
  description: sha256 of the image (empty when it does not exist,
    e.g. in check mode).
  returned: always
  type: str
runtime:
  description: The runtime used to build (empty when none was needed).
  returned: always
  type: str
base_image:
  description: The C(From:) image.
  returned: always
  type: str
"""
# END DOCUMENTATION

from ansible.module_utils.sweepops_workstation import run_step


def main() -> None:
    # The step and its spec: sweepops.ansible.steps.
    run_step("sweepops_env_container")


if __name__ == "__main__":
    main()
