"""Why a job or run failed, in one line: Slurm's state and the last error line of its log.

Standard library only: the same file ships to the login node as Ansible module_utils
(``module_utils/sweepops_remote`` links to this package), where
``sweepops_cluster`` and ``sweepops_log`` read the logs on the shared disk.
"""

from __future__ import annotations

import os
import re
from typing import Any

#: Slurm states in which a job (or array task) ended without doing its work.
FAILED_JOB_STATES = frozenset(
    {
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

#: What each failed state means, for the reason line.
STATE_WORDS = {
    "OUT_OF_MEMORY": "killed for using more memory than `mem`",
    "TIMEOUT": "killed at its time limit (`time`)",
    "NODE_FAIL": "its node failed",
    "PREEMPTED": "preempted",
    "CANCELLED": "cancelled",
    "BOOT_FAIL": "its node did not boot",
    "DEADLINE": "past its deadline",
}

#: Run states that count as failed (the offline engine's and wandb's).
FAILED_RUN_STATES = frozenset({"failed", "crashed", "killed"})

#: At most this many bytes are read from the end of a log to find its error line.
TAIL_BYTES = 64 * 1024

_ERROR_LINE = re.compile(
    r"(^\w*(Error|Exception|Interrupt|Exit)\b.*:|^\w+(Error|Exception)$"
    r"|error:|fatal:|killed|oom|out of memory|time limit|memory limit|no such file"
    r"|not found|permission denied|cannot |could not |segmentation fault|core dumped)",
    re.IGNORECASE,
)
#: slurmstepd's words when it kills a step for memory (OverMemoryKill, cgroup OOM).
_MEMORY_KILL = re.compile(r"exceeded (job )?memory limit|oom[-_ ]kill", re.IGNORECASE)

#: Lines that look like errors but only say that one happened elsewhere.
_NOISE = re.compile(r"^\s*(\[sweepops\] .*agent exited|#|wandb: )", re.IGNORECASE)


def read_tail(path: str, max_bytes: int = TAIL_BYTES) -> str:
    """The last ``max_bytes`` of a file as text ('' when it cannot be read)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            data = fh.read()
    except OSError:
        return ""
    return data.decode("utf-8", errors="replace")


def last_error_line(text: str) -> str | None:
    """The last line of a log that says what went wrong (a Python exception's final line,
    slurmstepd's "CANCELLED ... DUE TO TIME LIMIT", "exceeded memory limit", ...), shortened
    to 300 characters; None when no line looks like an error."""
    for line in reversed(text.splitlines()):
        line = line.strip().lstrip("|").strip()  # the agent quotes a run's log as "  | ..."
        if not line or _NOISE.search(line):
            continue
        if _ERROR_LINE.search(line):
            return line if len(line) <= 300 else line[:297] + "..."
    return None


def job_reason(row: dict[str, Any], log_text: str = "") -> str | None:
    """One line saying why a job (or array task) is not running its runs, or None if it is
    fine: a failed state with its meaning, exit code and the log's last error line; a pending
    job with Slurm's pending reason."""
    state = str(row.get("state") or "")
    if state == "PENDING":
        reason = str(row.get("reason") or "")
        return f"PENDING ({reason})" if reason and reason != "None" else None
    failed = state in FAILED_JOB_STATES or (
        state == "COMPLETED" and str(row.get("exit_code") or "0:0").split(":")[0] not in ("0", "")
    )
    if not failed:
        return None
    words = STATE_WORDS.get(state)
    if state in ("FAILED", "CANCELLED") and _MEMORY_KILL.search(log_text):
        # JobAcctGatherParams=OverMemoryKill ends such a job FAILED, not OUT_OF_MEMORY
        words = STATE_WORDS["OUT_OF_MEMORY"]
    out = state + (f": {words}" if words else "")
    exit_code = str(row.get("exit_code") or "")
    if exit_code and exit_code != "0:0":
        out += f" (exit {exit_code})"
    error = last_error_line(log_text)
    out = f"{out}; {error}" if error else out
    if words == STATE_WORDS["OUT_OF_MEMORY"]:
        used = rss_bytes(str(row.get("max_rss") or "")) or memory_kill_bytes(log_text)
        if used:
            out += (
                f"; it used {used / 2**20:.0f}M: give it more, "
                f"`sweepops retry EXP --failed -e mem={suggested_mem(used)}`"
            )
    return out


_RSS = re.compile(r"^([0-9.]+)([KMGTP]?)$")
#: slurmstepd's "exceeded memory limit (USED > LIMIT)" figures are bytes.
_MEMORY_FIGURES = re.compile(r"exceeded (?:job )?memory limit \((\d+) > (\d+)\)", re.IGNORECASE)


def rss_bytes(text: str) -> int | None:
    """sacct's MaxRSS (``1234K``, ``2.5G``; a bare number is KiB) in bytes; None if empty."""
    match = _RSS.match(text.strip())
    if not match or not match.group(1):
        return None
    unit = "KMGTP".index(match.group(2) or "K") + 1
    value = int(float(match.group(1)) * 1024**unit)
    return value or None


def memory_kill_bytes(log_text: str) -> int | None:
    """What a job used when slurmstepd killed it for memory, from its log (bytes there)."""
    found = _MEMORY_FIGURES.findall(log_text)
    return int(found[-1][0]) if found else None


def suggested_mem(used: int) -> str:
    """A ``mem`` for a job that used ``used`` bytes: half as much again, rounded up to a
    whole GiB (to 256 MiB below 1 GiB)."""
    want = used * 3 // 2
    if want < 2**30:
        return f"{-(-want // (256 * 2**20)) * 256}M"
    return f"{-(-want // 2**30)}G"


def run_reason(record: dict[str, Any], log_text: str = "") -> str:
    """One line saying why a run failed: its state, exit code and the error the agent recorded
    for it (it could not start; it was cut at its time limit too often), else the last error
    line of its log."""
    out = str(record.get("state"))
    if record.get("exit_code") is not None:
        out += f" (exit {record['exit_code']})"
    error = record.get("error") or last_error_line(log_text)
    return f"{out}; {error}" if error else out


def job_log_path(lab_root: str, deploy_id: str, job: str) -> str | None:
    """The log of a job or array task (``123_4``) of a deploy: the sbatch template writes
    ``LAB/deploys/DEPLOY/logs/NAME-ARRAY_TASK.out``. None when there is none."""
    logs = os.path.join(lab_root, "deploys", deploy_id, "logs")
    suffix = f"-{job}.out" if "_" in job else f"-{job}_"
    try:
        names = sorted(os.listdir(logs))
    except OSError:
        return None
    for name in names:
        if name.endswith(suffix) or (suffix.endswith("_") and suffix in name):
            return os.path.join(logs, name)
    return None
