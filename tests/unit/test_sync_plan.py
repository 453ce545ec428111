"""sweepops.artifacts.sync_plan: the code_sync role's rsync of each missing tree."""

from __future__ import annotations

import shlex

from sweepops.artifacts.sync_plan import control_path, finalise, link_dests, sync_plan

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
    assert (
        code["rsync_path"]
        == "sh -c "
        + shlex.quote(
            'rm -rf -- /lab/code/.incoming-s1-h && mkdir -p -- /lab/code && rsync "$@" && '
            + finalise("/lab/code", "a" * 40, "/lab/code/.incoming-s1-h")
        )
        + " rsync"
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


def test_a_tree_made_from_an_earlier_one_sends_only_the_change(tmp_path) -> None:
    from sweepops.artifacts.sync_plan import FromEarlier, from_earlier

    src = tmp_path / "repo"
    (src / "a").mkdir(parents=True)
    (src / "a" / "new.py").write_text("n\n")
    (src / "edit.py").write_text("e\n")
    changes = [("A", "a/new.py"), ("M", "edit.py"), ("D", "old/x y.py"), ("D", "top.py")]
    made = from_earlier("b" * 40, changes, str(src), "/tmp/list")
    assert made is not None
    plan, send = made
    assert send == ["a/new.py", "edit.py"]
    assert plan.remove == ("edit.py", "old/x y.py", "top.py") and plan.dirs == ("old",)
    seen = []

    def earlier(tree, bases):
        seen.append((tree["key"], list(bases)))
        return plan

    got = sync_plan(
        lab_root="/lab",
        snapshot=SNAPSHOT,
        runtime=RUNTIME,
        host="h",
        present={"trees": {**present(False, False)["trees"]}},
        earlier=earlier,
    )
    # the probe gave no link_dests: nothing seen there can be copied
    assert seen == [] and all(s["from"] is None for s in got["syncs"])
    found = present(False, False)
    found["trees"]["code"]["link_dests"] = ["b" * 40]
    found["trees"]["agent"]["link_dests"] = ["e" * 16]
    got = sync_plan(
        lab_root="/lab", snapshot=SNAPSHOT, runtime=RUNTIME, host="h", present=found,
        earlier=earlier,
    )  # fmt: skip
    code, agent = got["syncs"]
    assert seen == [("a" * 40, ["b" * 40])]  # the code only: the runtime is not a git tree
    assert code["from"] == "b" * 40 and agent["from"] is None
    assert code["rsync_opts"][0] == "--files-from=/tmp/list"
    assert (
        code["rsync_path"]
        == "sh -c "
        + shlex.quote(
            "rm -rf -- /lab/code/.incoming-s1-h && mkdir -p -- /lab/code && "
            f"cp -al -- /lab/code/{'b' * 40} /lab/code/.incoming-s1-h && "
            "( cd -- /lab/code/.incoming-s1-h && rm -f -- edit.py 'old/x y.py' top.py && "
            '{ rmdir -p --ignore-fail-on-non-empty -- old 2>/dev/null || :; } ) && rsync "$@" && '
            + finalise("/lab/code", "a" * 40, "/lab/code/.incoming-s1-h")
        )
        + " rsync"
    )
    assert isinstance(plan, FromEarlier)


def test_the_plain_rsync_when_a_copy_is_not_the_better_way(tmp_path) -> None:
    from sweepops.artifacts import sync_plan as sp

    (tmp_path / "here.py").write_text("h\n")
    # a file to send that the source lacks: the source is not the snapshot's tree
    assert sp.from_earlier("b" * 40, [("A", "missing.py")], str(tmp_path), "/l") is None
    many = [("D", f"f{i}.py") for i in range(sp.MAX_CHANGED + 1)]
    assert sp.from_earlier("b" * 40, many, str(tmp_path), "/l") is None
    long = [("D", "x" * 200 + str(i)) for i in range(sp.MAX_REMOVE_LINE // 200 + 1)]
    assert sp.from_earlier("b" * 40, long, str(tmp_path), "/l") is None
    assert sp.from_earlier("b" * 40, [("M", "here.py")], str(tmp_path), "/l") is not None


def test_earlier_by_git_reads_the_change_from_the_object_store(mini_repo) -> None:
    from pathlib import Path

    from sweepops.artifacts.snapshot import snapshot_of, tree_changes
    from sweepops.artifacts.sync_plan import earlier_by_git

    repo = Path(mini_repo)
    old = snapshot_of(repo, allow_dirty=False)
    first = sorted(old.files)[0]
    (repo / first).write_text("changed\n")
    new = snapshot_of(repo, allow_dirty=True)  # uncommitted: the tree is in the store anyway
    assert tree_changes(repo, old.key, new.key) == [("M", first)]
    assert tree_changes(repo, "f" * 40, new.key) is None  # a tree this repository never had
    listed = repo.parent / "snapshots" / f"{new.key}.files"
    plan = earlier_by_git(str(repo), str(listed))({"key": new.key}, [old.key, "c" * 40])
    assert plan is not None and plan.base == old.key and plan.remove == (first,)
    assert Path(plan.files_from).read_bytes() == first.encode() + b"\0"
