"""`sweepops reproduce RUN` on the real Slurm test cluster: a finished run of the
deterministic example program, re-run from the same code snapshot, gives the same metric;
a changed env hash is refused."""

from __future__ import annotations

import json
import time

import pytest

from sweepops.records import ledger
from tests.integration.test_cluster_results import finished, sweepops

pytestmark = [pytest.mark.cluster, pytest.mark.integration]


def test_reproduce_gives_the_same_metric(repo, cluster):
    proc = sweepops(repo, [cluster], "deploy", "base", "-e", f"clusters={cluster.name}")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
    (deploy,) = [r for r in ledger.records(repo) if "sweeps" in r]
    (sweep,) = deploy["sweeps"]
    deadline = time.monotonic() + 300
    while finished(cluster, sweep["id"]) < 6:
        assert time.monotonic() < deadline, "the runs did not finish in time"
        time.sleep(1)
    res = sweepops(repo, [cluster], "results", "base", "--json")
    assert res.returncode == 0, res.stderr
    run = json.loads(res.stdout)[2]

    proc = sweepops(repo, [cluster], "reproduce", run["run_id"], "--wait", "--json", timeout=400)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "no env hash was recorded" in proc.stderr
    # the short view, on stderr with --json: stdout holds the JSON alone
    assert f"✓ Reproduce a run on a cluster [{cluster.name}-login]" in proc.stderr, proc.stderr
    assert len(proc.stdout.splitlines()) == 1, proc.stdout
    out = json.loads(proc.stdout.splitlines()[-1])
    assert out["state"] == "finished" and out["reproduction"] != run["run_id"]
    assert out["original"] == run["metric"] and out["same"], out
    # The copy ran from the very snapshot the original deploy recorded, with its parameters.
    (repro,) = [r for r in ledger.records(repo) if r.get("reproduces")]
    subs = ledger.submissions(repo, repro["deploy_id"])[f"{cluster.name}-login"]
    assert (
        subs["snapshot_dir"]
        == ledger.submissions(repo, deploy["deploy_id"])[f"{cluster.name}-login"]["snapshot_dir"]
    )
    copy = repro["sweeps"][0]["meta"]["config"]
    assert copy["method"] == "grid"
    assert {k: v["value"] for k, v in copy["parameters"].items()} == run["params"]

    # `sweepops diff RUN ITS_REPRODUCTION`: nothing differs but the run id (the same code
    # snapshot, parameters, env, container, job script but for the ids, cluster, metric).
    diffed = sweepops(repo, [cluster], "diff", run["run_id"], out["reproduction"], "--json")
    assert diffed.returncode == 0, diffed.stderr
    result = json.loads(diffed.stdout)
    assert result["differs"] == ["run id"], json.dumps(result["sections"], indent=1)[-6000:]
    assert result["sections"]["sbatch"]["a"], "the job scripts were fetched and compared"
    assert result["sections"]["metric"]["a"]["final"] == run["metric"]

    # An env whose package list changed since the deploy: refused, saying why.
    prefix = subs["env_prefix"]
    recs = ledger.records(repo)
    path = ledger.ledger_path(repo)
    first = {
        "event": "env",
        "host": f"{cluster.name}-login",
        "env": {"prefix": prefix, "lock_sha256": "a" * 64},
    }
    path.write_text(
        "\n".join(json.dumps(r) for r in [first, *recs])
        + "\n"
        + json.dumps({**first, "env": {"prefix": prefix, "lock_sha256": "b" * 64}})
        + "\n"
    )
    refused = sweepops(repo, [cluster], "reproduce", run["run_id"])
    assert refused.returncode == 2
    assert "changed since deploy" in refused.stderr and "aaaaaaaaaaaa" in refused.stderr
