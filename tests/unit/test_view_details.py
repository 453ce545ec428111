"""What the short view says of a code sync, read from synchronize results as Ansible gives them."""

from __future__ import annotations

from sweepops.ansible.events import TaskEvent
from sweepops.ansible.view import DETAILS


def _sync(results: list[dict]) -> str | None:
    ev = TaskEvent("ok", "c-login", "Sync", "synchronize", {"results": results, "changed": False})
    return DETAILS["synchronize"](ev)


def test_files_sent_are_counted_with_their_size(tmp_path):
    (tmp_path / "a.py").write_text("x" * 1500)
    item = {
        "invocation": {"module_args": {"src": str(tmp_path)}},
        "stdout_lines": ["<<CHANGED>>>f+++++++++ a.py", "cd+++++++++ sub/"],
        "changed": True,
    }
    assert _sync([item]) == "1 file(s) sent (1.5 kB)"


def test_a_snapshot_linked_whole_from_an_earlier_one_is_not_up_to_date():
    # rsync --link-dest itemizes nothing and synchronize calls it unchanged
    item = {"invocation": {"module_args": {"src": "/x"}}, "stdout_lines": [], "changed": False}
    assert _sync([item]) == "0 file(s) sent (the rest linked)"


def test_nothing_to_sync_says_nothing():
    assert _sync([]) is None
