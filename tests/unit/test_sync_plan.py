"""sweepops.artifacts.sync_plan: the code_sync role's rsync of each missing tree."""

from __future__ import annotations

from sweepops.artifacts.sync_plan import control_path, link_dests, sync_plan

SNAPSHOT = {
    "key": "a" * 40,
    "ancestors": ["b" * 40],
    "code_dir": "/repo",
    "files_from": "/tmp/files list",
    "sync_id": "s1",
}
RUNTIME = {"key": "c" * 16, "src": "/rt", "files_from": "/tmp/rt-files"}


def present(code: bool, agent: bool) -> dict:
    def tree(kind: str, here: bool) -> dict:
        return {"present": here, "latest": "d" * 40, "incoming": f"/lab/{kind}/.incoming-s1-h"}

    return {"trees": {"code": tree("code", code), "agent": tree("agent", agent)}}


def test_names_and_trees_before_the_probe() -> None:
    got = sync_plan(lab_root="/lab", snapshot=SNAPSHOT, runtime=RUNTIME, host="h", present={})
    assert got["snapshot_dir"] == "/lab/code/" + "a" * 40
    assert got["agent_dir"] == "/lab/agent/" + "c" * 16
    assert got["trees"] == [
        {"kind": "code", "key": "a" * 40, "candidates": ["b" * 40]},
        {"kind": "agent", "key": "c" * 16, "candidates": []},
    ]
    assert got["incoming_tag"] == "s1-h" and not got["known"] and "syncs" not in got
    alone = sync_plan(lab_root="/lab", snapshot=SNAPSHOT, runtime={}, host="h", present=None)
    assert alone["agent_dir"] == "" and len(alone["trees"]) == 1


def test_only_missing_trees_are_synced_and_renamed() -> None:
    got = sync_plan(
        lab_root="/lab", snapshot=SNAPSHOT, runtime=RUNTIME, host="h", present=present(True, False)
    )
    assert [s["kind"] for s in got["syncs"]] == ["agent"]
    assert got["synced"] == [{"kind": "agent", "key": "c" * 16, "candidates": []}]
    none = sync_plan(
        lab_root="/lab", snapshot=SNAPSHOT, runtime=RUNTIME, host="h", present=present(True, True)
    )
    assert none["syncs"] == [] and none["synced"] == []


def test_the_rsync_of_a_tree() -> None:
    got = sync_plan(
        lab_root="/lab",
        snapshot=SNAPSHOT,
        runtime={},
        host="h",
        present=present(False, False),
        control="/home/u/.ansible/cp/%C",
        ssh_extra_args="-o X=1",
        extra_opts=["--bwlimit=20m"],
    )
    (code,) = got["syncs"]
    assert code["src"] == "/repo/" and code["dest"] == "/lab/code/.incoming-s1-h/"
    assert code["rsync_opts"] == [
        "--files-from='/tmp/files list'",
        "--from0",
        "--chmod=Fa-w",
        "--link-dest=/lab/code/" + "b" * 40,
        "--link-dest=/lab/code/" + "d" * 40,
        "--bwlimit=20m",
    ]
    assert code["rsync_path"] == (
        "rm -rf -- /lab/code/.incoming-s1-h && mkdir -p -- /lab/code && rsync"
    )
    assert code["multiplexing"]
    assert code["ssh_extra_args"] == "-o X=1 -o ControlPath=/home/u/.ansible/cp/%C"
    checked = sync_plan(
        lab_root="/lab", snapshot=SNAPSHOT, runtime={}, host="h", present=present(False, False),
        check_mode=True,
    )  # fmt: skip
    assert checked["syncs"][0]["rsync_path"] is None  # rsync --dry-run changes nothing
    assert not checked["syncs"][0]["multiplexing"]
    assert checked["syncs"][0]["ssh_extra_args"] == ""


def test_link_dests() -> None:
    assert link_dests({"link_dests": ["x"], "ancestors": ["a" * 8]}) == ["x"]
    keys = [f"{i:08x}" for i in range(30)]
    assert link_dests({"ancestors": [*keys, "not-a-key"], "latest": keys[0]}) == keys[:19]
    assert link_dests({"ancestors": [], "latest": None}) == []


def test_control_path() -> None:
    assert control_path("%(directory)s/%%C", "/home/u/.ansible/cp") == "/home/u/.ansible/cp/%C"
    assert control_path("", "/x") == "" and control_path(None, None) == ""
