"""ansible-runner's events as sweepops reads them: the one parser (:func:`task_event`), used
by the CLI's failure messages and short view, ``collect``, fetch and sync."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: ansible-runner's per-host task events, by the short kind :class:`TaskEvent` gives them.
_TASK_KINDS = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_unreachable": "unreachable",
    "runner_on_skipped": "skipped",
}


@dataclass(frozen=True)
class TaskEvent:
    """One host's result of one task, read from an ansible-runner event: the one parser of
    those events (the CLI's output, fetch, sync and ``collect`` all read them through it)."""

    kind: str  # ok | failed | unreachable | skipped
    host: str
    task: str  # the task's name
    action: str  # the module's short name (``ansible.builtin.command`` -> ``command``)
    res: dict[str, Any]
    ignore_errors: bool = False

    @property
    def failed(self) -> bool:
        """Failed or unreachable (an ignored failure counts: callers decide what it means)."""
        return self.kind in ("failed", "unreachable")

    @property
    def message(self) -> str:
        """What the task said about its failure, on one line: its ``msg`` (else stderr, else
        the unreachable reason) and the messages of its failed loop items."""
        res = self.res
        msg = res.get("msg") or res.get("stderr") or res.get("reason") or ""
        loop = [r for r in res.get("results") or [] if isinstance(r, dict)]
        items = [r.get("msg") for r in loop if r.get("failed")]
        return " ".join(" ".join(str(m) for m in [msg, *items] if m).split())


def task_event(event: dict[str, Any]) -> TaskEvent | None:
    """The :class:`TaskEvent` of an ansible-runner event; None for any other event (play and
    task banners, stats, verbose lines) and for events that name no host."""
    kind = _TASK_KINDS.get(str(event.get("event", "")))
    data = event.get("event_data") or {}
    host = data.get("host")
    if kind is None or not host:
        return None
    res = data.get("res")
    return TaskEvent(
        kind=kind,
        host=str(host),
        task=str(data.get("task", "")),
        action=str(data.get("task_action", "")).rsplit(".", 1)[-1],
        res=res if isinstance(res, dict) else {"msg": str(res)},
        ignore_errors=bool(data.get("ignore_errors")),
    )
