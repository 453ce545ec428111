"""``sweepops diff A B``: what differs between two deploys, two runs or two experiments.

A and B are each a deploy id, a run id or an experiment name (its latest deploy). Each
section compares one thing, from what the ledger, the stored dirty diffs and the run records
say (nothing is guessed):

* ``id``: the two deploy ids (or run ids, when both are runs).
* ``code``: the files changed between the two snapshots, with the diff. A snapshot is the
  deploy's commit plus, for an ``allow_dirty`` deploy, its stored diff
  (``.sweepops/deploys/ID/dirty.diff``, applied to a temporary index): ``git diff TREE_A
  TREE_B`` through :func:`sweepops.artifacts.git.run_git`.
* ``experiment file``: its sha256 and, when they differ, the diff of its two versions.
* ``parameters``: per sweep (matched by name) the sweep config, flattened to dotted keys;
  for two runs, the run's own parameters (what it ran with) and the config keys that shape a
  run (the program, command, metric).
* ``program``: the sweep's run environment and program facts (``run_env``, program file, ...).
* ``env``: per cluster the env prefix, its fingerprint (``env_digest``) and the hash of its
  package list at deploy time (the ledger's ``env`` events, written by ``sweepops provision``;
  the list itself lives on the cluster at ``LAB/envs/NAME.lock`` and only as it is now).
* ``container``: per cluster the image and its digest.
* ``sbatch``: the rendered job scripts (``LAB/deploys/ID/SWEEP.sbatch``). They are on the
  cluster only: fetched over ssh (the inventory's access, :mod:`sweepops.ops.ssh_access`)
  into ``.sweepops/cache/HOST/deploys/ID/`` and then read from there; with ``--offline``
  only that copy is read and a script never fetched is said to be unavailable offline.
* ``cluster``: the clusters and what the deploy recorded of each (login, lab root, shard,
  inventories, ...).
* ``metric``: for deploys, the best run of each subtest; for runs, the final and the best
  value of the metric.

Ids are not differences: before comparing, each side's deploy id, sweep ids and run id are
replaced by placeholders, so a reproduction compares equal to its original but for the ids.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweepops.artifacts.git import run_git
from sweepops.core import paths
from sweepops.core.errors import SweepopsError
from sweepops.core.records import Deploy
from sweepops.records import ledger

#: Sweep meta keys that are ids or bookkeeping, not what a run does.
_META_IDS = ("id", "name", "tags", "config", "deploy_id", "experiment", "reproduces", "created")
#: Config keys that do not change what one run does (how the sweep picks its runs).
_RUN_NEUTRAL = ("parameters", "method", "run_cap", "early_terminate", "name", "description")
#: Submission keys compared by their own sections (or per deploy by nature).
_SUB_OWN = (
    "jobs",
    "deploy_id",
    "deploy_dir",
    "time",
    "env_prefix",
    "env_path",
    "env_digest",
    "container_image",
    "container_digest",
    "snapshot_dir",
    "rebuilt",  # reproduce rebuilt the snapshot: the code section compares the code
)


@dataclass
class Side:
    """One side of a diff: a deploy, and the run when the side is a run."""

    ref: str
    deploy: dict[str, Any]
    run: dict[str, Any] | None = None
    sweep: dict[str, Any] | None = None
    cluster: str | None = None
    label: str = ""

    @property
    def deploy_id(self) -> str:
        return str(self.deploy["deploy_id"])

    def sweeps(self) -> list[dict[str, Any]]:
        return [self.sweep] if self.sweep is not None else list(self.deploy["sweeps"])

    def ids(self) -> dict[str, str]:
        """The ids of this side and their placeholders."""
        out = {self.deploy_id: "<deploy>"}
        origin = self.deploy.get("reproduces") or {}
        if origin.get("deploy_id"):  # a reproduction runs as its original (run_env, ...)
            out[str(origin["deploy_id"])] = "<deploy>"
        for sweep in self.deploy["sweeps"]:
            out[str(sweep["id"])] = "<sweep>"
        if self.run is not None:
            out[str(self.run["id"])] = "<run>"
        return out


@dataclass
class Section:
    name: str
    same: bool
    lines: list[str] = field(default_factory=list)  # what differs, one line each
    detail: str = ""  # e.g. the code diff
    a: Any = None
    b: Any = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "same": self.same,
            "lines": self.lines,
            "detail": self.detail,
            "a": self.a,
            "b": self.b,
        }


# ---------------------------------------------------------------------- the sides
def resolve(root: Path, ref: str) -> Side:
    """A deploy id, else a run id (local sweeps, then fetched cluster runs), else an
    experiment name (its latest deploy)."""
    from sweepops.ops.reproduce import find_run
    from sweepops.ops.which_deploy import deploy_for

    deploy = ledger.find_deploy(root, ref)
    if deploy is not None:
        return Side(ref, deploy, label=f"deploy {ref}")
    try:
        found = find_run(root, ref)
    except SweepopsError:
        pass
    else:
        return Side(
            ref,
            found.deploy,
            run=found.record,
            sweep=found.sweep,
            cluster=found.cluster,
            label=f"run {ref} (deploy {found.deploy['deploy_id']}, {found.cluster})",
        )
    try:
        deploy = deploy_for(root, ref, None)
    except SweepopsError as exc:
        raise SweepopsError(
            f"{ref} is no deploy id, run id or deployed experiment ({exc})",
            hint="deploy ids: `sweepops status`; run ids: `sweepops results EXP`",
        ) from None
    return Side(ref, deploy, label=f"experiment {ref} (its latest deploy {deploy['deploy_id']})")


def _origin(root: Path, deploy: dict[str, Any]) -> dict[str, Any]:
    """The deploy whose experiment file a deploy ran: a reproduction's is its original's."""
    rep = deploy.get("reproduces") or {}
    if rep.get("deploy_id") and not deploy.get("experiment_path"):
        return ledger.find_deploy(root, str(rep["deploy_id"])) or deploy
    return deploy


def _normal(value: Any, ids: dict[str, str]) -> Any:
    """``value`` with every id of its side replaced by a placeholder."""
    if isinstance(value, str):
        for real, token in ids.items():
            if real:
                value = value.replace(real, token)
        return value
    if isinstance(value, dict):
        return {_normal(k, ids): _normal(v, ids) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normal(v, ids) for v in value]
    return value


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as ``{dotted.key: leaf}`` (lists are leaves)."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}{key}."))
        return out
    return {prefix[:-1] if prefix else "": value}


def _show(value: Any) -> str:
    return "(none)" if value is None else json.dumps(value, sort_keys=True, default=str)


def compare_dicts(a: dict[str, Any], b: dict[str, Any], where: str = "") -> list[str]:
    """One line per key that differs: changed, only in A, only in B."""
    lines = []
    for key in sorted(set(a) | set(b)):
        name = f"{where}{key}"
        if key not in b:
            lines.append(f"{name}: only in A ({_show(a[key])})")
        elif key not in a:
            lines.append(f"{name}: only in B ({_show(b[key])})")
        elif a[key] != b[key]:
            lines.append(f"{name}: {_show(a[key])} -> {_show(b[key])}")
    return lines


def _section(name: str, a: Any, b: Any, where: str = "") -> Section:
    fa, fb = flatten(a), flatten(b)
    lines = compare_dicts(fa, fb, where)
    return Section(name, not lines, lines, a=a, b=b)


# ---------------------------------------------------------------------- code
def snapshot_tree(root: Path, deploy: dict[str, Any]) -> tuple[str | None, str]:
    """(the git tree of the deploy's code, how it was found). The commit's tree, with the
    stored diff of an ``allow_dirty`` deploy applied on a temporary index."""
    commit = deploy.get("commit")
    if not commit:
        return None, "no commit recorded (not a git repository)"
    proc = run_git(root, "rev-parse", "--verify", "-q", f"{commit}^{{tree}}", check=False)
    if proc.returncode != 0:
        return None, f"commit {commit[:12]} is not in this repository"
    tree = proc.stdout.decode().strip()
    dirty = ledger.code_files(deploy.get("dirty_files") or [])
    if not dirty:
        return tree, f"commit {commit[:12]}"
    diff_path = paths.dirty_diff(root, str(deploy.get("diff_of") or deploy["deploy_id"]))
    if not diff_path.is_file():
        return tree, f"commit {commit[:12]} (its uncommitted changes were not stored)"
    with tempfile.TemporaryDirectory(prefix="sweepops-diff-") as tmp:
        index = Path(tmp) / "index"
        run_git(root, "read-tree", tree, index=index)
        applied = run_git(
            root, "apply", "--cached", "--binary", str(diff_path), index=index, check=False
        )
        if applied.returncode != 0:
            why = applied.stderr.decode(errors="replace").strip()[:200]
            return tree, f"commit {commit[:12]} (its stored diff does not apply: {why})"
        tree = run_git(root, "write-tree", index=index).stdout.decode().strip()
    return tree, f"commit {commit[:12]} + the stored diff of {len(dirty)} file(s)"


def _excludes() -> list[str]:
    return [".", *(f":(exclude){p}" for p in paths.NOT_CODE)]


def code_section(root: Path, a: Side, b: Side) -> Section:
    tree_a, how_a = snapshot_tree(root, a.deploy)
    tree_b, how_b = snapshot_tree(root, b.deploy)
    facts = {"a": {"tree": tree_a, "from": how_a}, "b": {"tree": tree_b, "from": how_b}}
    if tree_a is None or tree_b is None:
        same = tree_a == tree_b and a.deploy.get("commit") == b.deploy.get("commit")
        lines = [] if same else [f"cannot compare the code: A {how_a}; B {how_b}"]
        return Section("code", same, lines, a=facts["a"], b=facts["b"])
    if tree_a == tree_b:
        return Section("code", True, a=facts["a"], b=facts["b"])
    names = run_git(root, "diff", "--name-status", tree_a, tree_b, "--", *_excludes())
    lines = [
        " ".join(line.split("\t"))
        for line in names.stdout.decode(errors="replace").splitlines()
        if line.strip()
    ]
    patch = run_git(root, "diff", tree_a, tree_b, "--", *_excludes())
    detail = patch.stdout.decode(errors="replace")
    return Section("code", not lines, lines, detail=detail, a=facts["a"], b=facts["b"])


def _file_at(root: Path, tree: str | None, rel: str) -> str | None:
    if tree is None or not rel:
        return None
    proc = run_git(root, "cat-file", "-p", f"{tree}:{rel}", check=False)
    return proc.stdout.decode(errors="replace") if proc.returncode == 0 else None


def _rel(root: Path, path: str) -> str:
    try:
        return os.path.relpath(path, root) if path else ""
    except ValueError:
        return path


def experiment_section(root: Path, a: Side, b: Side) -> Section:
    da, db = _origin(root, a.deploy), _origin(root, b.deploy)
    fa = {"path": _rel(root, str(da.get("experiment_path") or "")), "sha256": None}
    fb = {"path": _rel(root, str(db.get("experiment_path") or "")), "sha256": None}
    fa["sha256"] = da.get("experiment_sha256")
    fb["sha256"] = db.get("experiment_sha256")
    lines = compare_dicts(fa, fb)
    detail = ""
    if lines:
        text_a = _file_at(root, snapshot_tree(root, da)[0], str(fa["path"]))
        text_b = _file_at(root, snapshot_tree(root, db)[0], str(fb["path"]))
        if text_a is not None and text_b is not None:
            detail = "".join(
                difflib.unified_diff(
                    text_a.splitlines(keepends=True),
                    text_b.splitlines(keepends=True),
                    f"a/{fa['path']}",
                    f"b/{fb['path']}",
                )
            )
    return Section("experiment file", not lines, lines, detail=detail, a=fa, b=fb)


# ---------------------------------------------------------------------- sweeps
def _by_name(side: Side) -> dict[str, dict[str, Any]]:
    if side.sweep is not None:  # a run: its sweep, whatever its name
        return {"run": side.sweep}
    return {str(s["name"]): s for s in side.sweeps()}


def parameters_section(a: Side, b: Side) -> Section:
    from sweepops.results.rows import _flat_params

    if a.run is not None and b.run is not None:
        pa = {"params": _flat_params(a.run.get("params") or {})}
        pb = {"params": _flat_params(b.run.get("params") or {})}
        for side, into in ((a, pa), (b, pb)):
            config = dict(((side.sweep or {}).get("meta") or {}).get("config") or {})
            into["config"] = {k: v for k, v in config.items() if k not in _RUN_NEUTRAL}
        return _section("parameters", _normal(pa, a.ids()), _normal(pb, b.ids()))
    ca = {n: (s.get("meta") or {}).get("config") or {} for n, s in _by_name(a).items()}
    cb = {n: (s.get("meta") or {}).get("config") or {} for n, s in _by_name(b).items()}
    return _section("parameters", _normal(ca, a.ids()), _normal(cb, b.ids()))


def program_section(a: Side, b: Side) -> Section:
    def facts(side: Side) -> dict[str, Any]:
        return {
            name: {k: v for k, v in (s.get("meta") or {}).items() if k not in _META_IDS}
            for name, s in _by_name(side).items()
        }

    return _section("program", _normal(facts(a), a.ids()), _normal(facts(b), b.ids()))


# ---------------------------------------------------------------------- clusters
def _hosts(root: Path, side: Side) -> dict[str, dict[str, Any]]:
    subs = ledger.submissions(root, side.deploy_id)
    if side.cluster and side.cluster != "local":
        return {h: i for h, i in subs.items() if h == side.cluster}
    return subs


def env_section(root: Path, a: Side, b: Side) -> Section:
    from sweepops.ops.reproduce import env_hashes

    def facts(side: Side) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for host, info in sorted(_hosts(root, side).items()):
            prefix = str(info.get("env_prefix") or "")
            at_deploy, _now = env_hashes(root, side.deploy_id, host, prefix)
            out[host] = {
                "env_prefix": info.get("env_prefix"),
                "env_path": info.get("env_path"),
                "env_digest": info.get("env_digest"),
                "package_list_sha256": at_deploy,
            }
        return out

    return _section("env", facts(a), facts(b))


def container_section(root: Path, a: Side, b: Side) -> Section:
    def facts(side: Side) -> dict[str, Any]:
        return {
            host: {k: info.get(k) for k in ("container_image", "container_digest")}
            for host, info in sorted(_hosts(root, side).items())
        }

    return _section("container", facts(a), facts(b))


def cluster_section(root: Path, a: Side, b: Side) -> Section:
    def facts(side: Side) -> dict[str, Any]:
        clusters = (
            [side.cluster] if side.cluster else sorted(side.deploy.get("clusters") or ["local"])
        )
        settings = {
            host: {k: v for k, v in info.items() if k not in _SUB_OWN}
            for host, info in sorted(_hosts(root, side).items())
        }
        backend = Deploy.of(side.deploy).backend  # none recorded: offline (as status reads it)
        return {"clusters": clusters, "backend": backend, "hosts": settings}

    return _section("cluster", _normal(facts(a), a.ids()), _normal(facts(b), b.ids()))


def sbatch_cache(root: Path, host: str, deploy_id: str) -> Path:
    """The workstation's copies of a deploy's rendered job scripts on ``host``."""
    return paths.cache_dir(root) / host / "deploys" / deploy_id


def fetch_sbatch(
    root: Path, host: str, info: dict[str, Any], deploy_id: str, inventory: list[str]
) -> str | None:
    """Copy ``LAB/deploys/ID/*.sbatch`` of ``host`` into the cache over one ssh call; the
    error in words, None when it worked."""
    import shlex
    import subprocess

    from sweepops.ops.ssh_access import ssh_for

    where = info.get("deploy_dir") or paths.lab_deploy(info["lab_root"], deploy_id)
    # one JSON object {name: text} of every script, from a python the login host has
    script = (
        "import glob,json,os,sys;d=sys.argv[1];print(json.dumps({os.path.basename(p):"
        "open(p).read() for p in glob.glob(os.path.join(d,'*.sbatch'))}))"
    )
    try:
        argv = ssh_for(root, host, info, inventory)
        proc = subprocess.run(
            [*argv, f"python3 -c {shlex.quote(script)} {shlex.quote(str(where))}"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (SweepopsError, OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if proc.returncode != 0:
        return proc.stderr.strip()[-300:] or f"ssh exited {proc.returncode}"
    scripts = json.loads(proc.stdout or "{}")
    dest = sbatch_cache(root, host, deploy_id)
    dest.mkdir(parents=True, exist_ok=True)
    for name, text in scripts.items():
        (dest / name).write_text(text)
    return None if scripts else f"no job script in {where}"


def _script(text: str, side: Side, name: str) -> str:
    """A job script with its side's ids and sweep name replaced by placeholders; for a run,
    without the job array's size (how many agents its sweep had, not how the run ran)."""
    text = _normal(text, side.ids())
    text = text.replace(f"--job-name={name}\n", "--job-name=<name>\n").replace(
        f" ({name})", " (<name>)"
    )
    if side.run is None:
        return text
    return "".join(
        line for line in text.splitlines(keepends=True) if not line.startswith("#SBATCH --array=")
    )


def sbatch_section(root: Path, a: Side, b: Side, *, offline: bool, inventory: list[str]) -> Section:
    notes: list[str] = []

    def scripts(side: Side) -> dict[str, str]:
        out: dict[str, str] = {}
        for host, info in sorted(_hosts(root, side).items()):
            cache = sbatch_cache(root, host, side.deploy_id)
            wanted = [s["id"] for s in side.sweeps()]
            have = all((cache / f"{sid}.sbatch").is_file() for sid in wanted)
            if not have and not offline:
                error = fetch_sbatch(root, host, info, side.deploy_id, inventory)
                if error:
                    notes.append(f"{side.deploy_id} on {host}: not fetched ({error})")
            elif not have:
                notes.append(f"{side.deploy_id} on {host}: not available offline (not fetched)")
            for sid in wanted:
                path = cache / f"{sid}.sbatch"
                if path.is_file():
                    name = str(next(s["name"] for s in side.sweeps() if s["id"] == sid))
                    key = f"{host} {'run' if side.sweep is not None else name}"
                    out[key] = _script(path.read_text(), side, name)
        return out

    sa, sb = scripts(a), scripts(b)
    lines = compare_dicts({k: "…" for k in sa}, {k: "…" for k in sb})
    detail = ""
    for key in sorted(set(sa) & set(sb)):
        if sa[key] != sb[key]:
            lines.append(f"{key}: the job script differs")
            detail += "".join(
                difflib.unified_diff(
                    sa[key].splitlines(keepends=True),
                    sb[key].splitlines(keepends=True),
                    f"a/{key}.sbatch",
                    f"b/{key}.sbatch",
                )
            )
    section = Section("sbatch", not lines, lines + notes, detail=detail, a=sa, b=sb)
    if not sa and not sb:
        section.same = True  # nothing to compare (local deploys, or not available)
    return section


# ---------------------------------------------------------------------- metric
def _number(x: Any) -> float | None:
    if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x):
        return float(x)
    return None


def run_metric(run: dict[str, Any], metric: dict[str, Any] | None) -> dict[str, Any]:
    """The final (summary) and best (history) value of the metric of one run record."""
    from sweepops.results.rows import lookup

    if not metric:
        return {"metric": None, "final": None, "best": None}
    name = str(metric["name"])
    values = [v for p in run.get("history") or [] if (v := _number(lookup(p, name))) is not None]
    final = _number(lookup(run.get("summary") or {}, name))
    pick = min if metric.get("goal", "minimize") == "minimize" else max
    return {
        "metric": name,
        "state": run.get("state"),
        "final": final,
        "best": pick(values) if values else final,
    }


def metric_section(root: Path, a: Side, b: Side) -> Section:
    from sweepops.results.gather import gather
    from sweepops.results.rows import best_rows

    def facts(side: Side) -> dict[str, Any]:
        if side.run is not None:
            metric = (((side.sweep or {}).get("meta") or {}).get("config") or {}).get("metric")
            return run_metric(side.run, metric)
        rows, metric, _ = gather(root, side.deploy, fetch_remote=False)
        states: dict[str, int] = {}
        for row in rows:
            states[row["state"]] = states.get(row["state"], 0) + 1
        best = {
            (r.get("subtest") or "all runs"): {"value": r.get("metric"), "params": r["params"]}
            for r in best_rows(rows)
        }
        return {"metric": (metric or {}).get("name"), "runs": states, "best": best}

    return _section("metric", facts(a), facts(b))


# ---------------------------------------------------------------------- the whole
def id_section(a: Side, b: Side) -> Section:
    if a.run is not None and b.run is not None:
        ia, ib = {"run id": a.run["id"]}, {"run id": b.run["id"]}
        name = "run id"
    else:
        ia, ib = {"deploy id": a.deploy_id}, {"deploy id": b.deploy_id}
        name = "deploy id"
    return _section(name, ia, ib)


def diff(
    root: Path, ref_a: str, ref_b: str, *, offline: bool = False, inventory: list[str] | None = None
) -> dict[str, Any]:
    """Every section of what differs between A and B (see the module's docstring)."""
    a, b = resolve(root, ref_a), resolve(root, ref_b)
    sections = [
        id_section(a, b),
        code_section(root, a, b),
        experiment_section(root, a, b),
        parameters_section(a, b),
        program_section(a, b),
        env_section(root, a, b),
        container_section(root, a, b),
        sbatch_section(root, a, b, offline=offline, inventory=inventory or []),
        cluster_section(root, a, b),
        metric_section(root, a, b),
    ]
    return {
        "a": {"ref": ref_a, "what": a.label, "deploy_id": a.deploy_id},
        "b": {"ref": ref_b, "what": b.label, "deploy_id": b.deploy_id},
        "differs": [s.name for s in sections if not s.same],
        "sections": {s.name: s.as_dict() for s in sections},
    }


def format_diff(result: dict[str, Any], *, patch: bool = True) -> str:
    """The diff for people: what A and B are, then each section that differs."""
    out = [f"A: {result['a']['what']}", f"B: {result['b']['what']}"]
    if not result["differs"]:
        out.append("nothing differs")
    for name, section in result["sections"].items():
        if section["same"]:
            if section["lines"]:  # notes (e.g. a script not available offline)
                out += [f"== {name}: same", *(f"  {line}" for line in section["lines"])]
            continue
        out.append(f"== {name}: differs")
        out += [f"  {line}" for line in section["lines"]]
        if patch and section["detail"]:
            out.append(section["detail"].rstrip("\n"))
    same = [n for n, s in result["sections"].items() if s["same"]]
    if same:
        out.append("same: " + ", ".join(same))
    return "\n".join(out)


def previous_deploy(root: Path, deploy: dict[str, Any]) -> dict[str, Any] | None:
    """The deploy of the same experiment file just before ``deploy`` (None for the first)."""
    key = deploy.get("experiment_path")
    before = None
    for rec in ledger.deploy_lines(root):
        if rec.get("deploy_id") == deploy.get("deploy_id"):
            return before
        if key and rec.get("experiment_path") == key:
            before = rec
    return before
