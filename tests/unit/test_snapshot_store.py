"""sweepops.remote.snapshot_store's collection (what `sweepops gc` removes) on a tmp lab root."""

from __future__ import annotations

import os
from pathlib import Path

from sweepops.remote.snapshot_store import collect, referenced


def make(lab: Path, kind: str, key: str, age_min: int) -> Path:
    path = lab / kind / key
    (path / "src").mkdir(parents=True)
    (path / "src" / "f.py").write_text("x\n")
    stamp = 1_700_000_000 - age_min * 60
    os.utime(path, (stamp, stamp))
    return path


def test_referenced_finds_this_labs_snapshots_only() -> None:
    texts = [
        "cd /srv/lab/code/0123abcd0123abcd && python -s /srv/lab/agent/89abcdef89abcdef agent",
        "cd /srv/other/code/ffffffffffffffff",  # another lab root
        "cd /srv/lab/code/xyz",  # not a key
    ]
    assert referenced("/srv/lab/", texts) == {
        ("code", "0123abcd0123abcd"),
        ("agent", "89abcdef89abcdef"),
    }


def test_collect_keeps_latest_newest_and_live(tmp_path: Path) -> None:
    keys = [f"{i}" * 16 for i in range(6)]  # 000..., 111..., oldest first below
    paths = [make(tmp_path, "code", key, age_min=60 - i) for i, key in enumerate(keys)]
    (tmp_path / "code" / "LATEST").write_text(keys[1] + "\n")
    (tmp_path / "code" / ".incoming-x-y").mkdir()
    (tmp_path / "code" / "notes").mkdir()
    agent = make(tmp_path, "agent", "a" * 16, age_min=1)
    remove, kept = collect(str(tmp_path), 2, {("code", keys[0])})
    assert remove == sorted(str(p) for p in (paths[2], paths[3]))
    assert kept == {
        str(paths[0]): "a live job runs it",
        str(paths[1]): "LATEST",
        str(paths[4]): "one of the 2 newest",
        str(paths[5]): "one of the 2 newest",
        str(agent): "one of the 2 newest",
    }


def test_collect_with_keep_zero_and_no_snapshots(tmp_path: Path) -> None:
    assert collect(str(tmp_path), 0, set()) == ([], {})
    only = make(tmp_path, "code", "b" * 16, age_min=5)
    assert collect(str(tmp_path), 0, set()) == ([str(only)], {})
