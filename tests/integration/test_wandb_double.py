"""The wandb double against the real wandb SDK, the real `wandb agent` and `wandb sync`.

Every SDK call runs in its own process (the SDK keeps global state: settings, its wandb-core
service), with HOME pointing at an empty directory so that no ~/.netrc of the machine counts.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.wandb_double import WandbDouble, operation_name

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PROJECT = "proj"

# The run program: wandb.init() online (or offline), logs a decreasing loss, finishes.
TRAIN = """\
import wandb

run = wandb.init()
lr = run.config["lr"]
for i in range(3):
    run.log({"loss": lr * (3 - i)})
run.summary["final"] = lr
run.finish()
"""

# Drives the public SDK from a JSON request on argv; prints a JSON answer.
SDK = """\
import json, sys
import wandb

req = json.loads(sys.argv[1])
try:
    if req["op"] == "sweep":
        out = {"id": wandb.sweep(req["config"], entity=req["entity"], project=req["project"])}
    elif req["op"] == "read":
        api = wandb.Api()
        sweep = api.sweep(req["path"])
        runs = api.runs(req["project_path"], filters=req["filters"], order=req["order"])
        out = {
            "sweep": {"config": sweep.config, "state": sweep.state,
                      "runs": sorted(r.id for r in sweep.runs)},
            "runs": [
                {"id": r.id, "config": r.config, "summary": dict(r.summary), "state": r.state,
                 "tags": r.tags, "group": r.group, "sweep": r.sweep_name}
                for r in runs
            ],
        }
except Exception as e:
    out = {"error": type(e).__name__, "message": str(e)}
