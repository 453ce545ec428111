"""The run index of an offline sweep (index.jsonl + grid.json): claims read a constant amount,
leases lapse as before, old sweep directories get an index built once, no point twice."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from pathlib import Path

from sweepops.remote import run_index
from sweepops.runtime.offline_sweep import (
    FINISHED,
    LOST,
    PREEMPTED,
    RUNNING,
    OfflineSweep,
    grid_points,
)

AGENT = {"host": "h", "pid": 1, "tag": "t"}


def grid(n: int, m: int = 1) -> dict:
    params = {"a": {"values": list(range(n))}}
    if m > 1:
        params["b"] = {"values": list(range(m))}
    return {"method": "grid", "parameters": params}


def make(tmp_path: Path, config: dict) -> OfflineSweep:
    return OfflineSweep.create(tmp_path, config=config, name="s")


def events(sweep: OfflineSweep) -> list[dict]:
    return [json.loads(x) for x in (sweep.path / "index.jsonl").read_text().splitlines()]


def point(claim) -> int:
    return claim.params["a"]["value"]


def test_claims_follow_the_engines_grid_order_and_are_journalled(tmp_path):
    sweep = make(tmp_path, grid(3, 2))
    claims = []
    while (c := sweep.claim(AGENT)) is not None:
        claims.append(c)
        sweep.finish(c, state=FINISHED, exit_code=0)
    assert [c.params for c in claims] == grid_points(grid(3, 2))
    saved = json.loads((sweep.path / "grid.json").read_text())["points"]
    assert saved == grid_points(grid(3, 2))
    kinds = [(e["e"], e.get("state")) for e in events(sweep)]
    assert kinds == [("claim", None), ("state", FINISHED)] * 6
    assert [r["state"] for r in sweep.runs()] == [FINISHED] * 6
    assert sweep.lease_wait is None


def test_a_claim_reads_only_the_journals_tail(tmp_path, monkeypatch):
    sweep = make(tmp_path, grid(50))
    for _ in range(30):
        sweep.finish(sweep.claim(AGENT), state=FINISHED, exit_code=0)
    other = OfflineSweep(sweep.path)  # another agent, index read once
    other.finish(other.claim(AGENT), state=FINISHED, exit_code=0)
    # from now on neither reads a run record nor the journal from its start
    read = []
    real = run_index.RunIndex.refresh

    def spy(self):
        read.append(os.path.getsize(self.path) - self.offset)
        real(self)

    monkeypatch.setattr(run_index.RunIndex, "refresh", spy)
    monkeypatch.setattr(OfflineSweep, "_read_runs", _no_scan)
    for s in (sweep, other, sweep):
        c = s.claim(AGENT)
        s.finish(c, state=FINISHED, exit_code=0)
    line = max(len(x) for x in (sweep.path / "index.jsonl").read_bytes().splitlines()) + 1
    assert max(read) <= 4 * line  # the other agent's claim and end at most
    monkeypatch.undo()
    assert len({r["params"]["a"]["value"] for r in sweep.runs()}) == 34


def _no_scan(self):
    raise AssertionError("a claim read every run record")


def test_a_lapsed_lease_is_reclaimed_same_run_next_attempt(tmp_path):
    sweep = make(tmp_path, grid(3))
    first = sweep.claim(AGENT, lease_seconds=0.2)
    time.sleep(0.4)  # no heartbeat: the agent died
    again = OfflineSweep(sweep.path).claim({**AGENT, "tag": "other"}, lease_seconds=30)
    assert (again.run_id, again.params, again.attempt) == (first.run_id, first.params, 2)
    rec = sweep.read_run(first.run_id)
    assert rec["state"] == RUNNING and rec["history_of_attempts"][0]["state"] == LOST
    assert [(e["e"], e.get("state")) for e in events(sweep)] == [
        ("claim", None), ("state", LOST), ("claim", None)]  # fmt: skip


def test_a_beating_lease_is_kept(tmp_path):
    sweep = make(tmp_path, grid(3))
    first = sweep.claim(AGENT, lease_seconds=0.5)
    for _ in range(4):
        time.sleep(0.2)
        sweep.beat(first.run_id)
    other = OfflineSweep(sweep.path).claim({**AGENT, "tag": "other"})
    assert other.run_id != first.run_id and point(other) != point(first)


def test_a_claim_journalled_without_its_record_lapses_and_is_run_again(tmp_path):
    # the agent died between journalling its claim and writing the run's record
    sweep = make(tmp_path, grid(2))
    claim = sweep.claim(AGENT, lease_seconds=0.2)
    sweep.run_path(claim.run_id).unlink()
    sweep.heartbeat_path(claim.run_id).unlink()
    time.sleep(0.3)
    again = OfflineSweep(sweep.path).claim(AGENT)
    assert (again.run_id, again.params, again.attempt) == (claim.run_id, claim.params, 2)


def test_an_end_recorded_but_not_journalled_is_not_run_again(tmp_path):
    sweep = make(tmp_path, grid(2))
    claim = sweep.claim(AGENT, lease_seconds=0.2)
    rec = sweep.read_run(claim.run_id)
    sweep.write_run({**rec, "state": FINISHED, "exit_code": 0})  # the agent died right after
    time.sleep(0.3)
    fresh = OfflineSweep(sweep.path)
    nxt = fresh.claim(AGENT)
    assert point(nxt) != point(claim)
    fresh.finish(nxt, state=FINISHED, exit_code=0)
    assert fresh.claim(AGENT) is None and fresh.lease_wait is None
    assert sweep.read_run(claim.run_id)["state"] == FINISHED


def test_preempted_runs_go_first_and_a_half_written_line_is_dropped(tmp_path):
    sweep = make(tmp_path, grid(3))
    a = sweep.claim(AGENT)
    sweep.finish(a, state=PREEMPTED, exit_code=143)
    with open(sweep.path / "index.jsonl", "ab") as fh:
        fh.write(b'{"e": "claim", "id": "zz')  # a writer died mid-line
    again = OfflineSweep(sweep.path).claim(AGENT)
    assert again.run_id == a.run_id and again.attempt == 2
    assert all(e["id"] != "zz" for e in events(sweep))  # parses: the cut line is gone


def test_an_old_sweep_directory_gets_its_index_built_once(tmp_path):
    # a sweep made and half run by the code before the index: records only
    sweep = make(tmp_path, grid(6))
    points = grid_points(grid(6))
    now = time.time()
    states = [FINISHED, "failed", PREEMPTED, RUNNING]
    for i, state in enumerate(states):
        sweep.write_run({"id": f"old{i}", "params": points[i], "attempt": 1, "created": now + i,
                         "state": state, "started": now, "lease_seconds": 0.2})  # fmt: skip
    sweep.beat("old3")
    assert not (sweep.path / "index.jsonl").exists()
    got = [sweep.claim(AGENT)]  # the preempted one first
    assert (got[0].run_id, got[0].attempt) == ("old2", 2)
    assert (sweep.path / "index.jsonl").exists() and (sweep.path / "grid.json").exists()
    time.sleep(0.3)  # old3's agent is gone: its lease lapses
    while (c := sweep.claim(AGENT)) is not None:
        got.append(c)
    assert [c.run_id for c in got[:2]] == ["old2", "old3"]
    assert sorted(point(c) for c in got) == [2, 3, 4, 5]  # 0 and 1 ended: not run again
    assert len(events(sweep)) >= 8


def test_an_old_sweep_with_an_unreadable_record_and_no_params_is_claimed_by_scanning(tmp_path):
    sweep = make(tmp_path, grid(3))
    sweep.run_path("broken").write_text('{"id": "bro')
    assert sweep.claim(AGENT) is None  # as before: cannot tell which point it ran
    assert "cannot tell which points" in " ".join(sweep.notes)
    assert not (sweep.path / "index.jsonl").exists()


def test_an_unreadable_record_is_named_and_a_deleted_one_is_run_again(tmp_path):
    sweep = make(tmp_path, grid(4))
    done = [sweep.claim(AGENT) for _ in range(2)]
    for c in done:
        sweep.finish(c, state=FINISHED, exit_code=0)
    sweep.run_path(done[0].run_id).write_text("{trunc")
    sweep.run_path(done[1].run_id).unlink()  # "delete the file to have it re-run"
    other = OfflineSweep(sweep.path)
    got, notes = [], []
    while (c := other.claim(AGENT)) is not None:
        got.append(point(c))
        other.finish(c, state=FINISHED, exit_code=0)
        notes += other.notes
    assert sorted(got) == sorted([point(done[1]), 2, 3])
    assert any(f"{sweep.run_path(done[0].run_id)} cannot be read" in n for n in notes)


def test_random_draws_honour_the_run_cap(tmp_path):
    cfg = {"method": "random", "run_cap": 5, "parameters": {"x": {"min": 0.0, "max": 1.0}}}
    sweep = make(tmp_path, cfg)
    claims = []
    while (c := sweep.claim(AGENT)) is not None:
        claims.append(c)
    assert len(claims) == 5 and len({c.params["x"]["value"] for c in claims}) == 5


def test_shards_walk_their_own_points(tmp_path):
    cfg = grid(7)
    seen = []
    for k in range(2):
        (tmp_path / str(k)).mkdir()
        meta_sweep = OfflineSweep.create(tmp_path / str(k), config=cfg, name="s", sweep_id="same")
        shard = OfflineSweep(meta_sweep.path, shard=(k, 2))
        while (c := shard.claim(AGENT)) is not None:
            seen.append((k, point(c)))
            shard.finish(c, state=FINISHED, exit_code=0)
    assert seen == [(0, 0), (0, 2), (0, 4), (0, 6), (1, 1), (1, 3), (1, 5)]


def _claimer(path: str, out: str, lease: float) -> None:
    sweep = OfflineSweep(path)
    got = []
    while (c := sweep.claim({"host": "h", "pid": os.getpid(), "tag": out}, lease_seconds=lease)):
        got.append(c.params["a"]["value"] * 100 + c.params["b"]["value"])
        sweep.finish(c, state=FINISHED, exit_code=0)
    Path(out).write_text(json.dumps(got))


def test_concurrent_processes_take_each_point_once(tmp_path):
    sweep = make(tmp_path, grid(20, 10))
    ctx = multiprocessing.get_context("fork")
    outs = [str(tmp_path / f"o{i}") for i in range(6)]
    procs = [ctx.Process(target=_claimer, args=(str(sweep.path), o, 30.0)) for o in outs]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    claimed = [x for o in outs for x in json.loads(Path(o).read_text())]
    assert sorted(claimed) == sorted(a * 100 + b for a in range(20) for b in range(10))
    finished = [r for r in sweep.runs() if r["state"] == FINISHED]
    assert len(finished) == 200 == len({json.dumps(r["params"]) for r in finished})
