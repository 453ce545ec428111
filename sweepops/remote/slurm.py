"""Slurm submission with a durable record of intent, and job state queries.

Standard library only: the same file ships to the login node as Ansible module_utils
(``module_utils/sweepops_remote`` links to this package).

Submission is made idempotent by two small files per sweep in ``record_dir``
(``LAB/deploys/DEPLOY_ID``)::

    SWEEP_ID.intent.json      written (atomically) *before* sbatch runs
    SWEEP_ID.submitted.json   written after sbatch answered: job id, time, script sha256

and by the job's comment ``sweepops:DEPLOY_ID:SWEEP_ID``. A submission that crashed between
sbatch and the record (ssh dropped, Ansible killed) leaves an intent without a record; the
next attempt first looks for a job carrying the comment (``squeue`` for live and recently
ended jobs, then ``sacct``) and adopts it instead of submitting twice. ``sacct`` only knows
comments when slurm.conf has ``AccountingStoreFlags=job_comment``; without it, jobs that
left ``squeue`` (``MinJobAge``) cannot be found and are submitted again.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

Runner = Callable[..., "subprocess.CompletedProcess[str]"]

#: Job states after which a job (or array task) never runs again.
FINAL_STATES = frozenset(
    {
        "COMPLETED",
        "FAILED",
        "CANCELLED",
        "TIMEOUT",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "BOOT_FAIL",
        "DEADLINE",
        "PREEMPTED",
        "REVOKED",
    }
)

_HINTS = (
    ("invalid partition", "check `partition` in the cluster's group_vars against `sinfo -s`"),
    (
        "node configuration is not available",
        "no node can satisfy the request: check `gres`, `cpus_per_task`, `mem` and "
        "`partition` against `sinfo -o '%P %c %m %G'`",
    ),
    ("invalid generic resource", "check `gres` (e.g. gpu:1) against `sinfo -o '%P %G'`"),
    ("invalid account", "set a valid account (`sacctmgr show assoc user=$USER`)"),
    ("invalid qos", "check the QOS (`sacctmgr show assoc user=$USER format=qos`)"),
    ("time limit", "lower `time` to the partition's limit (`sinfo -o '%P %l'`)"),
    ("memory", "lower `mem` to what the nodes have (`sinfo -o '%P %m'`)"),
)


class SlurmError(Exception):
    """A Slurm command failed. ``str()`` gives the message, sbatch's stderr and a hint.

    Same shape as :class:`sweepops.core.errors.SweepopsError` (message, where, hint), but kept
    standalone so this module stays importable without the sweepops package.
    """

    def __init__(
        self,
        message: str,
        *,
        where: str | None = None,
        hint: str | None = None,
        stderr: str = "",
    ):
        self.message = message
        self.where = where
        self.hint = hint
        self.stderr = stderr
        super().__init__(self.render())

    def render(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


def job_comment(deploy_id: str, sweep_id: str) -> str:
    """The comment that marks a sweep's job: ``sweepops:DEPLOY_ID:SWEEP_ID``."""
    return f"sweepops:{deploy_id}:{sweep_id}"


