"""What `sweepops status` says beyond the counts: runs nobody will finish, unreadable run
records, requeue loops, and job states the Slurm controller could not confirm.

A run is *stranded* when it waits to be run again (``preempted``, ``lost``) or is still
``running`` with a lapsed lease (its agent is gone), and no live agent or job is left to take
it: nothing will ever finish it unless someone starts an agent. Status names such runs and
gives the exact command that finishes them.
"""

from __future__ import annotations

from typing import Any

#: A waiting run is re-run by any live agent; with none, this command finishes it.
LOOP_HINT = (
    "if the time limit cuts every attempt, raise `time` or lower `preempt_signal_seconds` "
    "(a task stops requeueing after `max_requeues`)"
)


def _ids(ids: list[str], most: int = 5) -> str:
    shown = ", ".join(ids[:most])
    return shown + (f" and {len(ids) - most} more" if len(ids) > most else "")


def notes(found: dict[str, Any], *, live: bool | None, how: str) -> list[str]:
    """Lines about one sweep: ``found`` as sweep_layout.report returns it (without its
    states), ``live`` whether an agent or job of the sweep is still alive (None: unknown,
    the controller did not answer), ``how`` the command that runs one more agent."""
    lines: list[str] = []
    for path, why in sorted((found.get("unreadable") or {}).items()):
        lines.append(
            f"unreadable run record {path} ({why}): its point is not run again; repair or "
            "delete the file to have it re-run"
        )
    waiting = sorted(set(found.get("lapsed") or []) | set(found.get("waiting") or []))
    if waiting:
        runs = f"{len(waiting)} run(s) ({_ids(waiting)})"
        if live:
            lines.append(f"{runs} wait to be run again: the live agents take them")
        elif live is None:
            lines.append(
                f"{runs} wait to be run again; whether a live job will take them is unknown "
                f"(Slurm did not answer); if none does, finish them with: {how}"
            )
        else:
            lines.append(
                f"STRANDED: {runs} wait to be run again and no agent or job is left to take "
                f"them; finish them with: {how}"
            )
    for run_id, n in sorted((found.get("loops") or {}).items()):
        lines.append(f"requeue loop: run {run_id} was interrupted {n} times; {LOOP_HINT}")
    return lines


def controller_warning(host: str, said: str | None) -> str | None:
    """The warning for job states read while the controller did not answer."""
    if not said:
        return None
    first = said.strip().splitlines()[0] if said.strip() else said
    return (
        f"warning: {host}: the Slurm controller did not answer ({first}); job states are "
        "accounting's last word and may be stale"
    )
