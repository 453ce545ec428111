"""Which sweep backend: the one place the offline-vs-wandb choice is made, for a new deploy
(:func:`select_backend`, from ``sweep_backend``) and for a recorded one (:func:`backend_of`,
:func:`runs_on_disk`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sweepops.backends.base import SweepBackend
from sweepops.backends.offline import OfflineBackend
from sweepops.backends.wandb import WandbBackend, choose_backend
from sweepops.core.errors import SweepopsError

#: The backend of each ``sweep_backend`` name (``auto`` resolves to one of them).
BACKENDS: dict[str, type[SweepBackend]] = {"wandb": WandbBackend, "offline": OfflineBackend}


def select_backend(choice: str | None, *, url: str) -> SweepBackend:
    """The backend of a new deploy: ``choice`` (a name of :data:`BACKENDS`, or ``auto`` =
    None: wandb when an API key is configured for ``url``, as sweepops.backends.wandb.
    choose_backend decides and says why) on the server at ``url``."""
    name = (choice or "auto").strip().lower()
    if name in BACKENDS:
        return BACKENDS[name](f"sweep_backend: {name}", url)
    if name != "auto":
        raise SweepopsError(
            f"unknown sweep_backend {name!r}",
            hint="use one of: " + ", ".join([*BACKENDS, "auto"]),
        )
    chosen, why = choose_backend(name, url=url)
    return BACKENDS[chosen](why, url)


def agents_backend(target: str | None) -> SweepBackend:
    """The backend whose agents run a sweep on this machine: the server's (wandb) when the
    sweep has a ``target`` there (ENTITY/PROJECT/ID), else the offline one."""
    name = "wandb" if target else "offline"
    return BACKENDS[name](f"sweep_backend: {name}", "")


def backend_of(deploy: Mapping[str, Any], entry: Mapping[str, Any] | None = None) -> SweepBackend:
    """The backend a deploy (or one of its sweeps, ``entry``) was recorded with."""
    name = str((entry or {}).get("backend") or deploy.get("backend") or "offline")
    backend = BACKENDS.get(name, OfflineBackend)(
        str(deploy.get("backend_reason") or ""), str(deploy.get("base_url") or "")
    )
    backend.handoff = dict(deploy.get("handoff") or {})
    return backend


def runs_on_disk(deploy: Mapping[str, Any]) -> Callable[[str, str], bool]:
    """``on_disk(sweep_id, where)`` of a deploy: whether a sweep's runs are run records where
    its agents ran (``local`` or a cluster host), as executors report them, rather than on a
    sweep server only (sweepops.executors.base.OnDisk)."""
    backends = {str(s["id"]): backend_of(deploy, s) for s in deploy.get("sweeps") or []}

    def on_disk(sweep_id: str, where: str) -> bool:
        backend = backends.get(sweep_id)
        return backend is None or backend.runs_on_disk(where)

    return on_disk
