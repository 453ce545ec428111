"""One ``ssh`` command line per cluster host, as the deploy's inventory reaches it.

``sweepops diff`` (the rendered sbatch script) and ``sweepops dashboard`` (one long-lived
reader per cluster) talk to a login host outside Ansible, with Ansible's own view of the
host: ``ansible-inventory --host`` over the repository's inventories, the deploy's recorded
ones and ``-i`` gives ``ansible_host``, ``ansible_port``, ``ansible_user``, the private key
and the extra ssh arguments; the submission's ``login`` is the fallback address.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from sweepops.core.errors import SweepopsError


def host_vars(root: Path, host: str, inventory: list[str]) -> dict[str, Any]:
    """The host's variables as Ansible resolves them (``ansible-inventory --host``)."""
    from sweepops.ansible.runner import inventories

    exe = Path(sys.executable).parent / "ansible-inventory"
    argv = [str(exe) if exe.exists() else "ansible-inventory"]
    for source in inventories(root, inventory):
        argv += ["-i", source]
    env = dict(os.environ, ANSIBLE_CONFIG=str(root / "ansible.cfg"))
    try:
        proc = subprocess.run(
            [*argv, "--host", host], capture_output=True, text=True, env=env, timeout=60, cwd=root
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SweepopsError(f"cannot read the inventory for {host}: {exc}") from exc
    if proc.returncode != 0:
        raise SweepopsError(f"no inventory knows {host}: {proc.stderr.strip()[-300:]}")
    return dict(json.loads(proc.stdout or "{}"))


def config_ssh_args(root: Path) -> str:
    """``[ssh_connection] ssh_args`` of the repository's ansible.cfg ('' when none)."""
    import configparser

    cfg = configparser.ConfigParser(interpolation=None)
    try:
        cfg.read(root / "ansible.cfg")
    except configparser.Error:
        return ""
    return cfg.get("ssh_connection", "ssh_args", fallback="")


def _own_args(args: str) -> list[str]:
    """ssh options of Ansible's ssh_args, without its ControlMaster ones (the caller holds
    its own long-lived connection)."""
    words = shlex.split(args)
    out: list[str] = []
    i = 0
    while i < len(words):
        if words[i] == "-o" and i + 1 < len(words):
            if not words[i + 1].startswith(("ControlMaster", "ControlPersist", "ControlPath")):
                out += words[i : i + 2]
            i += 2
        else:
            out.append(words[i])
            i += 1
    return out


def ssh_argv(
    hostvars: dict[str, Any], fallback: str, *, timeout: int = 10, cfg_args: str = ""
) -> list[str]:
    """``ssh [options] [user@]address`` (no remote command) from the host's variables, with
    Ansible's ssh_args (the host's ``ansible_ssh_args``, else ansible.cfg's ``cfg_args``)."""
    address = str(hostvars.get("ansible_host") or fallback)
    argv = ["ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={timeout}"]
    argv += _own_args(str(hostvars.get("ansible_ssh_args") or cfg_args))
    argv += ["-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=3"]
    port = hostvars.get("ansible_port") or hostvars.get("ansible_ssh_port")
    if port:
        argv += ["-p", str(port)]
    key = hostvars.get("ansible_ssh_private_key_file") or hostvars.get("ansible_private_key_file")
    if key:
        argv += ["-i", os.path.expanduser(str(key)), "-o", "IdentitiesOnly=yes"]
    for name in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
        if hostvars.get(name):
            argv += shlex.split(str(hostvars[name]))
    user = hostvars.get("ansible_user") or hostvars.get("ansible_ssh_user")
    argv.append(f"{user}@{address}" if user else address)
    return argv


def ssh_for(root: Path, host: str, info: dict[str, Any], inventory: list[str]) -> list[str]:
    """The ssh command line to a submission's host (``info``: its ``submitted`` record)."""
    sources = [*inventory]
    for source in info.get("inventory_sources") or []:
        if source not in sources and Path(source).exists():
            sources.append(source)
    return ssh_argv(
        host_vars(root, host, sources),
        str(info.get("login") or host),
        cfg_args=config_ssh_args(root),
    )
