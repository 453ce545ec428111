"""The experiment journal: ``journal/<experiment>.md`` in the repository, versioned with the code.

One entry per deploy, newest last. An entry is plain Markdown for people, framed by HTML
comments that render as nothing and that sweepops finds again::

    <!-- sweepops:deploy 20261129-081535-29af73 -->
    ## 2026-11-29 08:15 · deploy 20261129-081535-29af73
    - commit ... / experiment file ... / sweeps ... / clusters and jobs ...
    <!-- /sweepops:deploy 20261129-081535-29af73 -->

    <!-- sweepops:outcome 20261129-081535-29af73 -->
    ### Outcome ...  (replaced, never duplicated, by `results` / `report`)
    <!-- /sweepops:outcome 20261129-081535-29af73 -->

    <!-- sweepops:note 20261129-081535-29af73 2026-11-29T09:02:11+0000 -->
    **Note, 2026-11-29 09:02:** lr above 0.3 diverges; try warm-up next.

An entry runs from its deploy marker to the next deploy marker (or the end of the file), so
text people add by hand under an entry stays with it. The facts block (between the deploy
markers) and the outcome block are rewritten by sweepops; everything else is left alone.

The ``*_text`` functions are pure (text in, text out); the others read and write the file
under a lock in ``.sweepops/``.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sweepops.core import paths
from sweepops.core.errors import SweepopsError

JOURNAL_DIR = paths.JOURNAL_DIR

_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def journal_path(root: Path, experiment: str) -> Path:
    return root / JOURNAL_DIR / f"{_SAFE.sub('_', experiment)}.md"


def deploy_diff_path(root: Path, deploy_id: str) -> Path:
    """Where the deploy playbook stores the diff of a dirty working tree."""
    return paths.dirty_diff(root, deploy_id)


# ---------------------------------------------------------------------- markers
def _begin(kind: str, deploy_id: str) -> str:
    return f"<!-- sweepops:{kind} {deploy_id} -->"


def _end(kind: str, deploy_id: str) -> str:
    return f"<!-- /sweepops:{kind} {deploy_id} -->"


_DEPLOY_RE = re.compile(r"^<!-- sweepops:deploy (\S+) -->$", re.M)


def deploy_ids(text: str) -> list[str]:
    """The deploy ids of the entries, in file order."""
    return _DEPLOY_RE.findall(text)


def _entry_span(text: str, deploy_id: str) -> tuple[int, int] | None:
    """(start, end) of a deploy's entry: its marker up to the next entry or the end."""
    start = text.find(_begin("deploy", deploy_id) + "\n")
    if start < 0:
        return None
    nxt = _DEPLOY_RE.search(text, start + 1)
    return start, (nxt.start() if nxt else len(text))


def _block_span(text: str, kind: str, deploy_id: str, lo: int, hi: int) -> tuple[int, int] | None:
    """(start, end) of a marked block inside text[lo:hi], end just past the end marker."""
    start = text.find(_begin(kind, deploy_id), lo, hi)
    if start < 0:
        return None
    end_marker = _end(kind, deploy_id)
    end = text.find(end_marker, start, hi)
    if end < 0:
        raise SweepopsError(
            f"the journal's {kind} block of deploy {deploy_id} has no end marker",
            hint=f"restore the line `{end_marker}` after the block, or delete the block",
        )
    return start, end + len(end_marker)


def _with_gap(chunk: str) -> str:
    """A block to append: separated from what precedes by one blank line."""
    return chunk.rstrip("\n") + "\n\n"


def _append_to_entry(text: str, deploy_id: str, block: str) -> str:
    span = _entry_span(text, deploy_id)
    assert span is not None
    _start, end = span
    head = text[:end].rstrip("\n") + "\n\n"
    return head + _with_gap(block) + text[end:]


# ---------------------------------------------------------------------- rendering
def _when(epoch: float | None, fmt: str = "%Y-%m-%d %H:%M %z") -> str:
    return time.strftime(fmt, time.localtime(epoch if epoch is not None else time.time()))


