"""The experiment report: PNG plots and one self-contained HTML page to decide from.

``write_report(rows, metric, out_dir)`` takes the rows of :func:`sweepops.results.rows.collect_rows`
(with ``history=True`` for learning curves) and writes into ``out_dir``:

* ``metric_vs_<param>.png`` for each varied parameter: every run's metric against the
  parameter, coloured by subtest, a line through the best value at each setting, the best
  run of each subtest as a star; categorical x for strings and booleans, log x when the values
  span more than two decades;
* ``curves.png``: the metric over each run's history (x = ``_step``, else the row index), one
  panel per subtest, the best runs coloured and labelled, the rest grey;
* ``results.csv`` (all rows) and ``index.html`` with the plots embedded (base64) and the table.

Plotting uses matplotlib's Agg canvas directly (no pyplot state, no display needed).
"""

from __future__ import annotations

import base64
import html
import math
import re
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweepops.results.rows import (
    best_rows,
    curve,
    metric_note,
    table_cells,
    varied_params,
    write_csv,
)

#: Colours of the subtests, in order (matplotlib's tab10, colour-blind friendlier first).
PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
)
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
#: Runs coloured (and labelled) per panel of the learning curves; the others are grey.
HIGHLIGHT_CURVES = 5
#: At most this many grey curves per panel (the best ones), to keep 10,000 runs legible.
MAX_CURVES = 300
#: Rows shown in the HTML table; the CSV has all.
MAX_HTML_ROWS = 500


@dataclass(frozen=True)
class PlotStyle:
    """Pixel sizes of the figures. A learning-curve figure is ``width_px`` wide and
    ``curves_row_px`` high per row of panels (``curves_columns`` panels per row)."""

    width_px: int = 960
    height_px: int = 600
    curves_row_px: int = 560
    curves_columns: int = 2
    dpi: int = 100
    font_size: float = 11.0


# ---------------------------------------------------------------------- helpers
def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _goal(metric: dict[str, Any]) -> str:
    return str(metric.get("goal", "minimize"))


def _better_word(metric: dict[str, Any]) -> str:
    return "lower is better" if _goal(metric) == "minimize" else "higher is better"


def _pick(values: Sequence[float], metric: dict[str, Any]) -> float:
    return min(values) if _goal(metric) == "minimize" else max(values)


def spans_decades(values: Sequence[float], decades: float = 2.0) -> bool:
    """True when all values are positive and max/min exceeds 10**decades."""
    nums = [v for v in values if _is_number(v)]
    if len(nums) < 2 or min(nums) <= 0:
        return False
    return max(nums) / min(nums) > 10**decades


def is_categorical(values: Sequence[Any]) -> bool:
    """A parameter is plotted on a categorical axis unless every value is a number."""
    return any(not _is_number(v) for v in values)


def _category_order(values: Sequence[Any]) -> list[str]:
    labels = {_label(v): v for v in values}

    def key(label: str) -> tuple[int, float, str]:
        v = labels[label]
        return (0, float(v), label) if _is_number(v) else (1, 0.0, label)

    return sorted(labels, key=key)