def hint_for(stderr: str) -> str:
    """A hint for an sbatch error message."""
    low = stderr.lower()
    for needle, hint in _HINTS:
        if needle in low:
            return hint
    return "see the sbatch message above; `sbatch --test-only SCRIPT` checks a script"


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_json_atomic(path: Path | str, data: dict[str, Any]) -> None:
    """Write ``data`` so that ``path`` appears whole or not at all (and survives a crash);
    a write that fails (a full disk) leaves no temporary file behind."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w") as fh:
            fh.write(json.dumps(data, indent=1, sort_keys=True))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    try:
        dfd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def write_script(script: Path, content: str, *, mode: int = 0o755) -> tuple[bool, str]:
    """Write a batch script (atomically, ``mode``) unless it already has ``content``.

    Returns ``(changed, before)``: ``before`` is the previous content ("" when there was none).
    """
    script = Path(script)
    try:
        before = script.read_text()
    except FileNotFoundError:
        before = ""
    else:
        if before == content:
            return False, before
    script.parent.mkdir(parents=True, exist_ok=True)
    tmp = script.with_name(f".{script.name}.{os.getpid()}.tmp")
    tmp.write_text(content)
    tmp.chmod(mode)
    os.replace(tmp, script)
    return True, before


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def intent_path(record_dir: Path, sweep_id: str) -> Path:
    return Path(record_dir) / f"{sweep_id}.intent.json"


def submitted_path(record_dir: Path, sweep_id: str) -> Path:
    return Path(record_dir) / f"{sweep_id}.submitted.json"


def read_submitted(record_dir: Path, sweep_id: str) -> dict[str, Any] | None:
    """The submission record of a sweep, or None if it was never (known to be) submitted."""
    return _read_json(submitted_path(record_dir, sweep_id))


def _run(run: Runner, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    try:
        return run(list(argv), capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise SlurmError(
            f"{argv[0]} not found: {exc}",
            hint="run on a Slurm login node (the Slurm client commands must be on PATH)",
        ) from None


def base_job_id(job_id: str) -> str:
    """``123_4`` / ``123_[1-4%2]`` / ``123.batch`` / ``123`` -> ``123``."""
    return job_id.split("_", 1)[0].split(".", 1)[0].split("+", 1)[0].strip()


# ---------------------------------------------------------------------- finding jobs
def find_job_by_comment(
    comment: str,
    *,
    since: float | None = None,
    run: Runner = subprocess.run,
) -> str | None:
    """The (array) job id of a job of this user carrying ``comment``, or None.

    Looks in ``squeue`` first (pending, running and recently ended jobs), then in ``sacct``
    from ``since`` (epoch seconds; default: the last 7 days).
    """
    proc = _run(run, ["squeue", "--me", "-h", "-t", "all", "-o", "%F|%k"])
    if proc.returncode == 0:
        for line in proc.stdout.splitlines():
            job, _, com = line.partition("|")
            if com.strip() == comment and job.strip():
                return base_job_id(job)
    start = time.strftime(
        "%Y-%m-%dT%H:%M:%S",
        time.localtime((since if since is not None else time.time() - 7 * 86400) - 3600),
    )
    proc = _run(run, ["sacct", "-X", "-n", "-P", "-S", start, "-o", "JobID,Comment"])
    if proc.returncode == 0:
        for line in proc.stdout.splitlines():
            job, _, com = line.partition("|")
            if com.strip() == comment and job.strip():
                return base_job_id(job)
    return None


# ---------------------------------------------------------------------- submission
def validate_script(script: Path, *, sbatch: str = "sbatch", run: Runner = subprocess.run) -> str:
    """Validate ``script`` with ``sbatch --test-only`` (partition, GRES, limits) without
    submitting. Returns sbatch's message; raises SlurmError when Slurm refuses it."""
    proc = _run(run, [sbatch, "--test-only", str(script)])
    if proc.returncode != 0:
        raise _sbatch_error(script, proc, "Slurm would refuse this job")
    return (proc.stderr or proc.stdout).strip()


#: What Slurm's clients say when the controller (slurmctld) does not answer.
_UNREACHABLE = (
    "unable to contact slurm controller",
    "socket timed out on send/recv",
    "zero bytes were transmitted or received",
    "connection refused",
    "slurm_persist_conn_open",
)


def controller_unreachable(message: str) -> bool:
    """Whether a Slurm client's error says the controller could not be reached (rather than
    that it refused the request)."""
    low = message.lower()
    return any(needle in low for needle in _UNREACHABLE)


def _sbatch_error(script: Path, proc: subprocess.CompletedProcess[str], what: str) -> SlurmError:
    err = (proc.stderr or proc.stdout or "").strip()
    if controller_unreachable(err):
        return SlurmError(
            f"the Slurm controller did not answer (exit {proc.returncode}): {err}; "
            "nothing was submitted",
            where=str(script),
            hint="slurmctld is down or unreachable from the login node (`scontrol ping` "
            "says which); deploy again with the same -e deploy_id=... once it answers",
            stderr=err,
        )
    return SlurmError(
        f"{what} (exit {proc.returncode}): {err or 'no message'}",
        where=str(script),
        hint=hint_for(err),
        stderr=err,
    )


def parse_sbatch_parsable(stdout: str) -> str:
    """``--parsable`` prints ``JOBID`` or ``JOBID;CLUSTER``."""
    line = stdout.strip().splitlines()[-1] if stdout.strip() else ""
    job_id = line.split(";", 1)[0].strip()
    if not job_id.isdigit():
        raise SlurmError(
            f"could not read a job id from sbatch's output: {stdout!r}",
            hint="is `sbatch` a wrapper printing more than --parsable asks for?",
        )
    return job_id


