"""What `sweepops reproduce` decides from what the cluster answered (sweepops.ops.reproduce.verify,
changes) and the image digest it compares (sweepops.remote.imagedigest), on real files and git
repositories in tmp_path."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from sweepops.artifacts.snapshot import snapshot_of
from sweepops.core.errors import SweepopsError
from sweepops.ops.reproduce import changes, expected, verify
from sweepops.remote import imagedigest
from tests import conftest


def git(repo: Path, *args: str) -> str:
    return conftest.git(repo, *args).strip()


# ---------------------------------------------------------------------- image digest
def test_image_digest_is_the_sha256_and_is_cached_by_identity(tmp_path: Path) -> None:
    image = tmp_path / "train.sif"
    image.write_bytes(b"an image" * 1000)
    want = hashlib.sha256(image.read_bytes()).hexdigest()
    first = imagedigest.image_digest(str(image))
    assert first == {"exists": True, "sha256": want, "size": 8000, "cached": False}
    assert imagedigest.image_digest(str(image))["cached"] is True
    # fresh: always read
    assert imagedigest.image_digest(str(image), fresh=True)["cached"] is False
    # same size, mtime put back: the ctime still changes, the cache is not used
    st = image.stat()
    image.write_bytes(b"AN IMAGE" * 1000)
    os.utime(image, ns=(st.st_atime_ns, st.st_mtime_ns))
    again = imagedigest.image_digest(str(image))
    assert again["cached"] is False
    assert again["sha256"] == hashlib.sha256(b"AN IMAGE" * 1000).hexdigest()


def test_a_forged_cache_for_another_file_is_not_used(tmp_path: Path) -> None:
    image = tmp_path / "train.sif"
    image.write_bytes(b"x")
    imagedigest.image_digest(str(image))
    cache = Path(imagedigest.cache_path(str(image)))
    cache.write_text(cache.read_text().replace('"size": 1', '"size": 2'))
    assert imagedigest.image_digest(str(image))["cached"] is False


def test_missing_image(tmp_path: Path) -> None:
    got = imagedigest.image_digest(str(tmp_path / "none.sif"))
    assert got["exists"] is False and got["sha256"] == ""
    assert not Path(imagedigest.cache_path(str(tmp_path / "none.sif"))).exists()


# ---------------------------------------------------------------------- changes
EXPECT = {
    "deploy_id": "d1",
    "env_path": "/opt/env",
    "env_content_hash": False,
    "env_digest": "e" * 64,
    "container_image": "/lab/c/train.sif",
    "container_digest": "c" * 64,
}


def test_same_env_and_image_is_no_change() -> None:
    observed = {
        "env": {"exists": True, "digest": "e" * 64},
        "image": {"exists": True, "sha256": "c" * 64},
    }
    assert changes(EXPECT, observed, "atlas") == []


def test_changed_env_and_image_are_named() -> None:
    observed = {
        "env": {"exists": True, "digest": "f" * 64},
        "image": {"exists": True, "sha256": "d" * 64},
    }
    got = changes(EXPECT, observed, "atlas")
    assert len(got) == 2
    assert "env /opt/env on atlas changed since deploy d1" in got[0] and "eeeeeeeeeeee" in got[0]
    assert "ffffffffffff now" in got[0]
    assert "image /lab/c/train.sif on atlas changed" in got[1] and "dddddddddddd now" in got[1]


def test_gone_env_and_image_are_named() -> None:
    got = changes(EXPECT, {"env": {"exists": False}, "image": {"exists": False}}, "atlas")
    assert "gone from atlas" in got[0] and "gone from atlas" in got[1]


def test_nothing_recorded_nothing_compared() -> None:
    none = {**EXPECT, "env_digest": "", "container_digest": ""}
    assert changes(none, {}, "atlas") == []


# ---------------------------------------------------------------------- verify
@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "train.py").write_text("print('train')\n")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    return repo


def _expect(repo: Path, snap, *, dirty: bool, agent_key: str) -> dict:
    deploy = {
        "deploy_id": "d1",
        "commit": snap.commit,
        "dirty_files": list(snap.dirty_files) if dirty else [],
    }
    origin = {
        "snapshot_dir": f"/lab/code/{snap.key}",
        "agent_dir": f"/lab/agent/{agent_key}",
        "env_path": "/opt/env",
        "env_digest": "e" * 64,
        "env_content_hash": "False",
    }
    return expected(repo, deploy, origin)


def test_everything_there_nothing_to_sync(repo: Path, tmp_path: Path) -> None:
    snap = snapshot_of(repo, allow_dirty=False)
    expect = _expect(repo, snap, dirty=False, agent_key="a" * 16)
    assert expect["env_content_hash"] is False and expect["snapshot_key"] == snap.key
    observed = {
        "env": {"exists": True, "digest": "e" * 64},
        "snapshot_present": True,
        "agent_present": True,
    }
    out = verify(repo, expect, observed, host="h", rebuild_dir=tmp_path / "rb", deploy_id="r1")
    assert out == {"sync": False, "snapshot": {}, "rebuilt": False, "runtime": {}}


def test_changed_env_is_refused_before_anything_else(repo: Path, tmp_path: Path) -> None:
    snap = snapshot_of(repo, allow_dirty=False)
    expect = _expect(repo, snap, dirty=False, agent_key="a" * 16)
    observed = {"env": {"exists": True, "digest": "0" * 64}, "snapshot_present": False}
    with pytest.raises(SweepopsError, match="cannot reproduce exactly") as err:
        verify(repo, expect, observed, host="h", rebuild_dir=tmp_path / "rb", deploy_id="r1")
    assert "provision" in str(err.value)
    assert not (tmp_path / "rb").exists()


def test_gone_snapshot_is_rebuilt_from_commit_and_stored_diff(repo: Path, tmp_path: Path) -> None:
    (repo / "train.py").write_text("print('dirty')\n")
    snap = snapshot_of(repo, allow_dirty=True)
    diff = repo / ".sweepops" / "deploys" / "d1" / "dirty.diff"
    diff.parent.mkdir(parents=True)
    diff.write_text(snap.diff)
    git(repo, "checkout", "--", "train.py")  # the work tree moved on
    expect = _expect(repo, snap, dirty=True, agent_key="a" * 16)
    observed = {
        "env": {"exists": True, "digest": "e" * 64},
        "snapshot_present": False,
        "agent_present": True,
    }
    out = verify(repo, expect, observed, host="h", rebuild_dir=tmp_path / "rb", deploy_id="r1")
    assert out["sync"] and out["rebuilt"]
    sync = out["snapshot"]
    assert sync["key"] == snap.key and sync["code_dir"] == str(tmp_path / "rb")
    assert (tmp_path / "rb" / "train.py").read_text() == "print('dirty')\n"
    listed = Path(sync["files_from"]).read_bytes().split(b"\0")
    assert b"train.py" in listed
    assert sync["deploy_id"] == "r1" and out["runtime"] == {}  # the runtime is still there


def test_gone_snapshot_without_its_diff_is_refused(repo: Path, tmp_path: Path) -> None:
    (repo / "train.py").write_text("print('dirty')\n")
    snap = snapshot_of(repo, allow_dirty=True)
    expect = _expect(repo, snap, dirty=True, agent_key="a" * 16)
    observed = {"env": {"exists": True, "digest": "e" * 64}, "agent_present": True}
    with pytest.raises(SweepopsError, match="diff .* is missing"):
        verify(repo, expect, observed, host="h", rebuild_dir=tmp_path / "rb", deploy_id="r1")


def test_gone_agent_runtime_not_in_the_cache_is_refused(repo: Path, tmp_path: Path) -> None:
    snap = snapshot_of(repo, allow_dirty=False)
    expect = _expect(repo, snap, dirty=False, agent_key="0" * 16)
    observed = {"env": {"exists": True, "digest": "e" * 64}, "snapshot_present": True}
    with pytest.raises(SweepopsError, match="agent runtime 0000000000000000 .* is gone"):
        verify(repo, expect, observed, host="h", rebuild_dir=tmp_path / "rb", deploy_id="r1")


def test_gone_agent_runtime_is_synced_again_from_the_cache(repo: Path, tmp_path: Path) -> None:
    snap = snapshot_of(repo, allow_dirty=False)
    from sweepops.artifacts.agent_runtime import cache_dir

    cached = cache_dir(repo) / ("1" * 16)  # .sweepops/runtimes, or $SWEEPOPS_RUNTIME_CACHE
    (cached / "sweepops" / "runtime").mkdir(parents=True)
    (cached / "runtime.json").write_text("{}")
    (cached / "sweepops" / "runtime" / "agent.py").write_text("")
    expect = _expect(repo, snap, dirty=False, agent_key="1" * 16)
    observed = {"env": {"exists": True, "digest": "e" * 64}, "snapshot_present": True}
    out = verify(repo, expect, observed, host="h", rebuild_dir=tmp_path / "rb", deploy_id="r1")
    assert out["sync"] and not out["rebuilt"]
    runtime = out["runtime"]
    assert runtime["key"] == "1" * 16 and runtime["src"] == str(cached)
    listed = Path(runtime["files_from"]).read_bytes().split(b"\0")
    assert sorted(x for x in listed if x) == [b"runtime.json", b"sweepops/runtime/agent.py"]
    shutil.rmtree(cached)


def test_changed_files_are_named_when_the_workstation_still_has_the_deployed_env(tmp_path: Path):
    from sweepops.artifacts import envsync

    env = tmp_path / "env"
    (env / "bin").mkdir(parents=True)
    (env / "bin" / "python").write_text("#!/bin/sh\n")
    (env / "lib.py").write_text("A = 1\n")
    local = envsync.manifest(env)
    theirs = [list(e) for e in local] + [["hotfix.py", "f", 6, "1", False]]
    expect = {**EXPECT, "env_path": str(env), "env_digest": envsync.digest(local)}
    observed = {"env": {"exists": True, "digest": "f" * 64, "entries": theirs}}
    (got,) = changes({**expect, "container_digest": ""}, observed, "atlas")
    assert got.endswith("(1 only on the cluster: hotfix.py)"), got
    # the workstation's env changed too: it no longer tells what the deploy had
    (env / "lib.py").write_text("A = 22\n")  # another size (the fingerprint uses size + mtime)
    (got,) = changes({**expect, "container_digest": ""}, observed, "atlas")
    assert got.endswith("ffffffffffff now"), got


def test_a_reproduction_uses_its_original_deploys_diff(tmp_path: Path):
    origin = {"snapshot_dir": "/lab/code/k", "agent_dir": "/lab/agent/a"}
    repro = {"deploy_id": "r1", "commit": "c", "dirty_files": ["x"], "diff_of": "d1"}
    got = expected(tmp_path, repro, origin)
    assert got["diff_path"] == str(tmp_path / ".sweepops" / "deploys" / "d1" / "dirty.diff")
    assert got["dirty"] is True
    plain = expected(tmp_path, {"deploy_id": "d1", "commit": "c"}, origin)
    assert plain["diff_path"].endswith("/deploys/d1/dirty.diff") and plain["dirty"] is False


def test_an_agent_package_from_before_runtimes_is_refused(repo: Path, tmp_path: Path) -> None:
    # LAB/agent/KEY is there but holds no runtime.json: today's job script (python -s DIR
    # agent) cannot run it; refused before anything is synced or submitted
    snap = snapshot_of(repo, allow_dirty=False)
    expect = _expect(repo, snap, dirty=False, agent_key="2" * 16)
    observed = {
        "env": {"exists": True, "digest": "e" * 64},
        "snapshot_present": True,
        "agent_present": True,
        "agent_is_runtime": False,
    }
    with pytest.raises(SweepopsError, match="2222222222222222 .* from before agent runtimes"):
        verify(repo, expect, observed, host="h", rebuild_dir=tmp_path / "rb", deploy_id="r1")
    out = verify(
        repo,
        expect,
        {**observed, "agent_is_runtime": True},
        host="h",
        rebuild_dir=tmp_path / "rb",
        deploy_id="r1",
    )
    assert out == {"sync": False, "snapshot": {}, "rebuilt": False, "runtime": {}}