def _label(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def subtest_label(sub: str, count: int = 1) -> str:
    """How a subtest is named in plots: its tags, or "all runs" / "untagged"."""
    if sub:
        return sub
    return "all runs" if count <= 1 else "untagged"


#: A numeric parameter with more distinct values than this is binned for the "best" line.
MAX_LINE_POINTS = 12
BINS = 16


def _best_line(
    rows: list[dict[str, Any]],
    metric: dict[str, Any],
    x_of: Any,
    log_x: bool,
) -> tuple[list[float], list[float], str]:
    """The best metric at each x (a grid), or in each of ``BINS`` bins of x (continuous),
    as (xs, ys, description); a bin's point is its best run."""
    points = sorted((x_of(r), float(r["metric"])) for r in rows)
    distinct = sorted({x for x, _ in points})
    if len(distinct) <= MAX_LINE_POINTS:
        best: dict[float, float] = {}
        for x, y in points:
            best[x] = _pick([best[x], y], metric) if x in best else y
        return distinct, [best[x] for x in distinct], "at each value"
    scale = (lambda v: math.log10(v)) if log_x else (lambda v: v)
    lo, hi = scale(distinct[0]), scale(distinct[-1])
    bins: dict[int, tuple[float, float]] = {}
    for x, y in points:
        k = min(BINS - 1, int((scale(x) - lo) / (hi - lo) * BINS))
        if k not in bins or _pick([bins[k][1], y], metric) == y:
            bins[k] = (x, y)
    chosen = [bins[k] for k in sorted(bins)]
    return [x for x, _ in chosen], [y for _, y in chosen], "per bin"


def subtests_of(rows: list[dict[str, Any]]) -> list[str]:
    """Subtests in table order (the subtest of the best run first)."""
    return list(dict.fromkeys(str(r.get("subtest", "")) for r in rows))


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "param"


def _new_figure(width_px: int, height_px: int, style: PlotStyle) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_px / style.dpi, height_px / style.dpi), dpi=style.dpi)
    fig.set_layout_engine("constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: Path, style: PlotStyle) -> Path:
    import matplotlib as mpl

    path.parent.mkdir(parents=True, exist_ok=True)
    with mpl.rc_context({"font.size": style.font_size}):
        fig.savefig(path, dpi=style.dpi, format="png", facecolor="white")
    return path


def _style_axes(ax: Any) -> None:
    ax.grid(True, which="major", alpha=0.3)
    ax.grid(True, which="minor", alpha=0.1)
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)


def _short_params(row: dict[str, Any], names: Sequence[str]) -> str:
    return ", ".join(f"{n}={_label(row['params'].get(n))}" for n in names)


# ---------------------------------------------------------------------- plots
def plot_metric_vs_param(
    rows: list[dict[str, Any]],
    metric: dict[str, Any],
    param: str,
    path: Path,
    style: PlotStyle | None = None,
) -> Path | None:
    """The metric of every run against ``param``; None when no run has a metric value."""
    import matplotlib as mpl
    from matplotlib.ticker import NullLocator

    style = style or PlotStyle()
    name = str(metric["name"])
    with_value = [r for r in rows if _is_number(r.get("metric"))]
    if not with_value:
        return None
    subs = subtests_of(with_value)
    xs_all = [r["params"].get(param) for r in with_value]
    categorical = is_categorical(xs_all)
    log_x = not categorical and spans_decades(xs_all)
    log_y = spans_decades([r["metric"] for r in with_value])
    categories = _category_order(xs_all) if categorical else []
    position = {c: i for i, c in enumerate(categories)}
    # Categorical x: the subtests present at a category sit side by side around it.
    present: dict[str, list[str]] = {}
    for r in with_value:
        subs_at = present.setdefault(_label(r["params"].get(param)), [])
        if r.get("subtest", "") not in subs_at:
            subs_at.append(r.get("subtest", ""))
    for subs_at in present.values():
        subs_at.sort(key=subs.index)

    with mpl.rc_context({"font.size": style.font_size}):
        fig = _new_figure(style.width_px, style.height_px, style)
        ax = fig.add_subplot()
        # rows are sorted best first; only a finished run is marked best (results.rankable)
        overall = next((r for r in with_value if r.get("best")), with_value[0])
        annotate_at: tuple[float, float] | None = None
        for i, sub in enumerate(subs):
            color, marker = PALETTE[i % len(PALETTE)], MARKERS[i % len(MARKERS)]
            mine = [r for r in with_value if r.get("subtest", "") == sub]

            def x_of(row: dict[str, Any], sub: str = sub) -> float:
                value = row["params"].get(param)
                if categorical:
                    label = _label(value)
                    here = present[label]
                    width = 0.6 / len(here)
                    return position[label] + (here.index(sub) - (len(here) - 1) / 2) * width
                return float(value)

            def jitter(row: dict[str, Any], sub: str = sub) -> float:
                """Spread a categorical strip sideways (deterministic per run)."""
                if not categorical:
                    return 0.0
                width = 0.6 / len(present[_label(row["params"].get(param))])
                return (zlib.crc32(row["run_id"].encode()) / 2**32 - 0.5) * width * 0.7

            many = len(with_value) > 300
            ax.scatter(
                [x_of(r) + jitter(r) for r in mine],
                [r["metric"] for r in mine],
                s=10 if many else 36,
                alpha=0.3 if many else 0.55,
                color=color,
                marker=marker,
                edgecolors="none",
                zorder=2,
            )
            line_x, line_y, what = _best_line(mine, metric, x_of, log_x)
            ax.plot(
                line_x,
                line_y,
                color=color,
                marker=marker,
                markersize=6 if len(line_x) <= 20 else 3,
                linewidth=1.8,
                label=f"{subtest_label(sub, len(subs))}: best {what} ({len(mine)} runs)",
                zorder=3,
            )
            star = next((r for r in mine if r.get("best")), None)
            if star is not None:
                ax.scatter(
                    [x_of(star)],
                    [star["metric"]],
                    s=320,
                    marker="*",
                    color=color,
                    edgecolors="black",
                    linewidths=1.2,
                    zorder=5,
                )
            if star is overall:
                annotate_at = (x_of(overall), float(overall["metric"]))
        # A legend entry for the stars.
        ax.scatter([], [], s=200, marker="*", color="white", edgecolors="black", label="best run")
        if categorical:
            ax.set_xticks(range(len(categories)), categories)
            ax.set_xlim(-0.6, len(categories) - 0.4)
        if log_x:
            ax.set_xscale("log")
        if log_y:
            ax.set_yscale("log")
        distinct = sorted({float(v) for v in xs_all}) if not categorical else []
        if distinct and len(distinct) <= 8:
            ax.set_xticks(distinct, [_label(v) for v in distinct])
            ax.xaxis.set_minor_locator(NullLocator())
        missing = len(rows) - len(with_value)
        subtitle = f"{len(with_value)} runs" + (
            f"; {missing} without a value (failed or running) not shown" if missing else ""
        )
        ax.set_title(f"{name} vs {param}\n{subtitle}", fontsize=style.font_size + 2)
        scale = " (log scale)" if log_x else ""
        ax.set_xlabel(f"{param}{scale}")
        ax.set_ylabel(f"{name} ({_better_word(metric)})")
        _style_axes(ax)
        ax.legend(loc="best", fontsize=style.font_size - 1, framealpha=0.9)
        if annotate_at is not None:
            _annotate_best(
                ax,
                annotate_at,
                f"best {name}={overall['metric']:.4g}\nrun {overall['run_id']}",
                style,
            )
        return _save(fig, path, style)


