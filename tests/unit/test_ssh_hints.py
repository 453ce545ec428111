"""sweepops.ansible.ssh_hints: ssh's raw refusals as one line saying what to do (issue 16.12)."""

from __future__ import annotations

from sweepops.ansible.ssh_hints import hint_for

CHANGED = """Failed to connect to the host via ssh: @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!
Offending ED25519 key in /tmp/known_hosts:1
Host key for 10.203.87.2 has changed and you have requested strict checking.
Host key verification failed."""


def test_a_changed_host_key_says_ssh_keygen_r() -> None:
    hint = hint_for("heron-login", CHANGED)
    assert hint is not None and "`ssh-keygen -R 10.203.87.2`" in hint
    with_file = CHANGED + '\n  remove with:\n  ssh-keygen -f "/tmp/kh" -R "10.203.87.2"\n'
    assert "`ssh-keygen -R 10.203.87.2 -f /tmp/kh`" in str(hint_for("h", with_file))
    assert "its host key is not the one this workstation knows" in hint


def test_a_refused_key_says_provision_with_ask_pass() -> None:
    msg = (
        "Failed to connect to the host via ssh: researcher@10.0.0.1: Permission denied (publickey)."
    )
    hint = hint_for("atlas-login", msg, group="atlas")
    assert hint is not None and "`sweepops provision atlas --ask-pass`" in hint
    assert "ansible_ssh_private_key_file" in hint


def test_nothing_answering_names_host_and_port_settings() -> None:
    hint = hint_for("x", "ssh: connect to host 10.0.0.9 port 2222: Connection refused")
    assert hint is not None and "ansible_host and ansible_port" in hint
    assert hint_for("x", "something else entirely") is None


def test_a_failed_task_gets_only_the_host_key_hint() -> None:
    assert (
        hint_for("x", "mkdir: cannot create directory: Permission denied", unreachable=False)
        is None
    )
    assert hint_for("x", CHANGED, unreachable=False) is not None