def submit_once(
    script: Path,
    record_dir: Path,
    deploy_id: str,
    sweep_id: str,
    *,
    sbatch: str = "sbatch",
    run: Runner = subprocess.run,
    validate: bool = False,
) -> tuple[str, bool]:
    """Submit ``script`` for one sweep at most once; returns ``(job_id, changed)``.

    - ``SWEEP_ID.submitted.json`` exists: its job id, nothing submitted.
    - an intent from an earlier attempt exists: a job carrying the sweep's comment is
      adopted (recorded as submitted, changed True: the record is new) if Slurm knows one.
    - otherwise the intent is written, then ``sbatch --parsable SCRIPT``; the submission is
      recorded with the job id, time and the script's sha256.

    sbatch errors raise SlurmError with its message and a hint; nothing is recorded as
    submitted (the intent stays, which is harmless: adoption finds no job and submits).
    ``validate`` runs ``sbatch --test-only`` first.
    """
    script = Path(script)
    record_dir = Path(record_dir)
    done = read_submitted(record_dir, sweep_id)
    if done is not None and done.get("job_id"):
        return str(done["job_id"]), False
    record_dir.mkdir(parents=True, exist_ok=True)
    # Two deploys of one id at once (two shells): the first holds the sweep's lock from its
    # look-up to its record; the second then finds that record and submits nothing.
    with locked(record_dir / f"{sweep_id}.lock"):
        return _submit_once_locked(
            script, record_dir, deploy_id, sweep_id, sbatch=sbatch, run=run, validate=validate
        )


