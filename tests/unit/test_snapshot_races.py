"""Snapshot syncs side by side: no .incoming-* left behind, only existing --link-dest dirs."""

from __future__ import annotations

import os

from sweepops.remote import snapshot_store

KEY = "0123abcd" * 5


def test_second_sync_of_the_same_snapshot_leaves_no_incoming(tmp_path):
    base = tmp_path / "code"
    first = base / f".incoming-{KEY}-d1.aaa-h"
    second = base / f".incoming-{KEY}-d1.bbb-h"
    for d in (first, second):
        (d / "pkg").mkdir(parents=True)
        (d / "pkg" / "f.py").write_text("x = 1\n")
    assert snapshot_store.place(str(base), KEY, str(first)) is True
    assert snapshot_store.place(str(base), KEY, str(second)) is False
    assert sorted(os.listdir(base)) == [KEY, "LATEST"]  # no .incoming-* behind
    assert (base / KEY / "pkg" / "f.py").read_text() == "x = 1\n"


def test_probe_gives_only_link_dests_that_exist(tmp_path):
    lab = tmp_path / "lab"
    old = "aaaaaaaa" * 5
    gone = "bbbbbbbb" * 5
    (lab / "code" / old).mkdir(parents=True)
    (lab / "code" / "LATEST").write_text(old + "\n")
    trees = [{"kind": "code", "key": KEY, "candidates": [gone, old, "not-a-key"]}]
    found, _ = snapshot_store.probe(str(lab), trees, "t", 86400, remove=False)
    assert found["code"]["link_dests"] == [old]  # the missing one and LATEST's twin dropped
    found, _ = snapshot_store.probe(
        str(lab), [{"kind": "code", "key": KEY}], "t", 86400, remove=False
    )
    assert "link_dests" not in found["code"]
