"""One line saying what to do when ssh refuses a cluster (issue 16.12): Ansible shows ssh's
raw text ("Permission denied (publickey,password)", "REMOTE HOST IDENTIFICATION HAS
CHANGED!"); :func:`hint_for` turns it into what happened and the command that fixes it.
:mod:`sweepops.ansible.runner` prints it to stderr for every host that was unreachable."""

from __future__ import annotations

import re

_REMOVE = re.compile(r'ssh-keygen -f "([^"]+)" -R "([^"]+)"')
_ADDRESS = re.compile(r'Host key for (\S+) has changed|remote host "([^"]+)"')


def hint_for(
    host: str, message: str, group: str | None = None, *, unreachable: bool = True
) -> str | None:
    """The advice for ``host`` (inventory name) from ssh's ``message``, or None when the
    message is not one we know. For a task that failed (``unreachable=False``, e.g. rsync over
    ssh) only ssh's unambiguous host-key refusal counts: "Permission denied" there may be a
    file's."""
    text = message or ""
    cluster = group or host
    host_key = "REMOTE HOST IDENTIFICATION HAS CHANGED" in text
    if host_key or "Host key verification failed" in text:
        remove = _REMOVE.search(text)
        if remove:  # ssh's own suggestion names the known_hosts file
            command = f"ssh-keygen -R {remove.group(2)} -f {remove.group(1)}"
        else:
            match = _ADDRESS.search(text)
            address = next((g for g in match.groups() if g), host) if match else host
            command = f"ssh-keygen -R {address}"
        return (
            f"{host}: its host key is not the one this workstation knows (it changed, or another "
            f"machine answers at that address). If the cluster was reinstalled, remove the old "
            f"key with `{command}` and deploy again; otherwise do not connect"
        )
    if not unreachable:
        return None
    if re.search(r"Permission denied|incorrect password|Authentication failed", text):
        return (
            f"{host}: the login was refused (wrong key or password). Install your key with "
            f"`sweepops provision {cluster} --ask-pass`, or set ansible_ssh_private_key_file "
            "in the inventory to a key the cluster accepts"
        )
    if re.search(r"Load key .*: No such file|no such identity", text):
        return (
            f"{host}: the ssh key the inventory names does not exist; run `sweepops provision "
            f"{cluster} --ask-pass` to make and install it, or fix ansible_ssh_private_key_file"
        )
    if re.search(r"Could not resolve hostname|Name or service not known", text):
        return f"{host}: its address does not resolve; check ansible_host in the inventory"
    if re.search(r"Connection refused|timed out|No route to host|Network is unreachable", text):
        return (
            f"{host}: nothing answers ssh there ({_first_line(text)}); check ansible_host and "
            "ansible_port in the inventory, the VPN, or whether the login node is up"
        )
    return None


def _first_line(text: str) -> str:
    for line in text.splitlines():
        line = line.strip()
        if line:
            return line[:160]
    return "no answer"
