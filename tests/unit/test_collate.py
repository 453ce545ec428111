"""Collating results: best run per subtest, the table's mark, CSV for pandas, the benchmark."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

from sweepops.results.rows import collect_rows, format_table, mark_best, subtest_of, write_csv

REPO = Path(__file__).resolve().parents[2]


def sweep_dir(
    parent: Path,
    name: str,
    tags: list[str],
    runs: list[tuple[dict, float | None, str]],
    metric: dict | None = None,
) -> Path:
    from sweepops.runtime.offline_sweep import OfflineSweep, sweep_meta

    config = {"method": "grid", "parameters": {}}
    if metric is not False:
        config["metric"] = metric or {"name": "val_loss", "goal": "minimize"}
    sweep = OfflineSweep.create_from_meta(parent, sweep_meta(config=config, name=name, tags=tags))
    for i, (params, loss, state) in enumerate(runs):
        rec = {
            "id": f"{name}-{i}",
            "params": {k: {"value": v} for k, v in params.items()},
            "state": state,
            "created": float(i),
            "summary": {} if loss is None else {"val_loss": loss, "val": {"acc": 1 - loss}},
            "agent": {
                "host": "n1",
                "slurm": {"job_id": "77", "array_job_id": "70", "array_task_id": "3"},
            },
            "duration": 1.5,
        }
        (sweep.runs_dir / f"{rec['id']}.json").write_text(json.dumps(rec))
    return sweep.path


def test_subtest_ignores_trial_tags():
    assert subtest_of(["noisy", "regularised", "trial2"]) == "noisy,regularised"
    assert subtest_of(["trial1"]) == "" and subtest_of([]) == ""


def test_best_run_per_subtest_across_trials(tmp_path):
    dirs = [
        sweep_dir(
            tmp_path,
            "a_t1",
            ["a", "trial1"],
            [({"lr": 1}, 0.5, "finished"), ({"lr": 2}, 0.4, "finished")],
        ),
        sweep_dir(tmp_path, "a_t2", ["a", "trial2"], [({"lr": 1}, 0.3, "finished")]),
        sweep_dir(
            tmp_path, "b", ["b"], [({"lr": 1}, None, "failed"), ({"lr": 2}, 0.9, "finished")]
        ),
    ]
    rows, metric = collect_rows(dirs)
    best = {r["run_id"] for r in rows if r["best"]}
    assert best == {"a_t2-0", "b-1"}  # failed runs (no value) are never best
    assert [r["run_id"] for r in rows][:2] == ["a_t2-0", "a_t1-1"]
    json.dumps(rows)  # the rows stay JSON-able (`results --json`): best is a plain bool
    table = format_table(rows, metric).splitlines()
    assert table[0].split()[-1] == "best"
    marked = [line.split()[1] for line in table[2:] if line.rstrip().endswith("*")]
    assert sorted(marked) == ["a_t2-0", "b-1"]


def test_maximize_and_no_metric(tmp_path):
    d = sweep_dir(
        tmp_path,
        "m",
        [],
        [({"lr": 1}, 0.2, "finished"), ({"lr": 2}, 0.6, "finished")],
        metric={"name": "val.acc", "goal": "maximize"},
    )  # nested summary key
    rows, _ = collect_rows([d])
    assert rows[0]["run_id"] == "m-0" and rows[0]["metric"] == 0.8 and rows[0]["best"]
    d2 = sweep_dir(tmp_path, "n", [], [({"lr": 1}, 0.2, "finished")], metric=False)
    rows, metric = collect_rows([d2])
    assert metric is None and not any(r["best"] for r in rows)
    mark_best(rows, None)
    assert "run" in format_table(rows, None).splitlines()[0]


def test_table_header_and_metric_column_unchanged_for_existing_parsers(tmp_path):
    d = sweep_dir(
        tmp_path,
        "s",
        [],
        [({"lr": 0.1, "bs": 16}, 0.2, "finished"), ({"lr": 0.5, "bs": 128}, 0.3, "finished")],
    )
    lines = format_table(*collect_rows([d])).splitlines()
    assert lines[0].startswith("run ")
    assert [float(line.split()[3]) for line in lines[2:]] == [0.2, 0.3]  # as test_deploy parses it


def read_back(text: str) -> list[dict]:
    try:
        import pandas as pd
    except ImportError:
        return list(csv.DictReader(io.StringIO(text)))
    frame = pd.read_csv(io.StringIO(text))
    assert frame["best"].dtype == bool and frame["metric"].dtype == float
    return frame.to_dict("records")


def test_csv_round_trip(tmp_path):
    dirs = [
        sweep_dir(
            tmp_path,
            "a",
            ["a", "x,y"],
            [
                ({"lr": 0.1, "opt": "adam"}, 0.25, "finished"),
                ({"lr": 0.5, "opt": "sgd"}, None, "failed"),
            ],
        ),
        sweep_dir(tmp_path, "b", [], [({"lr": 0.1, "opt": "sgd", "l2": 0.01}, 0.5, "finished")]),
    ]
    rows, metric = collect_rows(dirs)
    buf = io.StringIO()
    write_csv(rows, buf, metric)
    back = read_back(buf.getvalue())
    assert len(back) == 3
    first = back[0]
    assert first["run_id"] == "a-0" and str(first["best"]).lower() == "true"
    assert float(first["metric"]) == 0.25 and float(first["param.lr"]) == 0.1
    assert first["param.opt"] == "adam" and first["tags"] == "a,x,y"
    assert float(first["summary.val_loss"]) == 0.25 and first["slurm_job_id"] == "70_3"
    assert str(back[2]["best"]).lower() == "false"  # the failed run, last
    write_csv(rows, tmp_path / "r.csv", metric)
    assert (tmp_path / "r.csv").read_text() == buf.getvalue()


def test_bench_collate_runs_small(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "collate.py"),
            "--runs",
            "60",
            "--sweeps",
            "3",
            "--history",
            "5",
            "--repeat",
            "1",
            "--keep",
            str(tmp_path / "data"),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    assert "collate/read = " in out and "peak mem" in out
    assert len(list((tmp_path / "data").glob("*/runs/*.json"))) == 60