print("RESULT " + json.dumps(out, default=dict))  # summary sub-dicts
"""

GRID = {
    "method": "grid",
    "program": "train.py",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"lr": {"values": [0.1, 0.2]}, "epochs": {"value": 3}},
}


@pytest.fixture
def double() -> Iterator[WandbDouble]:
    with WandbDouble() as w:
        yield w
        assert not w.unknown, f"operations the double does not know: {w.unknown}"


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    (tmp_path / "train.py").write_text(TRAIN)
    (tmp_path / "sdk.py").write_text(SDK)
    return tmp_path


def sdk_env(double: WandbDouble, work: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(work / "home")
    env["WANDB_CONFIG_DIR"] = str(work / "home" / ".config" / "wandb")
    env["NETRC"] = str(work / "home" / ".netrc")
    env.update(double.env(**extra))
    return env


def sdk(double: WandbDouble, work: Path, env: dict[str, str] | None = None, **req: Any) -> Any:
    proc = subprocess.run(
        [sys.executable, str(work / "sdk.py"), json.dumps(req)],
        env=env or sdk_env(double, work),
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, f"no result (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return json.loads(lines[-1][len("RESULT ") :])


def create_sweep(double: WandbDouble, work: Path, config: dict[str, Any] = GRID) -> str:
    out = sdk(double, work, op="sweep", config=config, entity=double.entity, project=PROJECT)
    assert "id" in out, out
    return str(out["id"])


def wandb_cli(work: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "wandb"), *args],
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
        timeout=150,
    )


def post(url: str, body: dict[str, Any], key: str | None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url + "/graphql", data=json.dumps(body).encode(), method="POST"
    )
    request.add_header("Content-Type", "application/json")
    if key is not None:
        request.add_header(
            "Authorization", "Basic " + base64.b64encode(f"api:{key}".encode()).decode()
        )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


# ---------------------------------------------------------------------- the protocol itself
def test_operation_name_from_body_or_query_text():
    assert operation_name({"operationName": "Viewer", "query": "query X { a }"}) == "Viewer"
    assert operation_name({"query": "#graphql\n  query Runs($p: String!) { a }"}) == "Runs"
    assert operation_name({"query": "mutation UpsertBucket ($id: String) { a }"}) == "UpsertBucket"
    assert operation_name({"query": "{ viewer { id } }"}) is None


def test_auth_unknown_operations_and_unknown_agents(double: WandbDouble):
    viewer = {"query": "query Viewer { viewer { entity } }"}
    assert post(double.base_url, viewer, None)[0] == 401
    assert post(double.base_url, viewer, "k" * 40)[0] == 401  # well-formed, but not the key
    status, body = post(double.base_url, viewer, double.api_key)
    assert status == 200 and body["data"]["viewer"]["entity"] == double.entity

    status, body = post(double.base_url, {"query": "query Nope { x }"}, double.api_key)
    assert status == 200 and "unknown operation Nope" in body["errors"][0]["message"]
    assert double.unknown == ["Nope"]
    double._unknown.clear()  # seen; the fixture checks nothing else was unknown

    beat = {"query": "mutation Heartbeat($id: ID!) { x }", "variables": {"id": "nobody"}}
    assert post(double.base_url, beat, double.api_key)[0] == 404  # ends a real agent, exit 1
    assert double.requests == ["401 /graphql", "401 /graphql", "Viewer", "Nope", "Heartbeat"]


def test_standalone_on_two_addresses(tmp_path: Path):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.wandb_double",
            "--port",
            "0",
            "--bind",
            "127.0.0.1",
            "--bind",
            "127.0.0.2",
            "--api-key",
            "k" * 40,
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        urls = [proc.stdout.readline().strip() for _ in range(2)]
        assert urls[0].startswith("http://127.0.0.1:") and urls[1].startswith("http://127.0.0.2:")
        assert urls[0].rsplit(":", 1)[1] == urls[1].rsplit(":", 1)[1]
        for url in urls:
            status, body = post(url, {"query": "query Viewer { viewer { entity } }"}, "k" * 40)
            assert status == 200 and body["data"]["viewer"]["entity"] == "sweepops-test"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# ---------------------------------------------------------------------- the real SDK and CLI
def test_sweep_is_created_and_read_back_with_the_public_api(double: WandbDouble, work: Path):
    sweep_id = create_sweep(double, work)
    assert double.requests[:2] == ["Viewer", "UpsertSweep"]
    sweep = double.sweeps[sweep_id]
    assert (sweep.entity, sweep.project, sweep.state) == (double.entity, PROJECT, "RUNNING")
    assert sweep.config == GRID

    out = sdk(
        double,
        work,
        op="read",
        path=f"{double.entity}/{PROJECT}/{sweep_id}",
        project_path=f"{double.entity}/{PROJECT}",
        filters={},
        order="+created_at",
    )
    assert out["sweep"] == {"config": GRID, "state": "RUNNING", "runs": []}
    assert out["runs"] == []


@pytest.mark.parametrize(
    ("case", "error", "message"),
    [
        ("no key", "UsageError", "No API key configured"),
        ("bad config", "CommError", "Invalid sweep config: 'nonsense' is not one of"),
        ("wrong entity", "CommError", "entity someone-else not found"),
        ("denied project", "CommError", "permission denied for sweepops-test/proj"),
    ],
)
def test_sdk_errors(double: WandbDouble, work: Path, case: str, error: str, message: str):
    env = sdk_env(double, work)
    config = dict(GRID)
    entity = double.entity
    if case == "no key":
        del env["WANDB_API_KEY"]
    elif case == "bad config":
        config["method"] = "nonsense"
    elif case == "wrong entity":
        entity = "someone-else"
    else:
        double.deny.add(f"{double.entity}/{PROJECT}")
    out = sdk(double, work, env=env, op="sweep", config=config, entity=entity, project=PROJECT)
    assert out.get("error") == error and message in out["message"], out
    assert double.sweeps == {}
    if case == "no key":
        assert double.requests == []  # refused by the SDK itself


def test_lenient_server_returns_the_warnings(work: Path):
    with WandbDouble(reject_invalid_config=False) as double:
        config = {**GRID, "method": "nonsense"}
        env = sdk_env(double, work, WANDB_SILENT="false")
        out = sdk(
            double, work, env=env, op="sweep", config=config, entity=double.entity, project=PROJECT
        )
        (sweep,) = double.sweeps.values()
        assert out["id"] == sweep.id
        assert any("'nonsense' is not one of" in w for w in sweep.warnings)


def test_wandb_agent_runs_the_parameters_the_double_handed_out(double: WandbDouble, work: Path):
    sweep_id = create_sweep(double, work)
    env = sdk_env(
        double, work, WANDB_GIT_COMMIT="c0ffee", WANDB_TAGS="exp,trial1", WANDB_RUN_GROUP="deploy-1"
    )
    agent = wandb_cli(work, env, "agent", f"{double.entity}/{PROJECT}/{sweep_id}", "--count", "2")
    assert agent.returncode == 0, agent.stderr[-3000:]

    handed = double.handed_out(sweep_id)
    assert sorted(p["lr"] for p in handed.values()) == [0.1, 0.2]  # the whole grid, once each
    assert all(p["epochs"] == 3 for p in handed.values())
    for run_id, params in handed.items():
        run = double.runs[run_id]
        assert run.sweep == sweep_id and run.state == "finished" and run.exitcode == 0
        assert run.config == params  # what the program saw, uploaded by UpsertBucket
        assert run.summary["loss"] == params["lr"] and run.summary["final"] == params["lr"]
        assert [h["loss"] for h in run.history] == [params["lr"] * k for k in (3, 2, 1)]
        assert (run.commit, run.tags, run.group) == ("c0ffee", ["exp", "trial1"], "deploy-1")
        assert "config.yaml" in run.files and "wandb-summary.json" in run.files
    seen = set(double.requests)
    assert {
        "SweepWithRuns",
        "CreateAgent",
        "Heartbeat",
        "UpsertBucket",
        "CreateRunFiles",
        "PUT /storage",
        "POST file_stream",
    } <= seen

    # the public API reads them back, filtered and ordered as sweepops' results do
    out = sdk(
        double,
        work,
        op="read",
        path=f"{double.entity}/{PROJECT}/{sweep_id}",
        project_path=f"{double.entity}/{PROJECT}",
        order="-summary_metrics.loss",
        filters={"$and": [{"sweep": sweep_id}, {"tags": {"$in": ["trial1"]}}]},
    )
    assert out["sweep"]["runs"] == sorted(handed)
    assert [r["config"]["lr"] for r in out["runs"]] == [0.2, 0.1]
    assert all(r["state"] == "finished" and r["group"] == "deploy-1" for r in out["runs"])

    # the grid is done: a new agent gets `exit` at its first heartbeat and runs nothing
    beats = double.requests.count("Heartbeat")
    again = wandb_cli(work, env, "agent", f"{double.entity}/{PROJECT}/{sweep_id}")
    assert again.returncode == 0, again.stderr[-3000:]
    assert double.requests.count("Heartbeat") == beats + 1
    assert len(double.handed_out(sweep_id)) == 2 and double.sweeps[sweep_id].state == "FINISHED"


def test_offline_run_synced_twice_attaches_to_the_sweep_once(double: WandbDouble, work: Path):
    sweep_id = create_sweep(double, work)
    params = work / "params.yaml"
    params.write_text("lr:\n  value: 0.2\nepochs:\n  value: 3\n")
    env = sdk_env(
        double,
        work,
        WANDB_MODE="offline",
        WANDB_SWEEP_ID=sweep_id,
        WANDB_RUN_ID="offrun01",
        WANDB_SWEEP_PARAM_PATH=str(params),
        WANDB_DIR=str(work),
        WANDB_PROJECT=PROJECT,
        WANDB_TAGS="offline",
        WANDB_GIT_COMMIT="c0ffee",
    )
    run = subprocess.run(
        [sys.executable, "train.py"], env=env, cwd=work, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert double.requests == ["Viewer", "UpsertSweep"]  # offline: nothing was sent
    (run_dir,) = (work / "wandb").glob("offline-run-*-offrun01")

    sync_env = sdk_env(double, work)
    first = wandb_cli(work, sync_env, "sync", str(run_dir))
    assert first.returncode == 0, first.stderr[-3000:]
    assert (run_dir / "run-offrun01.wandb.synced").exists()
    synced = double.runs["offrun01"]
    assert synced.sweep == sweep_id and synced.state == "finished" and synced.completions == 1
    assert synced.config == {"lr": 0.2, "epochs": 3}
    assert synced.summary["loss"] == 0.2 and len(synced.history) == 3
    assert (synced.tags, synced.commit) == (["offline"], "c0ffee")
    assert [r.name for r in double.sweep_runs(sweep_id)] == ["offrun01"]

    before = len(double.requests)
    second = wandb_cli(work, sync_env, "sync", str(run_dir))
    assert second.returncode == 0, second.stderr[-3000:]
    assert double.requests[before:] == []  # nothing uploaded again
    assert double.runs["offrun01"].completions == 1 and len(double.runs) == 1
