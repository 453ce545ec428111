"""A run record truncated on a cluster: the cache keeps the last good copy, results say so."""

from __future__ import annotations

import json

from sweepops.results.fetch import PREVIOUS, HostFetch, fetch_warnings, keep_good_copies
from sweepops.results.rows import read_sweep_rows
from sweepops.runtime.offline_sweep import FINISHED, OfflineSweep

GRID = {"method": "grid", "parameters": {"x": {"values": [1, 2]}}, "program": "p.py"}
AGENT = {"host": "h", "pid": 1, "tag": "t"}


def test_a_truncated_record_does_not_overwrite_the_good_cached_copy(tmp_path):
    dest = tmp_path / "cache" / "atlas-login"
    sweep = OfflineSweep.create(dest, config=GRID, name="s")
    claim = sweep.claim(AGENT)
    sweep.finish(claim, state=FINISHED, exit_code=0, summary={"loss": 0.5})
    good = sweep.run_path(claim.run_id).read_text()
    name = f"{sweep.id}/runs/{claim.run_id}.json"
    # what rsync --backup --backup-dir=.previous leaves: the old copy there, the new in place
    (dest / PREVIOUS / sweep.id / "runs").mkdir(parents=True)
    (dest / PREVIOUS / name).write_text(good)
    (dest / name).write_text(good[:20])
    warnings = keep_good_copies(dest, [name, f"{sweep.id}/sweep.json"])
    assert (dest / name).read_text() == good
    assert not (dest / PREVIOUS).exists()
    (line,) = warnings
    assert name in line and "keeping the last good copy" in line
    assert fetch_warnings({"atlas-login": HostFetch("atlas-login", warnings=warnings)}) == [line]


def test_with_no_good_copy_the_row_is_kept_as_unreadable(tmp_path):
    dest = tmp_path / "cache" / "atlas-login"
    sweep = OfflineSweep.create(dest, config=GRID, name="s")
    claim = sweep.claim(AGENT)
    sweep.finish(claim, state=FINISHED, exit_code=0)
    other = sweep.claim(AGENT)
    sweep.run_path(other.run_id).write_text('{"id": "x", "state": "fin')
    name = f"{sweep.id}/runs/{other.run_id}.json"
    (line,) = keep_good_copies(dest, [name])
    assert "no good copy" in line
    _meta, rows = read_sweep_rows(sweep.path)
    by_id = {r["run_id"]: r for r in rows}
    assert len(rows) == 2  # expected 2: the row is not dropped
    assert by_id[claim.run_id]["state"] == "finished"
    bad = by_id[other.run_id]
    assert bad["state"] == "unreadable" and bad["record"] == str(sweep.run_path(other.run_id))
    assert json.dumps(bad)  # serialisable for --json