@contextlib.contextmanager
def locked(path: Path | str) -> Iterator[None]:
    """An exclusive POSIX record lock on ``path`` (fcntl locks work over NFS too)."""
    with open(path, "a+") as fh:
        fcntl.lockf(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.lockf(fh, fcntl.LOCK_UN)


def _submit_once_locked(
    script: Path,
    record_dir: Path,
    deploy_id: str,
    sweep_id: str,
    *,
    sbatch: str,
    run: Runner,
    validate: bool,
) -> tuple[str, bool]:
    done = read_submitted(record_dir, sweep_id)
    if done is not None and done.get("job_id"):
        return str(done["job_id"]), False
    comment = job_comment(deploy_id, sweep_id)
    digest = sha256_of(script)
    intent = _read_json(intent_path(record_dir, sweep_id))
    if intent is not None:
        found = find_job_by_comment(comment, since=float(intent.get("time", 0)) or None, run=run)
        if found is not None:
            _record(record_dir, sweep_id, deploy_id, found, digest, script, adopted=True)
            return found, True
    if validate:
        validate_script(script, sbatch=sbatch, run=run)
    write_json_atomic(
        intent_path(record_dir, sweep_id),
        {
            "deploy_id": deploy_id,
            "sweep_id": sweep_id,
            "comment": comment,
            "script": str(script),
            "script_sha256": digest,
            "time": time.time(),
            "host": os.uname().nodename,
            # the submitting process: one per module call, i.e. per round trip
            "pid": os.getpid(),
        },
    )
    proc = _run(run, [sbatch, "--parsable", str(script)])
    if proc.returncode != 0:
        raise _sbatch_error(script, proc, "sbatch refused the job")
    job_id = parse_sbatch_parsable(proc.stdout)
    _record(record_dir, sweep_id, deploy_id, job_id, digest, script, adopted=False)
    return job_id, True


def _record(
    record_dir: Path,
    sweep_id: str,
    deploy_id: str,
    job_id: str,
    digest: str,
    script: Path,
    *,
    adopted: bool,
) -> None:
    write_json_atomic(
        submitted_path(record_dir, sweep_id),
        {
            "job_id": job_id,
            "deploy_id": deploy_id,
            "sweep_id": sweep_id,
            "comment": job_comment(deploy_id, sweep_id),
            "script": str(script),
            "script_sha256": digest,
            "time": time.time(),
            "adopted": adopted,
        },
    )


# ---------------------------------------------------------------------- states
def parse_squeue(text: str) -> dict[str, dict[str, str]]:
    """``squeue -h -o '%i|%T|%r|%N'`` output -> {job id: {state, reason, nodes}}.

    Array tasks appear as ``123_1``; pending tasks not yet split off as ``123_[2-4%1]``.
    """
    out: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = (line.split("|") + ["", "", "", ""])[:4]
        job, state, reason, nodes = (p.strip() for p in parts)
        out[job] = {"state": state, "reason": reason, "nodes": nodes, "source": "squeue"}
    return out


def sacct_rows(text: str, columns: Sequence[str]) -> list[dict[str, str]]:
    """The rows of ``sacct -n -P -o COLUMNS`` output as dicts keyed by column name (the one
    reader of sacct's output: status and results both ask through it). Missing trailing
    fields are empty; ``State`` loses its detail (``CANCELLED by 1000`` -> ``CANCELLED``)."""
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = [p.strip() for p in (line.split("|") + [""] * len(columns))[: len(columns)]]
        row = dict(zip(columns, parts))  # noqa: B905 (login hosts may run Python < 3.10)
        if "State" in row:
            row["State"] = row["State"].split(" ", 1)[0]
        rows.append(row)
    return rows


#: The columns :func:`job_states` asks sacct for (one row per allocation, ``-X``).
STATUS_COLUMNS = ("JobID", "State", "ExitCode", "Elapsed", "MaxRSS", "NodeList")


def parse_sacct(text: str) -> dict[str, dict[str, str]]:
    """``sacct -X -n -P -o JobID,State,ExitCode,Elapsed,MaxRSS,NodeList`` output."""
    return {
        row["JobID"]: {
            "state": row["State"],
            "exit_code": row["ExitCode"],
            "elapsed": row["Elapsed"],
            "max_rss": row["MaxRSS"],
            "nodes": row["NodeList"],
            "source": "sacct",
        }
        for row in sacct_rows(text, STATUS_COLUMNS)
    }


def job_states(
    job_ids: Iterable[str], *, run: Runner = subprocess.run
) -> dict[str, dict[str, str]]:
    """State of each job / array task of ``job_ids``: {``123_1``: {state, ...}}.

    ``squeue -t all`` is asked first (it is live); ``sacct`` fills in exit codes, elapsed
    times and the jobs squeue has forgotten. A row from squeue that is still live wins over
    sacct's (accounting lags); for ended jobs sacct's row (with the exit code) wins.
    """
    return job_states_checked(job_ids, run=run)[0]


def job_states_checked(
    job_ids: Iterable[str], *, run: Runner = subprocess.run
) -> tuple[dict[str, dict[str, str]], str | None]:
    """:func:`job_states`, and what squeue said when the controller did not answer (None
    when it did). Without the controller the states are accounting's last word, which may be
    stale (a job shown RUNNING may have ended): each such row gets ``stale: "1"``."""
    ids = sorted({str(j) for j in job_ids if str(j).strip()})
    if not ids:
        return {}, None
    joined = ",".join(ids)
    states: dict[str, dict[str, str]] = {}
    proc = _run(run, ["squeue", "-h", "-t", "all", "-j", joined, "-o", "%i|%T|%r|%N"])
    live = parse_squeue(proc.stdout) if proc.returncode == 0 else {}
    down = None
    if proc.returncode != 0:
        err = (proc.stderr or proc.stdout or "").strip()
        if controller_unreachable(err):
            down = err or f"squeue exit {proc.returncode}"
    proc = _run(
        run,
        [
            "sacct",
            "-X",
            "-n",
            "-P",
            "-o",
            ",".join(STATUS_COLUMNS),
            "-j",
            joined,
        ],
    )
    acct = parse_sacct(proc.stdout) if proc.returncode == 0 else {}
    for job, row in acct.items():
        states[job] = row
    for job, row in live.items():
        if job not in states or row["state"] not in FINAL_STATES:
            states[job] = {**states.get(job, {}), **row}
    if down is not None:
        for row in states.values():
            if row.get("state") not in FINAL_STATES:
                row["stale"] = "1"
    return states, down


def cancel(
    job_ids: Iterable[str],
    *,
    signal: str | None = None,
    run: Runner = subprocess.run,
) -> None:
    """``scancel`` the jobs (with ``--signal=SIG --full`` when ``signal`` is given)."""
    ids = [str(j) for j in job_ids if str(j).strip()]
    if not ids:
        return
    argv = ["scancel"]
    if signal:
        argv += [f"--signal={signal}", "--full"]
    proc = _run(run, argv + ids)
    if proc.returncode != 0:
        err = (proc.stderr or proc.stdout).strip()
        raise SlurmError(f"scancel failed (exit {proc.returncode}): {err}", stderr=err)