def _rel(root: Path, path: str | Path) -> str:
    p = Path(path)
    try:
        return str(p.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(p)


def render_deploy(
    deploy: dict[str, Any],
    *,
    root: Path,
    clusters: dict[str, dict[str, Any]] | None = None,
) -> str:
    """The facts block of a deploy record (a ledger deploy record), with its markers.

    ``clusters`` is what was submitted per cluster host (``ledger.submissions``): host →
    {jobs: {sweep_id: job_id}, lab_root, ...}."""
    dep_id = str(deploy["deploy_id"])
    lines = [_begin("deploy", dep_id), f"## {_when(deploy.get('time'))} · deploy `{dep_id}`", ""]
    commit = deploy.get("commit")
    dirty = list(deploy.get("dirty_files") or [])
    if commit:
        lines.append(f"- **commit** `{commit}`" + (" (clean)" if not dirty else ""))
    else:
        lines.append("- **commit**: none (not a git repository)")
    if dirty:
        diff = deploy_diff_path(root, dep_id)
        where = (
            f"diff in `{_rel(root, diff)}`"
            if diff.exists()
            else "diff not stored (`git diff HEAD` at deploy time)"
        )
        shown = ", ".join(f"`{f}`" for f in dirty[:10]) + (" …" if len(dirty) > 10 else "")
        lines.append(f"- **uncommitted changes** in {len(dirty)} file(s), {where}: {shown}")
    exp_path = deploy.get("experiment_path")
    if exp_path:
        lines.append(
            f"- **experiment** `{_rel(root, exp_path)}`, sha256 "
            f"`{deploy.get('experiment_sha256') or '?'}`"
        )
    lines.append(f"- **sweeps** ({len(deploy.get('sweeps', []))}):")
    jobs_by_sweep: dict[str, list[str]] = {}
    for host, info in sorted((clusters or {}).items()):
        for sweep_id, job in (info.get("jobs") or {}).items():
            jobs_by_sweep.setdefault(str(sweep_id), []).append(f"{host} job {job}")
    for sweep in deploy.get("sweeps", []):
        tags = ", ".join(sweep.get("tags") or []) or "no tags"
        parts = [f"`{sweep['name']}` id `{sweep['id']}`", f"tags: {tags}"]
        if sweep.get("runs") is not None:
            parts.append(f"{sweep['runs']} runs")
        if sweep.get("agents") is not None:
            parts.append(f"{sweep['agents']} agents")
        if sweep.get("url"):
            parts.append(str(sweep["url"]))
        elif sweep.get("dir"):
            parts.append(f"dir `{_rel(root, sweep['dir'])}`")
        parts += jobs_by_sweep.get(str(sweep["id"]), [])
        lines.append("  - " + "; ".join(parts))
    lines += previous_lines(root, deploy)
    targets = ", ".join(str(c) for c in deploy.get("clusters") or []) or "not recorded"
    lines.append(f"- **clusters** {targets}")
    for host, info in sorted((clusters or {}).items()):
        job_ids = sorted({str(j) for j in (info.get("jobs") or {}).values()})
        lab = f", lab `{info['lab_root']}`" if info.get("lab_root") else ""
        snap = f", code `{info['snapshot_dir']}`" if info.get("snapshot_dir") else ""
        lines.append(f"  - submitted on `{host}`: job(s) {', '.join(job_ids) or 'none'}{lab}{snap}")
    lines.append(_end("deploy", dep_id))
    return "\n".join(lines) + "\n"


def previous_lines(root: Path, deploy: dict[str, Any]) -> list[str]:
    """The entry's link to the previous deploy of the same experiment file: the command that
    shows what differs, and what the records alone say differs (code, experiment file)."""
    from sweepops.ops.diff import previous_deploy

    prev = previous_deploy(root, deploy)
    if prev is None:
        return []
    differs = []
    if prev.get("commit") != deploy.get("commit") or list(prev.get("dirty_files") or []) != list(
        deploy.get("dirty_files") or []
    ):
        differs.append("code")
    if prev.get("experiment_sha256") != deploy.get("experiment_sha256"):
        differs.append("experiment file")
    if sorted(prev.get("clusters") or []) != sorted(deploy.get("clusters") or []):
        differs.append("clusters")
    said = ", ".join(differs) if differs else "same code, experiment file and clusters"
    return [
        f"- **previous deploy** `{prev['deploy_id']}` ({said}): "
        f"`sweepops diff {prev['deploy_id']} {deploy['deploy_id']}`"
    ]


def _fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def render_outcome(
    deploy_id: str,
    rows: list[dict[str, Any]],
    metric: dict[str, Any] | None,
    *,
    report: str | None = None,
) -> str:
    """The outcome block: run counts, the best run of each subtest with its parameters and
    metric, and a link to the report. Deterministic: the same results give the same text."""
    from sweepops.results.rows import best_rows, varied_params

    states: dict[str, int] = {}
    for r in rows:
        states[r["state"]] = states.get(r["state"], 0) + 1
    counts = ", ".join(f"{n} {s}" for s, n in sorted(states.items())) or "no runs yet"
    lines = [_begin("outcome", deploy_id), "### Outcome", "", f"{len(rows)} runs: {counts}."]
    best = best_rows(rows)
    if metric and best:
        goal = "lowest" if metric.get("goal", "minimize") == "minimize" else "highest"
        lines += ["", f"Best run of each subtest ({goal} `{metric['name']}`):", ""]
        varied = varied_params(rows)
        for r in best:
            params = ", ".join(
                f"{k}={_fmt_value(v)}"
                for k, v in sorted(r["params"].items(), key=lambda kv: kv[0] not in varied)
            )
            lines.append(
                f"- **{r.get('subtest') or 'all runs'}**: `{metric['name']}` = "
                f"**{_fmt_value(r['metric'])}**, run `{r['run_id']}` of `{r['sweep']}` ({params})"
            )
    elif metric:
        lines += ["", f"No run has a `{metric['name']}` value yet."]
    if report:
        lines += ["", f"Report: [{report}]({report})"]
    lines.append(_end("outcome", deploy_id))
    return "\n".join(lines) + "\n"


def render_note(deploy_id: str, text: str, when: float | None = None) -> str:
    stamp = _when(when, "%Y-%m-%dT%H:%M:%S%z")
    body = text.strip()
    if not body:
        raise SweepopsError("empty note", hint='sweepops note EXP "what you concluded"')
    return f"<!-- sweepops:note {deploy_id} {stamp} -->\n**Note, {_when(when)}:** {body}\n"


# ---------------------------------------------------------------------- pure edits
def header_text(experiment: str) -> str:
    return (
        f"# Journal of experiment `{experiment}`\n\n"
        "One entry per deploy, newest last. sweepops writes the facts and the outcome of each\n"
        "deploy; add your conclusions with `sweepops note` or by hand under an entry.\n\n"
    )


def put_deploy_text(text: str, deploy_block: str, deploy_id: str) -> str:
    """Add a deploy's entry at the end, or replace its facts block if it is there."""
    span = _entry_span(text, deploy_id)
    if span is None:
        head = text.rstrip("\n") + "\n\n" if text.strip() else ""
        return head + _with_gap(deploy_block)
    block = _block_span(text, "deploy", deploy_id, *span)
    assert block is not None
    return text[: block[0]] + deploy_block.rstrip("\n") + text[block[1] :]


def put_outcome_text(text: str, outcome_block: str, deploy_id: str) -> str:
    """Replace the deploy's outcome block, or add it at the end of the entry."""
    span = _entry_span(text, deploy_id)
    if span is None:
        raise SweepopsError(f"the journal has no entry for deploy {deploy_id}")
    block = _block_span(text, "outcome", deploy_id, *span)
    if block is None:
        return _append_to_entry(text, deploy_id, outcome_block)
    return text[: block[0]] + outcome_block.rstrip("\n") + text[block[1] :]


def add_note_text(text: str, note_block: str, deploy_id: str) -> str:
    """Append a note at the end of the deploy's entry."""
    if _entry_span(text, deploy_id) is None:
        raise SweepopsError(f"the journal has no entry for deploy {deploy_id}")
    return _append_to_entry(text, deploy_id, note_block)


# ---------------------------------------------------------------------- the file
@contextmanager
def _edit(root: Path, experiment: str) -> Iterator[list[str]]:
    """Read-modify-write the journal under a lock; yields [text] to be replaced in place."""
    path = journal_path(root, experiment)
    lock = paths.journal_lock(root)
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        old = path.read_text(encoding="utf-8") if path.exists() else ""
        box = [old or header_text(experiment)]
        yield box
        if box[0] != old:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(box[0], encoding="utf-8")
            os.replace(tmp, path)


def append_deploy(
    root: Path, deploy: dict[str, Any], clusters: dict[str, dict[str, Any]] | None = None
) -> Path:
    """Add (or refresh: idempotent) the journal entry of a deploy record; returns the path.

    ``clusters`` defaults to what the ledger knows was submitted for the deploy."""
    from sweepops.records import ledger

    if clusters is None:
        clusters = ledger.submissions(root, str(deploy["deploy_id"]))
    block = render_deploy(deploy, root=root, clusters=clusters)
    with _edit(root, str(deploy["experiment"])) as box:
        box[0] = put_deploy_text(box[0], block, str(deploy["deploy_id"]))
    return journal_path(root, str(deploy["experiment"]))


def add_note(root: Path, deploy: dict[str, Any], text: str, when: float | None = None) -> Path:
    """Append a timestamped note under the deploy's entry (made first if missing)."""
    note = render_note(str(deploy["deploy_id"]), text, when)
    append_deploy(root, deploy)
    with _edit(root, str(deploy["experiment"])) as box:
        box[0] = add_note_text(box[0], note, str(deploy["deploy_id"]))
    return journal_path(root, str(deploy["experiment"]))


def record_outcome(
    root: Path,
    deploy: dict[str, Any],
    rows: list[dict[str, Any]],
    metric: dict[str, Any] | None,
    *,
    report: Path | None = None,
) -> Path:
    """Write (or replace) the outcome of the deploy under its entry (made first if missing).
    ``report`` is linked relative to the journal file."""
    path = journal_path(root, str(deploy["experiment"]))
    link = os.path.relpath(report, path.parent) if report else None
    block = render_outcome(str(deploy["deploy_id"]), rows, metric, report=link)
    append_deploy(root, deploy)
    with _edit(root, str(deploy["experiment"])) as box:
        box[0] = put_outcome_text(box[0], block, str(deploy["deploy_id"]))
    return path
