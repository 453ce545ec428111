#!/usr/bin/python
"""Ansible module: what a cluster offers (partitions, GPU GRES, container runtime).

Runs on the login host with its own Python (stdlib only).
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: sweepops_facts
short_description: Partitions, GPU GRES and the container runtime of a Slurm cluster
description:
  - Runs C(sinfo -h -o '%P %G') and looks for C(apptainer) then C(singularity) on C(PATH).
  - Reads only; never reports a change.
options:
  runtimes:
    description: Container runtimes to look for, first found wins.
    type: list
    elements: str
    default: [apptainer, singularity]
author: sweepops
"""

RETURN = r"""
partitions:
  description: One entry per partition, with C(name), C(default) and C(gres) (list, e.g. gpu:2).
  returned: always
  type: list
  elements: dict
gpus:
  description: Whether any partition has GPU GRES.
  returned: always
  type: bool
container_runtime:
  description: C(name), C(path) and C(version) of the runtime, or null.
  returned: always
  type: dict
"""

import shutil
import subprocess

from ansible.module_utils.basic import AnsibleModule


def parse_sinfo(text):
    """Lines of `sinfo -h -o '%P %G'` (one per partition and GRES set) -> partitions."""
    parts = {}
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        name = words[0]
        default = name.endswith("*")
        name = name.rstrip("*")
        entry = parts.setdefault(name, {"name": name, "default": default, "gres": []})
        entry["default"] = entry["default"] or default
        for gres in (words[1] if len(words) > 1 else "(null)").split(","):
            gres = gres.strip()
            if gres and gres != "(null)" and gres not in entry["gres"]:
                entry["gres"].append(gres)
    return list(parts.values())


def main():
    module = AnsibleModule(
        argument_spec={
            "runtimes": {
                "type": "list",
                "elements": "str",
                "default": ["apptainer", "singularity"],
            }
        },
        supports_check_mode=True,
    )
    if not shutil.which("sinfo"):
        module.fail_json(msg="sinfo is not on PATH here: is this a Slurm login host?")
    proc = subprocess.run(["sinfo", "-h", "-o", "%P %G"], capture_output=True, text=True)
    if proc.returncode != 0:
        module.fail_json(msg=f"sinfo failed ({proc.returncode}): {proc.stderr.strip()}")
    partitions = parse_sinfo(proc.stdout)
    runtime = None
    for name in module.params["runtimes"]:
        path = shutil.which(name)
        if path:
            ver = subprocess.run([path, "--version"], capture_output=True, text=True)
            version = (ver.stdout or ver.stderr).strip().splitlines()
            runtime = {"name": name, "path": path, "version": version[0] if version else ""}
            break
    module.exit_json(
        changed=False,
        partitions=partitions,
        gpus=any(g.split(":")[0] == "gpu" for p in partitions for g in p["gres"]),
        container_runtime=runtime,
    )


if __name__ == "__main__":
    main()
