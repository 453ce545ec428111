"""The report: real PNGs of the configured size with data in them, and the HTML page."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from sweepops.records import ledger
from sweepops.results.report import (
    PlotStyle,
    is_categorical,
    plot_learning_curves,
    plot_metric_vs_param,
    spans_decades,
    write_report,
)
from sweepops.results.rows import collect_rows
from sweepops.runtime.offline_sweep import OfflineSweep, sweep_meta

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
METRIC = {"name": "val_loss", "goal": "minimize"}


def make_sweep(parent: Path, name: str, tags: tuple[str, ...], runs: list[dict[str, Any]]) -> Path:
    """A sweep directory with finished run records ({params, loss, history?} each)."""
    config = {"method": "grid", "metric": METRIC, "parameters": {}}
    sweep = OfflineSweep.create_from_meta(parent, sweep_meta(config=config, name=name, tags=tags))
    for i, run in enumerate(runs):
        rec = {
            "id": f"{name[:4]}{i:04d}",
            "params": {k: {"value": v} for k, v in run["params"].items()},
            "state": run.get("state", "finished"),
            "attempt": 1,
            "created": 1.0e9 + i,
            "duration": 2.5,
            "summary": {} if run.get("loss") is None else {"val_loss": run["loss"], "_step": 9},
            "history": run.get("history", []),
        }
        (sweep.runs_dir / f"{rec['id']}.json").write_text(json.dumps(rec))
    return sweep.path


def curve(final: float, steps: int = 10) -> list[dict[str, Any]]:
    return [{"_step": s, "val_loss": final + 1.0 / (1 + s), "epoch": s} for s in range(steps)]


@pytest.fixture
def sweeps(tmp_path: Path) -> list[Path]:
    parent = tmp_path / "sweeps"
    parent.mkdir()
    clean, noisy = [], []
    for lr in (1e-4, 1e-3, 1e-2, 1e-1, 1.0):
        for opt in ("adam", "sgd"):
            base = abs(lr - 1e-2) + (0.0 if opt == "adam" else 0.05)
            clean.append(
                {"params": {"lr": lr, "opt": opt}, "loss": 0.1 + base, "history": curve(0.1 + base)}
            )
            noisy.append(
                {"params": {"lr": lr, "opt": opt}, "loss": 0.3 + base, "history": curve(0.3 + base)}
            )
    noisy.append({"params": {"lr": 0.5, "opt": "adam"}, "state": "failed", "loss": None})
    return [
        make_sweep(parent, "exp_clean", ("clean",), clean),
        make_sweep(parent, "exp_noisy", ("noisy",), noisy),
    ]


def png_pixels(path: Path) -> Any:
    import matplotlib.image

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    return matplotlib.image.imread(str(path))


def assert_real_image(path: Path, width: int, height: int) -> None:
    pixels = png_pixels(path)
    assert pixels.shape[:2] == (height, width)
    assert float(pixels[..., :3].std()) > 0.05  # not blank
    colours = {tuple(p) for p in (pixels[::7, ::7, :3] * 255).astype(int).reshape(-1, 3).tolist()}
    assert len(colours) > 20  # lines, markers, text: not a flat fill


def test_axis_rules():
    assert (
        is_categorical(["adam", "sgd"])
        and is_categorical([True, False])
        and is_categorical([1, None])
    )
    assert not is_categorical([0.1, 1, 3])
    assert (
        spans_decades([1e-4, 1.0])
        and not spans_decades([0.01, 0.5])
        and not spans_decades([0, 10, 1e6])
    )


def test_metric_vs_param_png_has_configured_size_and_data(sweeps, tmp_path):
    rows, metric = collect_rows(sweeps)
    style = PlotStyle(width_px=640, height_px=400, dpi=80)
    for param in ("lr", "opt"):  # numeric over 4 decades (log x), and categorical
        png = plot_metric_vs_param(rows, metric, param, tmp_path / f"{param}.png", style)
        assert png is not None
        assert_real_image(png, 640, 400)


def test_learning_curves_png_grows_with_panels(sweeps, tmp_path):
    rows, metric = collect_rows(sweeps, history=True)
    style = PlotStyle(width_px=800, curves_row_px=300, curves_columns=1, dpi=100)
    png = plot_learning_curves(rows, metric, tmp_path / "curves.png", style)
    assert png is not None
    assert_real_image(png, 800, 600)  # two subtests, one panel per row


def test_no_history_no_learning_curves(sweeps, tmp_path):
    rows, metric = collect_rows(sweeps)  # without history
    assert plot_learning_curves(rows, metric, tmp_path / "c.png") is None
    assert not (tmp_path / "c.png").exists()


def test_history_is_reduced_to_step_and_metric(sweeps):
    rows, _ = collect_rows(sweeps, history=True)
    assert rows[0]["history"][0] == {"_step": 0, "val_loss": pytest.approx(1.1)}


def test_html_report_embeds_plots_and_the_table(sweeps, tmp_path):
    rows, metric = collect_rows(sweeps, history=True)
    page = write_report(
        rows, metric, tmp_path / "out", title="exp: deploy d1", meta_lines=["commit abc"]
    )
    text = page.read_text()
    imgs = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(imgs) == 3  # lr, opt, learning curves
    pngs = sorted(p.name for p in page.parent.glob("*.png"))
    assert pngs == ["curves.png", "metric_vs_lr.png", "metric_vs_opt.png"]
    assert '<table class="results">' in text and text.count('<tr class="best">') == 2
    # a wide table scrolls in its own box instead of widening the page
    assert '<div class="table-box"><table class="results">' in text
    assert ".table-box { overflow-x: auto;" in text
    assert all(r["run_id"] in text for r in rows)
    assert "commit abc" in text and "results.csv" in text
    assert (page.parent / "results.csv").read_text().startswith("sweep,")


def test_report_without_metric_values_still_writes_a_page(tmp_path):
    parent = tmp_path / "s"
    parent.mkdir()
    d = make_sweep(parent, "exp", (), [{"params": {"lr": 0.1}, "state": "failed", "loss": None}])
    rows, metric = collect_rows([d])
    page = write_report(rows, metric, tmp_path / "out")
    assert "no plots" in page.read_text() and not list(page.parent.glob("*.png"))


def test_report_command_writes_report_and_journal_outcome(sweeps, tmp_path, capsys):
    from sweepops.cli.commands import main

    root = tmp_path / "repo"
    (root / "experiments").mkdir(parents=True)
    exp = root / "experiments" / "exp.yml"
    exp.write_text("program: x.py\n")
    deploy = {
        "deploy_id": "d1",
        "time": 1.7e9,
        "experiment": "exp",
        "experiment_path": str(exp),
        "experiment_sha256": "0" * 64,
        "commit": "abc",
        "dirty_files": [],
        "clusters": ["local"],
        "sweeps": [{"id": p.name, "name": p.name, "tags": [], "dir": str(p)} for p in sweeps],
    }
    ledger.append(root, deploy)
    assert main(["--root", str(root), "report", "exp", "--width", "500", "--height", "300"]) == 0
    page = Path(capsys.readouterr().out.strip())
    assert page == root / ".sweepops" / "reports" / "exp-d1" / "index.html"
    assert_real_image(page.parent / "metric_vs_lr.png", 500, 300)
    journal = (root / "journal" / "exp.md").read_text()
    assert "<!-- sweepops:outcome d1 -->" in journal
    assert "../.sweepops/reports/exp-d1/index.html" in journal
    assert main(["--root", str(root), "export", "exp", "--csv", str(tmp_path / "r.csv")]) == 0
    after = (root / "journal" / "exp.md").read_text()
    assert after.count("<!-- sweepops:outcome d1 -->") == 1 and after == journal
