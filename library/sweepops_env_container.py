#!/usr/bin/python
"""Ansible module: render the container definition and build the image when it changed (thin
wrapper over sweepops.artifacts.container). Run on localhost."""

from __future__ import annotations

DOCUMENTATION = r"""
module: sweepops_env_container
short_description: Render container.def and build the image only when the definition changed
description:
  - Runs on the workstation (C(delegate_to: localhost)). Renders I(template) into I(def_path)
    (base image matching C(/etc/os-release), CUDA when given; the env bound by reference),
    and builds I(image) with apptainer or singularity when the image is missing or its
    recorded definition digest (C(IMAGE.def.sha256)) differs. Changed when the definition was
    written or the image built. In check mode nothing is written or built.
  - Fails clearly when a build is needed and no runtime exists on the workstation.
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
    description: CUDA version of the base image (e.g. 12.2.0); empty for none.
    type: str
    default: ""
  base_image:
    description: The docker image for C(From:); empty picks one matching the workstation.
    type: str
    default: ""
  post_commands:
    description: Extra shell lines for C(%post).
    type: list
    elements: str
    default: []
  runtime:
    description: C(auto) (apptainer, then singularity), C(apptainer) or C(singularity).
    type: str
    default: auto
  fakeroot:
    description: Build with C(--fakeroot) when not root; false builds through C(sudo -n).
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
  description: Whether the image was (or, in check mode, would be) built.
  returned: always
  type: bool
reason:
  description: Why it was built or not.
  returned: always
  type: str
sha256:
  description: sha256 of the image (empty when it does not exist, e.g. in check mode).
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

from pathlib import Path

from ansible.module_utils.basic import AnsibleModule


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "template": {"type": "path", "required": True},
            "def_path": {"type": "path", "required": True},
            "image": {"type": "path", "required": True},
            "env_prefix": {"type": "path", "required": True},
            "conda": {"type": "bool", "default": True},
            "cuda": {"type": "str", "default": ""},
            "base_image": {"type": "str", "default": ""},
            "post_commands": {"type": "list", "elements": "str", "default": []},
            "runtime": {"type": "str", "default": "auto"},
            "fakeroot": {"type": "bool", "default": True},
            "os_release": {"type": "path", "default": "/etc/os-release"},
        },
        supports_check_mode=True,
    )
    try:
        from sweepops.artifacts import container
        from sweepops.core.errors import SweepopsError
        from sweepops.remote.imagedigest import file_sha256
    except ImportError as exc:
        module.fail_json(msg=f"the sweepops package is not importable by this Python: {exc}")
    p = module.params
    image = Path(p["image"])
    def_path = Path(p["def_path"])
    try:
        found = container.find_runtime(prefer=p["runtime"])
        variables = container.def_variables(
            env_prefix=p["env_prefix"],
            conda=p["conda"],
            os_release=container.parse_os_release(Path(p["os_release"]).read_text()),
            cuda=p["cuda"],
            base=p["base_image"],
            post_commands=p["post_commands"],
            runtime=found[0] if found else "apptainer",
        )
        text = container.render_def(p["template"], variables)
    except (SweepopsError, OSError) as exc:
        module.fail_json(msg=f"on the workstation: {exc}")
    digest = container.text_digest(text)
    def_changed = not def_path.exists() or def_path.read_text() != text
    decision = container.build_decision(image, digest)
    result = {
        "digest": digest,
        "built": decision.build,
        "reason": decision.reason,
        "runtime": "",
        "base_image": variables["base_image"],
        "def_path": str(def_path),
        "diff": {"before": def_path.read_text() if def_path.exists() else "", "after": text},
    }
    if decision.build and not found:
        module.fail_json(
            msg=f"on the workstation: the image must be built ({decision.reason}) but neither "
            "apptainer nor singularity is installed here; install apptainer "
            "(https://apptainer.org/docs/admin/main/installation.html), or leave "
            "container_image unset to run without a container",
            **result,
        )
    if module.check_mode:
        sha = file_sha256(image) if image.exists() and not decision.build else ""
        module.exit_json(changed=def_changed or decision.build, sha256=sha, **result)
    try:
        if def_changed:
            def_path.parent.mkdir(parents=True, exist_ok=True)
            def_path.write_text(text)
        if decision.build:
            assert found is not None
            container.build(image, def_path, digest, runtime_path=found[1], fakeroot=p["fakeroot"])
            result["runtime"] = found[0]
    except (SweepopsError, OSError) as exc:
        module.fail_json(msg=f"on the workstation: {exc}", **result)
    module.exit_json(changed=def_changed or decision.build, sha256=file_sha256(image), **result)


if __name__ == "__main__":
    main()
