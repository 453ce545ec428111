"""Running the repository's playbooks through ansible-runner (the CLI's only way into Ansible)."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweepops.ansible.events import TaskEvent, task_event
from sweepops.backends.wandb import KEY_FILE_ENV
from sweepops.core import paths
from sweepops.core.errors import SweepopsError

if TYPE_CHECKING:
    from sweepops.ansible.view import RunView


def inventories(root: Path, extra: list[str] | None = None) -> list[str]:
    """The repository's inventory (the local default, group_vars) plus any others given with
    -i or $SWEEPOPS_INVENTORY (colon-separated), e.g. a file of your own clusters."""
    more = list(extra or []) + [
        p for p in os.environ.get("SWEEPOPS_INVENTORY", "").split(os.pathsep) if p
    ]
    return [str(root / "inventory"), *(str(Path(p).resolve()) for p in more)]


def _private_dir(root: Path) -> Path:
    """One ansible-runner dir per invocation: concurrent runs must not share extravars.
    Mode 700, and removed when the run ends (:func:`_run`): ansible-runner writes the extra
    vars there (``env/extravars``), and ``-e`` may carry a password. Dirs an interrupted
    sweepops left behind (their pid gone) are pruned here."""
    parent = paths.runner_dir(root)
    prune_runner_dirs(parent)
    private = parent / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    private.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(private, 0o700)
    return private


def prune_runner_dirs(parent: Path) -> list[Path]:
    """Remove the ansible-runner dirs under ``parent`` whose sweepops process is gone
    (named ``DATE-TIME-PID``; other names are left alone). Returns what was removed."""
    removed = []
    for entry in parent.glob("*-*"):
        pid = entry.name.rsplit("-", 1)[-1]
        if not pid.isdigit() or not entry.is_dir() or _alive(int(pid)):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class RunOutcome:
    """What callers read of an ansible-runner run, kept after its directory is removed."""

    rc: int | None
    status: str
    stats: dict[str, Any] | None = None


@contextlib.contextmanager
def _key_out_of_environ() -> Iterator[None]:
    key = os.environ.pop("WANDB_API_KEY", None)
    if not key:
        yield
        return
    fd, path = tempfile.mkstemp(prefix="sweepops-wandb-")  # mode 600
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(key)
        os.environ[KEY_FILE_ENV] = path
        yield
    finally:
        os.environ.pop(KEY_FILE_ENV, None)
        os.environ["WANDB_API_KEY"] = key
        os.unlink(path)


def _run(
    root: Path,
    playbook: str,
    extravars: dict[str, Any],
    *,
    inventory: list[str] | None,
    quiet: bool,
    keep_stats: bool = False,
    **options: Any,
) -> RunOutcome:
    """The one way into ansible-runner: this Python's ansible-playbook, the repository's
    ansible.cfg and inventories, a private dir per run, and the wandb key kept out of the
    environment that ansible-runner records (artifacts/command)."""
    import ansible_runner

    from sweepops.core.settings import require_valid_inventory

    # A broken or mistyped inventory is one clear error here, before Ansible runs.
    require_valid_inventory(inventories(root, inventory), root)
    # ansible-playbook must be the one installed next to this Python (a venv need not be on PATH).
    path = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    colour = sys.stdout.isatty() and not quiet  # ansible-runner forces colour: terminals only
    envvars = {
        "ANSIBLE_CONFIG": os.environ.get("ANSIBLE_CONFIG", str(root / "ansible.cfg")),
        "PATH": path,
        "ANSIBLE_FORCE_COLOR": "1" if colour else "0",
        "ANSIBLE_NOCOLOR": "0" if colour else "1",
        # ansible-runner turns host key checking off unless told otherwise: keep ansible.cfg's
        # (a changed host key must stop the deploy, not be accepted in silence)
        "ANSIBLE_HOST_KEY_CHECKING": os.environ.get("ANSIBLE_HOST_KEY_CHECKING", "True"),
    }
    private = _private_dir(root)
    try:
        with _key_out_of_environ():
            result = ansible_runner.run(
                private_data_dir=str(private),
                project_dir=str(root),
                playbook=str(root / playbook),
                extravars=extravars,
                inventory=inventories(root, inventory),
                envvars=envvars,
                quiet=quiet,
                **options,
            )
        return RunOutcome(result.rc, result.status, result.stats if keep_stats else None)
    finally:
        shutil.rmtree(private, ignore_errors=True)


TaskHandler = Callable[[TaskEvent], None]


def run_quiet(
    root: Path,
    playbook: str,
    extravars: dict[str, Any],
    *,
    inventory: list[str] | None = None,
    on_task: TaskHandler | None = None,
    view: RunView | None = None,
) -> RunOutcome:
    """Run a playbook with no output (or a ``view``'s short one, which keeps the whole log;
    Ansible's own when the view does not display), handing each host's task result to
    ``on_task``. The outcome keeps rc, status and the recap stats."""

    def on_event(event: dict[str, Any]) -> bool:
        if view is not None:
            view.on_event(event)
        got = task_event(event)
        if got is not None and on_task is not None:
            on_task(got)
        return True

    try:
        return _run(
            root,
            playbook,
            extravars,
            inventory=inventory,
            quiet=view is None or view.display,
            keep_stats=True,
            event_handler=on_event,
        )
    finally:
        if view is not None:
            view.close()


@dataclass
class Outcome:
    """What a streamed playbook run did, beyond its output: the failures' messages (one line
    per host and task, for stderr) and the actions of the tasks that succeeded."""

    errors: list[str] = field(default_factory=list)
    ok_actions: set[str] = field(default_factory=set)

    def on_task(self, got: TaskEvent) -> None:
        if got.kind == "ok":
            self.ok_actions.add(got.action)
        elif got.failed and not got.ignore_errors:
            self.errors.append(f"{got.host}: {got.message or got.task or 'a task failed'}")

    def on_event(self, event: dict[str, Any]) -> bool:
        got = task_event(event)
        if got is not None:
            self.on_task(got)
        return True


def run_playbook(
    root: Path,
    playbook: str,
    extravars: dict[str, Any],
    *,
    check: bool = False,
    diff: bool = False,
    limit: str | None = None,
    inventory: list[str] | None = None,
    verbosity: int = 0,
    outcome: Outcome | None = None,
    view: RunView | None = None,
) -> int:
    """Run ``ROOT/PLAYBOOK`` with ansible-runner. Returns rc; ``outcome`` (if given) collects
    the failures' messages and the tasks that succeeded. With a ``view`` the output is the
    view's short one (and the view keeps the whole log) unless ``verbosity`` asks for
    Ansible's own; without one, Ansible's output is streamed as ``ansible-playbook`` does."""
    from sweepops.ansible.ssh_hints import hint_for

    cmdline = (["--check"] if check else []) + (["--diff"] if diff else [])
    refused: dict[str, tuple[str, bool]] = {}  # host -> (ssh's text, unreachable)

    def on_event(event: dict[str, Any]) -> bool:
        got = task_event(event)
        if got is None:
            return True
        if got.failed:
            text = str(got.res.get("msg") or "") + "\n" + str(got.res.get("stderr") or "")
            refused.setdefault(got.host, (text, got.kind == "unreachable"))
        if outcome is not None:
            outcome.on_task(got)
        return True

    def on_any(event: dict[str, Any]) -> bool:
        if view is not None:
            view.on_event(event)
        return on_event(event)

    try:
        result = _run(
            root,
            playbook,
            extravars,
            inventory=inventory,
            quiet=view is not None and view.display,
            cmdline=" ".join(cmdline) or None,
            limit=limit,
            verbosity=verbosity,
            event_handler=on_any,
        )
    finally:
        if view is not None:
            view.close()
    # ssh's raw text is in the output (or the log); one line per host says what it means
    for host, (message, unreachable) in refused.items():
        hint = hint_for(host, message, unreachable=unreachable)
        if hint:
            print(f"sweepops: {hint}", file=sys.stderr)
    if result.rc is None:
        raise SweepopsError(f"ansible-runner did not run {playbook}: {result.status}")
    return int(result.rc)


def collect(
    root: Path,
    playbook: str,
    extravars: dict[str, Any],
    *,
    inventory: list[str] | None = None,
    view: RunView | None = None,
) -> dict[str, dict[str, Any]]:
    """Run a playbook quietly (or with a ``view``, see :func:`run_quiet`) and return, per
    host, the result of its last task.

    A host that failed or was unreachable gets ``{"failed": True, "msg": ...}``.
    """
    out: dict[str, dict[str, Any]] = {}

    def on_task(got: TaskEvent) -> None:
        if got.kind == "ok":
            out[got.host] = got.res
        elif got.failed:
            out[got.host] = {"failed": True, "msg": got.res.get("msg", str(got.res))}

    run_quiet(root, playbook, extravars, inventory=inventory, on_task=on_task, view=view)
    return out
