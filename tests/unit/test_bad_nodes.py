"""Bad Slurm nodes: the K-in-a-row rule, the sweep's files, and the engine's use of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from sweepops.remote import bad_nodes
from sweepops.remote.sweep_retry import RETRY
from sweepops.runtime.offline_sweep import FAILED, FINISHED, OfflineSweep

GRID = {"method": "grid", "parameters": {"a": {"values": list(range(8))}}}


def agent_on(node: str, tag: str = "t") -> dict:
    return {"host": "login", "pid": 1, "tag": tag, "slurm": {"node": node, "job_id": "7"}}


def stats(**nodes: tuple[int, int]) -> dict:
    """node=(failed runs in a row, finished)"""
    return {
        n: {"streak": [f"{n}{i}" for i in range(s)], "finished": f} for n, (s, f) in nodes.items()
    }


@pytest.mark.parametrize(
    ("given", "already", "bad"),
    [
        (stats(n1=(3, 0), n2=(0, 1)), [], ["n1"]),
        (stats(n1=(2, 0), n2=(0, 1)), [], []),  # below K
        (stats(n1=(3, 0), n2=(0, 0)), [], []),  # nothing finished anywhere: a program error
        (stats(n1=(3, 0), n2=(3, 1)), [], []),  # every node on a streak: a program error
        (stats(n1=(3, 0), n2=(0, 1)), ["n2"], []),  # the only node that works is excluded
        (stats(n1=(4, 2), n2=(3, 0), n3=(0, 5)), [], ["n1", "n2"]),
        (stats(n1=(3, 0)), [], []),  # one node: never the last one
    ],
)
def test_the_rule_excludes_a_node_only_while_another_works(given, already, bad):
    assert bad_nodes.newly_bad(given, already, 3) == bad


def test_k_zero_excludes_nothing():
    assert bad_nodes.newly_bad(stats(n1=(9, 0), n2=(0, 9)), [], 0) == []


def test_note_end_counts_streaks_and_writes_the_exclusion(tmp_path):
    for run in ("r1", "r2", "r3"):
        assert bad_nodes.note_end(tmp_path, "n1", run, ok=False, threshold=3) == []
    (ex,) = bad_nodes.note_end(tmp_path, "n2", "r4", ok=True, threshold=3)
    assert (ex.node, ex.runs) == ("n1", ["r1", "r2", "r3"])
    assert "3 runs failed in a row there" in ex.reason
    assert list(bad_nodes.excluded(tmp_path)) == ["n1"]
    line = (tmp_path / bad_nodes.EXCLUDED_FILE).read_text().splitlines()[0]
    assert line.split("\t")[0] == "n1" and len(line.split("\t")) == 3  # cut -f1 reads it
    # a finished run ends a streak; an excluded node is not excluded twice
    assert bad_nodes.note_end(tmp_path, "n1", "r5", ok=False, threshold=3) == []
    bad_nodes.note_end(tmp_path, "n2", "r6", ok=False, threshold=3)
    bad_nodes.note_end(tmp_path, "n2", "r7", ok=True, threshold=3)
    assert bad_nodes.read_stats(tmp_path)["n2"]["streak"] == []


def test_exclude_refuses_what_is_not_a_node_name(tmp_path):
    assert not bad_nodes.exclude(tmp_path, "n1\tx", "why")
    assert not bad_nodes.exclude(tmp_path, "", "why")
    assert bad_nodes.exclude(tmp_path, "node-01.rack2", "NODE_FAIL:\tin\njob 5")
    assert not bad_nodes.exclude(tmp_path, "node-01.rack2", "again")
    assert bad_nodes.excluded(tmp_path) == {"node-01.rack2": "NODE_FAIL: in job 5"}
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize(
    ("args", "want"),
    [
        ([], ["--exclude=a,b"]),
        (["--mem=8G"], ["--exclude=a,b", "--mem=8G"]),
        (["--exclude=c", "--mem=8G"], ["--exclude=a,b,c", "--mem=8G"]),
        (["-x", "b,c"], ["--exclude=a,b,c"]),
        (["-xc"], ["--exclude=a,b,c"]),
    ],
)
def test_exclude_option_merges_with_the_users_exclude(args, want):
    assert bad_nodes.exclude_option(["a", "b"], args) == want


def test_exclude_option_without_nodes_leaves_the_args():
    assert bad_nodes.exclude_option([], ["--mem=8G"]) == ["--mem=8G"]


def test_node_of_is_the_slurm_node_only():
    assert bad_nodes.node_of(agent_on("n1")) == "n1"
    assert bad_nodes.node_of({"host": "workstation"}) is None
    assert bad_nodes.node_of(None) is None


# ---------------------------------------------------------------- the engine


def run(sweep: OfflineSweep, agent: dict, state: str) -> str:
    claim = sweep.claim(agent)
    assert claim is not None
    sweep.finish(claim, state=state, exit_code=0 if state == FINISHED else 1)
    return claim.run_id


def test_a_bad_nodes_failed_runs_run_again_elsewhere_and_its_agents_stop(tmp_path: Path):
    sweep = OfflineSweep.create(tmp_path, config=GRID, name="s")
    sweep.bad_node_failures = 3
    bad, good = agent_on("n1", "b"), agent_on("n2", "g")
    failed = [run(sweep, bad, FAILED) for _ in range(3)]
    assert bad_nodes.excluded(sweep.path) == {}  # nothing finished elsewhere yet
    run(sweep, good, FINISHED)
    assert list(bad_nodes.excluded(sweep.path)) == ["n1"]
    assert {sweep.read_run(r)["state"] for r in failed} == {RETRY}
    assert sweep.claim(bad) is None and sweep.excluded_here is not None
    assert sweep.excluded_here[0] == "n1"
    again = []
    while (claim := sweep.claim(good)) is not None:
        again.append((claim.run_id, claim.attempt))
        sweep.finish(claim, state=FINISHED, exit_code=0)
    assert sorted(r for r, a in again if a == 2) == sorted(failed)
    records = sweep.runs()
    assert len(records) == 8 and {r["state"] for r in records} == {FINISHED}
    points = [r["params"]["a"]["value"] for r in records]
    assert sorted(points) == list(range(8))  # none lost, none twice
    why = sweep.read_run(failed[0])["history_of_attempts"][0]["requeued_because"]
    assert why.startswith("node n1 excluded: 3 runs failed in a row")


def test_a_program_that_fails_everywhere_excludes_no_node(tmp_path: Path):
    sweep = OfflineSweep.create(tmp_path, config=GRID, name="s")
    sweep.bad_node_failures = 3
    for i in range(8):
        run(sweep, agent_on(f"n{i % 2}", str(i)), FAILED)
    assert bad_nodes.excluded(sweep.path) == {}
    assert {r["state"] for r in sweep.runs()} == {FAILED}


def test_workstation_agents_are_never_counted(tmp_path: Path):
    sweep = OfflineSweep.create(tmp_path, config=GRID, name="s")
    sweep.bad_node_failures = 1
    run(sweep, {"host": "w", "pid": 1, "tag": "a"}, FAILED)
    run(sweep, {"host": "v", "pid": 1, "tag": "b"}, FINISHED)
    assert not (sweep.path / bad_nodes.NODES_FILE).exists()


def test_exclude_nodes_from_node_fail_stops_claims_there(tmp_path: Path):
    sweep = OfflineSweep.create(tmp_path, config=GRID, name="s")
    assert sweep.exclude_nodes(["n1"], "NODE_FAIL: Slurm ended job 9 there") == ["n1"]
    assert sweep.exclude_nodes(["n1"], "again") == []
    assert sweep.claim(agent_on("n1")) is None
    assert sweep.excluded_here == ("n1", "NODE_FAIL: Slurm ended job 9 there")
    assert sweep.claim(agent_on("n2")) is not None


def test_status_names_the_excluded_node_and_why(tmp_path: Path):
    from sweepops.ops.status import _node_lines
    from sweepops.remote.deploy_status import sweep_progress

    sweep = OfflineSweep.create(tmp_path, config=GRID, name="s")
    sweep.bad_node_failures = 2
    for _ in range(2):
        run(sweep, agent_on("n1", "b"), FAILED)
    run(sweep, agent_on("n2", "g"), FINISHED)
    _, found = sweep_progress(str(sweep.path))
    assert _node_lines(found) == [
        "      node n1 excluded: 2 runs failed in a row there (bad_node_failures 2) while runs "
        "finished on other nodes; its failed runs run again elsewhere"
    ]
