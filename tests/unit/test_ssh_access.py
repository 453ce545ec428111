"""The ssh command line diff and the dashboard use: the inventory's address, port, user, key
and ssh arguments, Ansible's ssh_args without its ControlMaster options."""

from __future__ import annotations

from sweepops.ops.ssh_access import ssh_argv


def test_the_inventorys_access_makes_the_command_line():
    argv = ssh_argv(
        {
            "ansible_host": "10.0.0.2",
            "ansible_port": 2222,
            "ansible_user": "me",
            "ansible_ssh_private_key_file": "/k/id",
            "ansible_ssh_common_args": "-o UserKnownHostsFile=/k/known",
        },
        "login",
        cfg_args="-o ControlMaster=auto -o ControlPersist=60s -o StrictHostKeyChecking=accept-new",
    )
    assert argv[0] == "ssh" and argv[-1] == "me@10.0.0.2"
    words = " ".join(argv)
    assert "-p 2222" in words and "-i /k/id -o IdentitiesOnly=yes" in words
    assert "-o UserKnownHostsFile=/k/known" in words and "StrictHostKeyChecking=accept-new" in words
    assert "BatchMode=yes" in words and "Control" not in words


def test_without_host_variables_the_recorded_login():
    assert ssh_argv({}, "login.example")[-1] == "login.example"
