"""Unit tests of sweepops.results.fetch (parsing rsync and sacct output, the join) and progress."""

from __future__ import annotations

import io

from sweepops.core.progress import Progress
from sweepops.ops.reproduce import one_run_config
from sweepops.results.fetch import join_acct, parse_acct, parse_itemized, parse_rss

SACCT = """\
70_3|71|REQUEUED|0:15|12||billing=1,cpu=1,gres/gpu=2,node=1
70_3|71|COMPLETED|0:0|100||billing=1,cpu=1,gres/gpu=2,node=1
70_3.batch|71.batch|COMPLETED|0:0|100|2048K|cpu=1,gres/gpu=2,mem=0,node=1
70_3.extern|71.extern|COMPLETED|0:0|100|1M|cpu=1,mem=0,node=1
80|80|FAILED|1:0|5||billing=1,cpu=1,node=1
"""


def test_parse_itemized_counts_transferred_files_only():
    lines = [
        ".d..t...... ./",
        "cd+++++++++ s1/runs/",
        ">f+++++++++ s1/runs/a.json",
        "<<CHANGED>>>f.st...... s1/runs/b.json",
        ".f...p..... s1/sweep.json",
    ]
    assert parse_itemized(lines) == ["s1/runs/a.json", "s1/runs/b.json"]


def test_parse_acct_requeues_rss_gpus():
    acct = parse_acct(SACCT)
    task = acct["70_3"]
    assert task["state"] == "COMPLETED" and task["exit_code"] == "0:0"
    assert task["elapsed"] == 100 and task["requeues"] == 1 and task["gpus"] == 2
    assert task["max_rss"] == 2048 * 1024
    assert acct["71"] is task  # by raw id too
    assert acct["80"]["requeues"] == 0 and acct["80"]["max_rss"] is None
    assert parse_rss("2.5G") == int(2.5 * 1024**3) and parse_rss("") is None


def test_join_acct_per_array_task():
    row = {"slurm": {"job_id": "71", "array_job_id": "70", "array_task_id": "3"}, "duration": 36.0}
    join_acct(row, parse_acct(SACCT))
    assert row["job"] == "70_3" and row["job_elapsed"] == 100 and row["requeues"] == 1
    assert row["gpu_hours"] == 2 * 36.0 / 3600 and row["job_gpu_hours"] == 2 * 100 / 3600
    missing = {"slurm": {"job_id": "99", "restart_count": "2"}, "duration": 1.0}
    join_acct(missing, {})
    assert missing["job"] == "99" and missing["requeues"] == 2 and "job_elapsed" not in missing


def test_progress_plain_lines_on_a_non_tty():
    out = io.StringIO()
    bar = Progress("fetch", 2, stream=out)
    bar.update(0, message="start")
    bar.update(0, message="start")  # unchanged: not drawn again
    bar.advance(message="one")
    bar.close()
    assert out.getvalue() == "fetch: 0/2 start\nfetch: 1/2 one\n"
    tty = io.StringIO()
    bar = Progress("fetch", 4, stream=tty, width=4, tty=True)
    bar.advance(2)
    bar.close()
    assert tty.getvalue() == "\r[##..] fetch: 2/4\n"


def test_one_run_config_fixes_every_parameter():
    config = {"method": "bayes", "run_cap": 5, "parameters": {"lr": {"values": [1, 2]}}}
    out = one_run_config(config, {"lr": {"value": 2}, "epochs": 3})
    assert out == {"method": "grid", "parameters": {"lr": {"value": 2}, "epochs": {"value": 3}}}


def test_table_shows_max_rss_of_the_job_task():
    from sweepops.results.rows import finish_rows, format_bytes, format_table

    row = {
        "sweep": "s",
        "run_id": "r1",
        "state": "finished",
        "params": {"lr": 0.1},
        "summary": {"loss": 1.0},
        "duration": 36.0,
        "cluster": "atlas-login",
        "tags": [],
        "slurm": {"job_id": "71", "array_job_id": "70", "array_task_id": "3"},
    }
    join_acct(row, parse_acct(SACCT))
    rows = [row]
    finish_rows(rows, {"name": "loss", "goal": "minimize"})
    header, line = format_table(rows, {"name": "loss"}).splitlines()[0::2]
    assert "max RSS" in header and "2.0M" in line, (header, line)
    # GPU-hours to 0.001 h: 2 GPUs x 36 s = 0.02 h, not 0.02000000 or 7 digits
    assert row["gpu_hours"] == 0.02 and " 0.020 " in line, line
    row["gpu_hours"] = 2 * 100 / 3600
    assert " 0.056 " in format_table(rows, {"name": "loss"}).splitlines()[2]
    assert format_bytes(None) == "-" and format_bytes(512) == "512B"
    assert format_bytes(214460 * 1024) == "209M" and format_bytes(int(1.5 * 1024**3)) == "1.5G"
