"""The workstation steps run two ways (sweepops.ansible.steps): in Ansible's process by
the action plugins, and as library/ modules in a new Python (what Ansible does when the
action plugins are not on its path). Both must give the same result and the same errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, agent_env, git

pytestmark = pytest.mark.integration


def adhoc(module: str, args: dict, *, plugins: bool, check: bool = False) -> dict:
    env = agent_env(ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
    env["ANSIBLE_STDOUT_CALLBACK"] = "json"
    if not plugins:
        env["ANSIBLE_ACTION_PLUGINS"] = os.devnull  # no action plugins: the module runs
    argv = [
        str(Path(sys.executable).with_name("ansible")),
        "localhost",
        "-m",
        module,
        "-a",
        json.dumps(args),
        *(["--check"] if check else []),
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    out = json.loads(proc.stdout)
    return out["plays"][0]["tasks"][0]["hosts"]["localhost"]


def comparable(result: dict) -> dict:
    return {k: v for k, v in result.items() if not k.startswith("_") and k != "invocation"}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    repo = tmp_path / "code"
    repo.mkdir()
    (repo / "train.py").write_text("print('hi')\n")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "one")
    return repo


def test_snapshot_same_result_both_ways(tree: Path) -> None:
    args = {"code_dir": str(tree), "deploy_id": "d-1"}
    in_process = adhoc("sweepops_snapshot", args, plugins=True)
    as_module = adhoc("sweepops_snapshot", args, plugins=False)
    # sync_id names one run's .incoming-* directories: new each run, by design
    assert in_process.pop("sync_id").startswith("d-1.") and as_module.pop("sync_id") != ""
    assert comparable(in_process) == comparable(as_module)
    # each way really ran: only a module's result echoes its arguments as `invocation`
    assert "invocation" in as_module and "invocation" not in in_process
    assert in_process["key"] == git(tree, "rev-parse", "HEAD^{tree}").strip()
    assert "ansible_facts" not in in_process and in_process["changed"] is False


def test_errors_same_both_ways(tree: Path) -> None:
    (tree / "train.py").write_text("print('edited')\n")
    args = {"code_dir": str(tree), "deploy_id": "d-2"}
    for plugins in (True, False):
        result = adhoc("sweepops_snapshot", args, plugins=plugins)
        assert result["failed"] is True
        assert "train.py" in result["msg"], result["msg"]
    bad = adhoc("sweepops_snapshot", {"code_dir": str(tree), "nope": 1}, plugins=True)
    assert bad["failed"] and "nope" in bad["msg"]


def test_check_mode_reaches_the_step(tree: Path) -> None:
    (tree / "train.py").write_text("print('edited')\n")
    args = {"code_dir": str(tree), "deploy_id": "d-3", "allow_dirty": True}
    for plugins in (True, False):
        result = adhoc("sweepops_snapshot", args, plugins=plugins, check=True)
        assert result["dirty"] is True
        assert not Path(result["diff_path"]).exists()  # check mode: the diff is not written


def test_a_step_without_check_mode_is_skipped_both_ways(tree: Path) -> None:
    args = {
        "root": str(tree),
        "host": "h",
        "expect": {},
        "observed": {},
        "rebuild_dir": str(tree / "rebuild"),
        "deploy_id": "d-4",
    }
    for plugins in (True, False):
        result = adhoc("sweepops_reproduce_check", args, plugins=plugins, check=True)
        assert result.get("skipped") is True, result
    assert not (tree / "rebuild").exists()
