"""The one parser of ansible-runner's events (sweepops.ansible.runner.task_event), read
from a real ansible-runner run of a small playbook on localhost."""

from __future__ import annotations

from pathlib import Path

import pytest

from sweepops.ansible.events import TaskEvent, task_event
from sweepops.ansible.runner import Outcome, collect, run_quiet

ROOT = Path(__file__).resolve().parents[2]

PLAYBOOK = """\
- name: Events of each kind
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Say hello
      ansible.builtin.debug:
        msg: hello
    - name: Skip this
      ansible.builtin.debug:
        msg: never
      when: false
    - name: Fail but go on
      ansible.builtin.command: sh -c 'echo broken >&2; exit 3'
      changed_when: false
      ignore_errors: true
    - name: Fail a loop item
      ansible.builtin.assert:
        that: item != 'b'
        fail_msg: "item {{ item }} is bad"
      loop: [a, b]
"""


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[TaskEvent], int | None]:
    book = tmp_path_factory.mktemp("book") / "events.yml"
    book.write_text(PLAYBOOK)
    got: list[TaskEvent] = []
    outcome = run_quiet(ROOT, str(book), {}, on_task=got.append)
    return got, outcome.rc


def test_each_task_gives_one_event_of_its_kind(events: tuple[list[TaskEvent], int | None]):
    got, rc = events
    assert rc == 2
    assert [(e.task, e.kind) for e in got] == [
        ("Say hello", "ok"),
        ("Skip this", "skipped"),
        ("Fail but go on", "failed"),
        ("Fail a loop item", "failed"),
    ]
    assert all(e.host == "localhost" for e in got)
    assert [e.action for e in got] == ["debug", "debug", "command", "assert"]


def test_the_message_is_the_failure_on_one_line(events: tuple[list[TaskEvent], int | None]):
    got, _ = events
    ignored, loop = got[2], got[3]
    assert ignored.ignore_errors and ignored.failed
    assert "non-zero return code" in ignored.message
    assert not loop.ignore_errors
    assert "item b is bad" in loop.message and "item a" not in loop.message
    assert "\n" not in loop.message


def test_outcome_keeps_what_was_not_ignored(events: tuple[list[TaskEvent], int | None]):
    got, _ = events
    outcome = Outcome()
    for ev in got:
        outcome.on_task(ev)
    assert outcome.ok_actions == {"debug"}
    assert len(outcome.errors) == 1 and outcome.errors[0].startswith("localhost: ")
    assert "item b is bad" in outcome.errors[0]


def test_events_that_are_not_a_hosts_task_result_are_none():
    assert task_event({"event": "playbook_on_task_start", "event_data": {"task": "x"}}) is None
    assert task_event({"event": "runner_on_ok", "event_data": {}}) is None
    assert task_event({"event": "verbose", "stdout": "..."}) is None
    odd = task_event({"event": "runner_on_failed", "event_data": {"host": "h", "res": "boom"}})
    assert odd is not None and odd.message == "boom"


def test_collect_gives_each_hosts_last_result(tmp_path: Path):
    book = tmp_path / "last.yml"
    book.write_text(
        "- name: Last\n  hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - name: One\n      ansible.builtin.debug:\n        msg: first\n"
        "    - name: Two\n      ansible.builtin.debug:\n        msg: second\n"
    )
    assert collect(ROOT, str(book), {})["localhost"]["msg"] == "second"