def _annotate_best(ax: Any, xy: tuple[float, float], text: str, style: PlotStyle) -> None:
    """A label with an arrow to the best point, placed towards the middle of the axes."""
    fx, fy = ax.transAxes.inverted().transform(ax.transData.transform(xy))
    dx = -16 if fx > 0.5 else 16
    dy = -26 if fy > 0.5 else 22
    ax.annotate(
        text,
        xy=xy,
        xytext=(dx, dy),
        textcoords="offset points",
        ha="right" if dx < 0 else "left",
        va="top" if dy < 0 else "bottom",
        fontsize=style.font_size - 1,
        bbox={"boxstyle": "round,pad=0.3", "fc": "#ffffe0", "ec": "0.5", "alpha": 0.95},
        arrowprops={"arrowstyle": "->", "color": "0.3"},
        zorder=6,
    )


def _robust_limits(
    values: list[float], log: bool, goal: str = "minimize"
) -> tuple[float, float] | None:
    """y limits that leave out the rare extremes at the *worse* end (e.g. the first steps'
    huge losses) while keeping the better end whole: up to the 97th percentile when
    minimizing (from the 3rd when maximizing) if that cuts off a long tail, else None."""
    if len(values) < 50:
        return None
    ordered = sorted(values)
    cut = len(ordered) // 33  # 3%
    if goal == "minimize":
        lo, hi = ordered[0], ordered[-1 - cut]
    else:
        lo, hi = ordered[cut], ordered[-1]
    full = ordered[-1] - ordered[0]
    if full <= 0 or (hi - lo) > 0.6 * full:
        return None
    if log and lo > 0:
        return lo / 1.15, hi * 1.15
    pad = 0.06 * (hi - lo or 1.0)
    return lo - pad, hi + pad


