"""The offline sweep store: claims, leases, requeue, run_cap, concurrency."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from pathlib import Path

import pytest

from sweepops.runtime.offline_sweep import (
    FAILED,
    FINISHED,
    LOST,
    PREEMPTED,
    RUNNING,
    OfflineSweep,
    expected_runs,
    write_params_file,
)

GRID = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"a": {"values": [1, 2, 3]}, "b": {"values": ["x", "y"]}, "c": {"value": 7}},
}
AGENT = {"host": "h", "pid": 1, "tag": "t"}


def make(tmp_path: Path, config: dict = GRID) -> OfflineSweep:
    return OfflineSweep.create(tmp_path, config=config, name="s", tags=("t1",))


def test_create_is_whole_and_readable(tmp_path):
    sweep = make(tmp_path)
    assert sweep.path.parent == tmp_path
    assert sweep.meta["name"] == "s" and sweep.meta["tags"] == ["t1"]
    assert sorted(p.name for p in sweep.path.iterdir()) == [
        "agents",
        "lock",
        "logs",
        "params",
        "runs",
        "sweep.json",
        "wandb",
    ]
    assert not list(tmp_path.glob(".*creating"))


def test_grid_claims_each_point_once_then_none(tmp_path):
    sweep = make(tmp_path)
    seen = []
    while (claim := sweep.claim(AGENT)) is not None:
        seen.append(
            (claim.params["a"]["value"], claim.params["b"]["value"], claim.params["c"]["value"])
        )
        sweep.finish(claim, state=FINISHED, exit_code=0, summary={"loss": 1.0})
    assert sorted(seen) == sorted((a, b, 7) for a in (1, 2, 3) for b in "xy")
    assert sweep.claim(AGENT) is None
    assert sweep.progress()["finished"] == 6 and sweep.progress()["left"] == 0


def test_running_points_are_not_handed_out_twice(tmp_path):
    sweep = make(tmp_path)
    claims = [sweep.claim(AGENT) for _ in range(6)]
    assert all(c is not None for c in claims)
    assert len({json.dumps(c.params, sort_keys=True) for c in claims}) == 6
    assert sweep.claim(AGENT) is None  # all six running, none free


def test_run_cap_limits_random(tmp_path):
    config = {"method": "random", "run_cap": 4, "parameters": {"x": {"min": 0.0, "max": 1.0}}}
    sweep = make(tmp_path, config)
    n = 0
    while (claim := sweep.claim(AGENT)) is not None:
        assert isinstance(claim.params["x"]["value"], float)  # plain float, not numpy
        sweep.finish(claim, state=FINISHED, exit_code=0)
        n += 1
    assert n == 4
    assert expected_runs(config) == 4
    assert expected_runs({"method": "random", "parameters": {}}) is None


def test_expected_runs_grid_with_int_uniform_and_cap():
    cfg = {
        "method": "grid",
        "parameters": {
            "a": {"values": [1, 2]},
            "n": {"distribution": "int_uniform", "min": 1, "max": 3},
        },
    }
    assert expected_runs(cfg) == 6
    assert expected_runs({**cfg, "run_cap": 4}) == 4


def test_expired_lease_requeues_same_run(tmp_path):
    sweep = make(tmp_path)
    first = sweep.claim(AGENT, lease_seconds=0.2)
    time.sleep(0.4)  # no heartbeat: the agent "died"
    again = sweep.claim({**AGENT, "tag": "other"}, lease_seconds=30)
    assert again.run_id == first.run_id and again.params == first.params and again.attempt == 2
    rec = sweep.read_run(first.run_id)
    assert rec["state"] == RUNNING and rec["history_of_attempts"][0]["state"] == LOST


def test_heartbeat_keeps_lease(tmp_path):
    sweep = make(tmp_path)
    first = sweep.claim(AGENT, lease_seconds=0.5)
    for _ in range(4):
        time.sleep(0.2)
        sweep.beat(first.run_id)
    other = sweep.claim({**AGENT, "tag": "other"})
    assert other.run_id != first.run_id


def test_preempted_run_is_rerun_first(tmp_path):
    sweep = make(tmp_path)
    claim = sweep.claim(AGENT)
    sweep.finish(claim, state=PREEMPTED, exit_code=143)
    again = sweep.claim(AGENT)
    assert again.run_id == claim.run_id and again.attempt == 2
    sweep.finish(again, state=FINISHED, exit_code=0, summary={"loss": 0.5})
    rec = sweep.read_run(claim.run_id)
    assert rec["state"] == FINISHED and rec["summary"] == {"loss": 0.5}
    assert [a["state"] for a in rec["history_of_attempts"]] == [PREEMPTED]


def test_late_result_of_a_lost_agent_is_kept_not_overwritten(tmp_path):
    sweep = make(tmp_path)
    old = sweep.claim(AGENT, lease_seconds=0.1)
    time.sleep(0.3)
    new = sweep.claim({**AGENT, "tag": "new"})
    assert new.run_id == old.run_id
    sweep.finish(old, state=FAILED, exit_code=1)  # the frozen agent wakes up
    rec = sweep.read_run(old.run_id)
    assert rec["state"] == RUNNING and rec["agent"]["tag"] == "new"
    assert rec["late_results"][0]["state"] == FAILED
    sweep.finish(new, state=FINISHED, exit_code=0)
    assert sweep.read_run(old.run_id)["state"] == FINISHED


def test_cancelled_sweep_hands_out_nothing(tmp_path):
    sweep = make(tmp_path)
    sweep.cancel()
    assert sweep.claim(AGENT) is None


def test_bayes_uses_finished_metrics(tmp_path):
    cfg = {
        "method": "bayes",
        "run_cap": 6,
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"x": {"min": -2.0, "max": 2.0}},
    }
    sweep = make(tmp_path, cfg)
    while (claim := sweep.claim(AGENT)) is not None:
        x = claim.params["x"]["value"]
        sweep.finish(claim, state=FINISHED, exit_code=0, summary={"loss": x * x})
    assert len(sweep.runs()) == 6


def test_params_file_matches_wandb_format(tmp_path):
    path = tmp_path / "p.yaml"
    write_params_file(path, {"lr": {"value": 0.1}})
    config_util = pytest.importorskip("wandb.sdk.lib.config_util")
    theirs = tmp_path / "theirs.yaml"
    config_util.save_config_file_from_dict(str(theirs), {"lr": {"value": 0.1}})
    assert path.read_text() == theirs.read_text()


def _claimer(sweep_dir: str, out: str) -> None:
    sweep = OfflineSweep(sweep_dir)
    got = []
    while (claim := sweep.claim({"host": "h", "pid": os.getpid(), "tag": "p"})) is not None:
        got.append(claim.run_id)
        sweep.finish(claim, state=FINISHED, exit_code=0)
    Path(out).write_text(json.dumps(got))


def test_concurrent_processes_never_share_a_grid_point(tmp_path):
    cfg = {
        "method": "grid",
        "parameters": {"a": {"values": list(range(8))}, "b": {"values": list(range(5))}},
    }
    (tmp_path / "s").mkdir()
    sweep = make(tmp_path / "s", cfg)
    ctx = multiprocessing.get_context("fork")
    procs = [
        ctx.Process(target=_claimer, args=(str(sweep.path), str(tmp_path / f"o{i}")))
        for i in range(6)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    claimed = [rid for i in range(6) for rid in json.loads((tmp_path / f"o{i}").read_text())]
    assert len(claimed) == 40 == len(set(claimed))
    points = {json.dumps(r["params"], sort_keys=True) for r in sweep.runs()}
    assert len(points) == 40


def test_shards_split_a_grid_without_overlap(tmp_path):
    sweep = make(tmp_path)  # 6 points
    parts = []
    for index in range(2):
        copy = tmp_path / f"copy{index}"
        copy.mkdir()
        shard = OfflineSweep(OfflineSweep.create_from_meta(copy, sweep.meta).path, shard=(index, 2))
        got = []
        while (claim := shard.claim(AGENT)) is not None:
            got.append(json.dumps(claim.params, sort_keys=True))
            shard.finish(claim, state=FINISHED, exit_code=0)
        assert shard.progress()["total"] == 3 and shard.progress()["left"] == 0
        parts.append(set(got))
    assert len(parts[0]) == len(parts[1]) == 3
    assert not parts[0] & parts[1]


def test_shards_split_a_run_cap():
    from sweepops.runtime.offline_sweep import parse_shard, shard_cap

    assert [shard_cap(5, (i, 3)) for i in range(3)] == [2, 2, 1]
    assert shard_cap(None, (0, 2)) is None
    assert parse_shard("2/3") == (1, 3)
    with pytest.raises(Exception, match="between 1 and K"):
        parse_shard("4/3")


def _materialise_many(parent: str, meta: dict, start: float, out) -> None:
    from sweepops.remote.sweep_layout import materialise

    while time.time() < start:
        pass
    out.put([materialise(parent, {**meta, "id": f"s{i}"}) for i in range(40)])


def test_two_creators_of_the_same_sweeps_at_once_make_each_once_and_leave_nothing(tmp_path):
    # two shells deploying one deploy id create the same sweep directories at the same time
    meta = {"id": "x", "name": "s", "config": GRID}
    out: multiprocessing.Queue = multiprocessing.Queue()
    start = time.time() + 0.5
    procs = [
        multiprocessing.Process(target=_materialise_many, args=(str(tmp_path), meta, start, out))
        for _ in range(2)
    ]
    for proc in procs:
        proc.start()
    made = [out.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    assert [a + b for a, b in zip(*made, strict=True)] == [1] * 40  # each made exactly once
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"s{i}" for i in range(40))
    for i in range(40):
        assert json.loads((tmp_path / f"s{i}" / "sweep.json").read_text())["id"] == f"s{i}"
        assert (tmp_path / f"s{i}").stat().st_mode & 0o777 == 0o777 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