def plot_learning_curves(
    rows: list[dict[str, Any]],
    metric: dict[str, Any],
    path: Path,
    style: PlotStyle | None = None,
) -> Path | None:
    """The metric along each run's history, one panel per subtest; None without history."""
    import matplotlib as mpl

    style = style or PlotStyle()
    name = str(metric["name"])
    series = {r["run_id"]: curve(r, name) for r in rows}
    with_curve = [r for r in rows if series[r["run_id"]][0]]
    if not with_curve:
        return None
    subs = subtests_of(with_curve)
    ncols = min(style.curves_columns, len(subs))
    nrows = math.ceil(len(subs) / ncols)
    panels = {sub: [r for r in with_curve if r.get("subtest", "") == sub] for sub in subs}
    drawn_y = [
        y for mine in panels.values() for r in mine[:MAX_CURVES] for y in series[r["run_id"]][1]
    ]
    log_y = spans_decades(drawn_y)
    y_limits = _robust_limits(drawn_y, log_y, _goal(metric))
    with mpl.rc_context({"font.size": style.font_size}):
        fig = _new_figure(style.width_px, style.curves_row_px * nrows, style)
        axes = fig.subplots(nrows, ncols, squeeze=False, sharey=True)
        for k, sub in enumerate(subs):
            ax = axes[k // ncols][k % ncols]
            mine = panels[sub]
            labels = varied_params(mine) if len(mine) > 1 else []
            top = mine[:HIGHLIGHT_CURVES]  # rows are sorted best first
            rest = mine[HIGHLIGHT_CURVES:MAX_CURVES]
            for r in rest:
                xs, ys = series[r["run_id"]]
                ax.plot(xs, ys, color="0.6", alpha=0.35, linewidth=0.8, zorder=1)
            if rest:
                ax.plot(
                    [],
                    [],
                    color="0.6",
                    linewidth=0.8,
                    label=f"{len(rest)} next best"
                    + (
                        f" ({len(mine) - len(top) - len(rest)} more not drawn)"
                        if len(mine) > MAX_CURVES
                        else ""
                    ),
                )
            for j, r in enumerate(reversed(top)):
                rank = len(top) - j
                xs, ys = series[r["run_id"]]
                value = r.get("metric")
                final = f": {value:.4g}" if _is_number(value) else ""
                desc = _short_params(r, labels) or r["run_id"]
                ax.plot(
                    xs,
                    ys,
                    color=PALETTE[(rank - 1) % len(PALETTE)],
                    linewidth=3.0 if rank == 1 else 1.6,
                    zorder=3 + len(top) - rank,
                    label=f"#{rank} {desc}{final}",
                )
            handles, names = ax.get_legend_handles_labels()
            order = sorted(
                range(len(names)), key=lambda n: (not names[n].startswith("#"), names[n])
            )
            bx, by = series[top[0]["run_id"]]
            ax.scatter(
                [bx[-1]],
                [by[-1]],
                s=220,
                marker="*",
                color=PALETTE[0],
                edgecolors="black",
                zorder=20,
            )
            ax.set_title(f"{subtest_label(sub, len(subs))} ({len(mine)} runs)")
            ax.set_xlabel("step")
            if k % ncols == 0:
                ax.set_ylabel(f"{name} ({_better_word(metric)})")
            if log_y:
                ax.set_yscale("log")
            if y_limits:
                ax.set_ylim(*y_limits)
            _style_axes(ax)
            ax.legend(
                [handles[n] for n in order],
                [names[n] for n in order],
                loc="upper center",
                bbox_to_anchor=(0.5, -0.14),
                fontsize=style.font_size - 2,
                frameon=False,
            )
        for k in range(len(subs), nrows * ncols):
            axes[k // ncols][k % ncols].set_visible(False)
        fig.suptitle(
            f"Learning curves: {name} per step (best {HIGHLIGHT_CURVES} of each subtest coloured)",
            fontsize=style.font_size + 2,
        )
        return _save(fig, path, style)


def make_plots(
    rows: list[dict[str, Any]],
    metric: dict[str, Any] | None,
    out_dir: Path,
    style: PlotStyle | None = None,
) -> list[tuple[str, Path]]:
    """Every plot of the report as (caption, PNG path), written into ``out_dir``."""
    if not metric or not rows:
        return []
    plots: list[tuple[str, Path]] = []
    for param in varied_params(rows):
        png = plot_metric_vs_param(
            rows, metric, param, out_dir / f"metric_vs_{_slug(param)}.png", style
        )
        if png:
            plots.append((f"{metric['name']} against {param}", png))
    curves = plot_learning_curves(rows, metric, out_dir / "curves.png", style)
    if curves:
        plots.append((f"learning curves of {metric['name']}", curves))
    return plots


# ---------------------------------------------------------------------- HTML
_CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, sans-serif; margin: 2em auto;
       max-width: 1100px; color: #222; line-height: 1.4; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
.meta { color: #555; margin-top: 0; }
figure { margin: 1.5em 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { color: #555; font-size: 0.9em; }
.table-box { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: 0.85em; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid #e4e4e4; padding: 3px 8px; text-align: left; }
th { background: #f4f4f4; position: sticky; top: 0; }
tr.best td { background: #fff7cc; font-weight: 600; }
code { background: #f4f4f4; padding: 0 3px; }
"""


def _html_table(rows: list[dict[str, Any]], metric: dict[str, Any] | None) -> str:
    if not rows:
        return "<p>no runs yet</p>"
    header, body = table_cells(rows[:MAX_HTML_ROWS], metric)
    out = ['<div class="table-box"><table class="results">', "<thead><tr>"]
    out += [f"<th>{html.escape(h)}</th>" for h in header]
    out.append("</tr></thead><tbody>")
    for row, cells in zip(rows, body, strict=False):
        cls = ' class="best"' if row.get("best") else ""
        out.append(f"<tr{cls}>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    out.append("</tbody></table></div>")
    if len(rows) > MAX_HTML_ROWS:
        out.append(
            f"<p>the first {MAX_HTML_ROWS} of {len(rows)} runs; all of them are in "
            '<a href="results.csv">results.csv</a></p>'
        )
    return "\n".join(out)


def _best_list(rows: list[dict[str, Any]], metric: dict[str, Any] | None) -> str:
    best = best_rows(rows)
    if not metric or not best:
        return ""
    params = varied_params(rows)
    items = [
        f"<li><b>{html.escape(subtest_label(r.get('subtest', '')))}</b>: run "
        f"<code>{html.escape(r['run_id'])}</code> ({html.escape(r['sweep'])}) "
        f"{html.escape(str(metric['name']))} = <b>{r['metric']:.4g}</b> with "
        f"{html.escape(_short_params(r, params))}</li>"
        for r in best
    ]
    return f"<h2>Best runs ({html.escape(_better_word(metric))})</h2><ul>{''.join(items)}</ul>"


def render_html(
    rows: list[dict[str, Any]],
    metric: dict[str, Any] | None,
    plots: list[tuple[str, Path]],
    *,
    title: str,
    meta_lines: Sequence[str] = (),
) -> str:
    """The report page; the PNGs are embedded, so the file stands alone."""
    states: dict[str, int] = {}
    for r in rows:
        states[r["state"]] = states.get(r["state"], 0) + 1
    counts = ", ".join(f"{n} {s}" for s, n in sorted(states.items())) or "no runs"
    figures = []
    for caption, png in plots:
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        figures.append(
            f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">'
            f'<figcaption>{html.escape(caption)} (<a href="{html.escape(png.name)}">'
            f"{html.escape(png.name)}</a>)</figcaption></figure>"
        )
    meta = "<br>".join(html.escape(line) for line in meta_lines)
    no_plots = metric_note(rows, metric) or "no run has a metric value yet"
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
            f"<h1>{html.escape(title)}</h1>",
            f'<p class="meta">{meta}<br>{len(rows)} runs: {html.escape(counts)}. '
            f"Generated {time.strftime('%Y-%m-%d %H:%M:%S %z')}.</p>",
            _best_list(rows, metric),
            "<h2>Plots</h2>" if figures else f"<p>no plots: {html.escape(no_plots)}</p>",
            *figures,
            "<h2>All runs</h2><p>best first; the best run of each subtest highlighted "
            '(<a href="results.csv">results.csv</a>)</p>',
            _html_table(rows, metric),
            "</body></html>",
        ]
    )


def write_report(
    rows: list[dict[str, Any]],
    metric: dict[str, Any] | None,
    out_dir: Path,
    *,
    title: str = "sweepops report",
    meta_lines: Sequence[str] = (),
    style: PlotStyle | None = None,
) -> Path:
    """Write the plots, ``results.csv`` and ``index.html`` into ``out_dir``; return the page."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = make_plots(rows, metric, out_dir, style)
    write_csv(rows, out_dir / "results.csv", metric)
    page = out_dir / "index.html"
    page.write_text(
        render_html(rows, metric, plots, title=title, meta_lines=meta_lines), encoding="utf-8"
    )
    return page
