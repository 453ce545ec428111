"""The wandb backend: real sweeps on a wandb server, made with the wandb SDK.

* :func:`choose_backend` resolves ``sweep_backend: wandb | offline | auto`` (auto = wandb when
  an API key is configured for the server, offline otherwise) and says why.
* :func:`find_api_key` reads the key the way wandb does: ``WANDB_API_KEY``, else the
  ``~/.netrc`` entry for the server's ``host[:port]``. The key is never logged or returned
  in a record.
* :class:`WandbBackend` is the :class:`~sweepops.backends.base.SweepBackend` of a deploy
  whose sweeps live on a wandb server (the checks before anything is made, the handoff of
  clusters whose compute nodes cannot reach it, each sweep's agent and metadata).
* :func:`create_wandb_sweeps` creates every sweep with ``wandb.sweep(config, entity=,
  project=)`` in one child Python (``python -m sweepops.backends.wandb``: the SDK prints and
  starts ``wandb-core``, which must not touch the caller's stdout, e.g. an Ansible module's).
  The key reaches the child through its environment, never its command line. On the first
  failure it stops and raises :class:`SweepopsError` with the server's messages, naming the
  sweeps already made.
"""

from __future__ import annotations

import base64
import hashlib
import json
import netrc
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sweepops.backends.base import CreateRequest, RemoteSweep, SweepBackend
from sweepops.core import paths
from sweepops.core.errors import SweepopsError
from sweepops.remote import handoff
from sweepops.runtime.offline_sweep import OfflineSweep

BACKENDS = ("wandb", "offline", "auto")
DEFAULT_BASE_URL = "https://api.wandb.ai"
_RESULT = "SWEEPOPS_WANDB_RESULT "
#: A file holding the key, set by sweepops.ansible.runner instead of WANDB_API_KEY (which
#: ansible-runner would write into its artifacts).
KEY_FILE_ENV = "SWEEPOPS_WANDB_KEY_FILE"


def base_url(explicit: str | None = None, env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    return (explicit or env.get("WANDB_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")


def netrc_machine(url: str) -> str:
    """The ``machine`` wandb looks up in ~/.netrc for ``url``: its ``host[:port]``."""
    return urlsplit(url).netloc


def find_api_key(
    url: str,
    *,
    env: Mapping[str, str] | None = None,
    netrc_path: Path | None = None,
) -> str | None:
    env = os.environ if env is None else env
    if env.get("WANDB_API_KEY"):
        return env["WANDB_API_KEY"]
    if env.get(KEY_FILE_ENV):
        try:
            key = Path(env[KEY_FILE_ENV]).read_text().strip()
        except OSError:
            key = ""
        if key:
            return key
    path = netrc_path or Path(env.get("NETRC") or Path.home() / ".netrc")
    try:
        auth = netrc.netrc(str(path)).authenticators(netrc_machine(url))
    except (OSError, netrc.NetrcParseError):
        return None
    if auth and auth[2]:
        return auth[2]
    return None


def choose_backend(
    choice: str | None,
    *,
    url: str,
    env: Mapping[str, str] | None = None,
    netrc_path: Path | None = None,
) -> tuple[str, str]:
    """(backend, why) for ``sweep_backend`` = ``choice`` (None = auto)."""
    choice = (choice or "auto").strip().lower()
    if choice not in BACKENDS:
        raise SweepopsError(
            f"unknown sweep_backend {choice!r}",
            hint="use one of: " + ", ".join(BACKENDS),
        )
    if choice != "auto":
        return choice, f"sweep_backend: {choice}"
    if find_api_key(url, env=env, netrc_path=netrc_path):
        return "wandb", f"auto: a wandb API key is configured for {netrc_machine(url)}"
    return "offline", (
        f"auto: no wandb API key (WANDB_API_KEY or ~/.netrc machine {netrc_machine(url)}), "
        "so offline sweeps"
    )


def require_api_key(url: str, env: Mapping[str, str] | None = None) -> str:
    key = find_api_key(url, env=env)
    if not key:
        raise SweepopsError(
            f"sweep_backend wandb needs an API key for {url}; nothing was created",
            hint=f"export WANDB_API_KEY=... or run `wandb login --host {url}` "
            f"(~/.netrc machine {netrc_machine(url)})",
        )
    return key


def sweep_name(
    experiment: str, tags: Sequence[str], config: Mapping[str, Any], when: float | None = None
) -> str:
    """``<experiment>_<date>_<tags>_<short hash>``; the hash is of the sweep config."""
    date = time.strftime("%Y%m%d", time.localtime(when))
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[
        :7
    ]
    parts = [experiment, date] + (["-".join(tags)] if tags else []) + [digest]
    return "_".join(parts)


def app_url(url: str) -> str:
    """The web UI for an API URL (api.wandb.ai → wandb.ai; a local server serves both)."""
    parts = urlsplit(url)
    host = parts.netloc
    if host.startswith("api.") and host.endswith("wandb.ai"):
        host = host[len("api.") :]
    return f"{parts.scheme}://{host}"


def sweep_url(url: str, entity: str, project: str, sweep_id: str) -> str:
    return f"{app_url(url)}/{entity}/{project}/sweeps/{sweep_id}"


def check_server(url: str, api_key: str, *, nothing: str, timeout: float = 15) -> str:
    """Ask the server who the key belongs to (GraphQL ``Viewer``); returns the entity. Raises
    SweepopsError, ending with ``nothing`` (what was not done), when the server cannot be
    reached or refuses the key: one quick request instead of the SDK's minutes of retries."""
    import urllib.error
    import urllib.request  # (http.client, ssl: ~50 ms, only when a server is asked)

    body = json.dumps(
        {"operationName": "Viewer", "query": "query Viewer { viewer { id entity } }"}
    ).encode()
    auth = base64.b64encode(f"api:{api_key}".encode()).decode()
    request = urllib.request.Request(
        f"{url}/graphql",
        data=body,
        headers={"Content-Type": "application/json", "Authorization": f"Basic {auth}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - http(s) URL from config
            data = json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise SweepopsError(
                f"the wandb server at {url} refused the API key (HTTP {exc.code}); {nothing}",
                hint="check WANDB_API_KEY or `wandb login --host URL`",
            ) from None
        raise SweepopsError(
            f"the wandb server at {url} answered HTTP {exc.code}; {nothing}",
            hint="try again later",
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SweepopsError(
            f"the wandb server at {url} is unreachable ({reason}); {nothing}",
            hint="check the network and WANDB_BASE_URL / wandb_base_url, then try again",
        ) from None
    viewer = (data.get("data") or {}).get("viewer") or {}
    return str(viewer.get("entity") or "")


#: A sweep made on the server (the backend interface's :class:`RemoteSweep`).
CreatedSweep = RemoteSweep


def create_wandb_sweeps(
    configs: Sequence[Mapping[str, Any]],
    *,
    entity: str | None,
    project: str,
    url: str,
    api_key: str,
    python: str | None = None,
    timeout: float = 300,
) -> list[CreatedSweep]:
    """Create one wandb sweep per config (each has its ``name``), in order."""
    request = {"configs": list(configs), "entity": entity, "project": project}
    env = {
        **os.environ,
        "WANDB_BASE_URL": url,
        "WANDB_API_KEY": api_key,
        "WANDB_SILENT": "true",
        "WANDB_ERROR_REPORTING": os.environ.get("WANDB_ERROR_REPORTING", "false"),
    }
    env.pop("WANDB_MODE", None)
    try:
        proc = subprocess.run(
            [python or sys.executable, "-m", "sweepops.backends.wandb"],
            input=json.dumps(request, default=str),
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        raise SweepopsError(f"wandb did not answer within {timeout:.0f} s at {url}") from exc
    made: list[CreatedSweep] = []
    error: str | None = None
    for line in proc.stdout.splitlines():
        if not line.startswith(_RESULT):
            continue
        item = json.loads(line[len(_RESULT) :])
        if "error" in item:
            error = item["error"]
        else:
            made.append(
                CreatedSweep(
                    name=item["name"],
                    id=item["id"],
                    entity=item["entity"],
                    project=item["project"],
                    url=sweep_url(url, item["entity"], item["project"], item["id"]),
                )
            )
    if error is None and (proc.returncode != 0 or len(made) != len(configs)):
        error = f"the wandb child exited {proc.returncode}"
    if error is not None:
        failed = configs[len(made)].get("name", "?") if len(made) < len(configs) else "?"
        messages = _server_messages(proc.stderr, api_key)
        done = (
            "created before the failure: " + ", ".join(f"{m.name} ({m.url})" for m in made)
            if made
            else "no sweep was created"
        )
        raise SweepopsError(
            f"wandb rejected sweep {failed} at {url} (entity {entity or '(default)'}, "
            f"project {project}): {_redact(error, api_key)}"
            + (f"\n  server said: {messages}" if messages else "")
            + f"\n  {done}; no job was submitted",
            hint="check the entity/project (wandb_entity, wandb_project), the API key and "
            "the sweep config (`sweepops validate`)",
        )
    return made


def handoff_for(root: Path, compute_internet: Mapping[str, Any] | None) -> dict[str, str]:
    """{host: why} of the clusters whose jobs log offline for ``sweepops sync`` (the
    provisioning facts are read from ``ROOT/.sweepops/facts/HOST.json``)."""
    try:
        return handoff.handoff_hosts(compute_internet or {}, paths.facts_dir(root))
    except ValueError as exc:
        raise SweepopsError(
            str(exc), hint="set compute_internet in the cluster's group_vars"
        ) from None


def wandb_config(experiment: str, tags: tuple[str, ...], config: dict[str, Any]) -> dict[str, Any]:
    """The config sent to wandb: named ``<experiment>_<date>_<tags>_<hash>``, the subtest
    tags in its description (wandb's schema has no ``tags`` key; runs get WANDB_TAGS)."""
    out = dict(config)
    out["name"] = sweep_name(experiment, tags, config)
    if tags:
        note = "tags: " + ",".join(tags)
        out["description"] = f"{out['description']} ({note})" if out.get("description") else note
    return out


class WandbBackend(SweepBackend):
    """Sweeps on the wandb server at ``url``: created there first; agents run ``wandb
    agent``, except on the clusters in :attr:`handoff` (their jobs run the offline agent on a
    sweep directory with the wandb sweep's id and config; ``sweepops sync`` uploads)."""

    name = "wandb"

    def __init__(self, why: str, url: str):
        super().__init__(why, url)
        self.entity: str | None = None
        self.project = ""

    def create(
        self, exp: Any, configs: list[dict[str, Any]], request: CreateRequest
    ) -> list[RemoteSweep | None]:
        self.entity = str(exp.raw.get("entity") or request.entity or "") or None
        self.project = str(exp.raw.get("project") or request.project or exp.name)
        self.handoff = handoff_for(request.root, request.compute_internet)
        self.refuse_mixed(request.compute_internet)
        missing = [
            msg
            for host, msg in sorted(request.wandb_problems.items())
            if msg and host not in self.handoff
        ]
        if missing:
            raise SweepopsError(
                "; ".join(missing) + f" (the sweeps are wandb's: {self.why}); nothing was created",
                hint="or run the sweeps offline: -e sweep_backend=offline",
            )
        if request.dry_run:
            return [None] * len(configs)
        named = [
            wandb_config(exp.name, spec.tags, c)
            for spec, c in zip(exp.sweeps, configs, strict=True)
        ]
        key = require_api_key(self.url)
        check_server(self.url, key, nothing="no sweep was created, no job submitted")
        made = create_wandb_sweeps(
            named, entity=self.entity, project=self.project, url=self.url, api_key=key
        )
        self.entity = made[0].entity if made else self.entity
        return list(made)

    def refuse_mixed(self, compute_internet: Mapping[str, Any]) -> None:
        """Refuse clusters whose compute nodes reach the server mixed with some whose do not:
        the server hands out runs to the online clusters' agents without knowing the offline
        ones' (until ``sweepops sync``), so shared grid points would run twice."""
        online = [c for c in compute_internet if c not in self.handoff]
        if self.handoff and online:
            raise SweepopsError(
                f"one wandb deploy cannot mix clusters whose compute nodes reach wandb "
                f"({', '.join(sorted(online))}) with clusters whose do not "
                f"({', '.join(sorted(self.handoff))}): the server would hand out grid points "
                "the offline ones run too; nothing was created",
                hint="deploy to each kind separately (-e clusters=...), or set compute_internet "
                "the same for all",
            )

    def record_fields(self, exp: Any) -> dict[str, Any]:
        out: dict[str, Any] = {
            "entity": self.entity,
            "project": self.project,
            "base_url": self.url,
            "handoff": self.handoff,
        }
        if self.handoff:
            out["backend_reason"] = (
                f"{self.why}; compute nodes without internet on {', '.join(sorted(self.handoff))}"
                f": their jobs log offline, upload the runs with `sweepops sync {exp.name}`"
            )
        return out

    def sweep_fields(
        self, env: dict[str, str], remote: RemoteSweep | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        env.update(WANDB_PROJECT=self.project)
        if self.entity:
            env["WANDB_ENTITY"] = self.entity
        meta: dict[str, Any] = {
            "engine": "wandb",
            "base_url": self.url,
            "entity": self.entity,
            "project": self.project,
        }
        if remote is not None:
            meta.update(wandb_name=remote.name, path=remote.path, url=remote.url)
        entry = {
            k: meta.get(k) for k in ("entity", "project", "base_url", "path", "url", "wandb_name")
        }
        return meta, {**entry, "run_env": env}

    def watch_url(self, entry: Mapping[str, Any]) -> str | None:
        return str(entry.get("url") or "") or None

    def runs_on_disk(self, where: str) -> bool:
        return where in self.handoff

    def agent_argv(
        self,
        sweep: OfflineSweep,
        k: int,
        *,
        python: str,
        code_dir: Path,
        agent_args: list[str],
        target: str | None,
    ) -> tuple[list[str], Path]:
        """The real ``wandb agent ENTITY/PROJECT/ID``, started in the sweep's workdir (wandb
        starts the runs in its own working directory)."""
        workdir = Path(code_dir) / str(sweep.meta.get("workdir") or "")
        return [python, "-m", "wandb", "agent", str(target or sweep.id)], workdir

    def agent_env(self, sweep: OfflineSweep, env: dict[str, str]) -> None:
        """The sweep's run metadata (tags, group, commit), the server and its key: the key
        reaches this process through a temporary file (kept out of Ansible's recorded
        environment); the agents outlive it, so they get the key itself."""
        for key, value in (sweep.meta.get("run_env") or {}).items():
            env.setdefault(key, str(value))
        api_key = find_api_key(base_url(sweep.meta.get("base_url")))
        env.pop(KEY_FILE_ENV, None)
        if api_key:
            env["WANDB_API_KEY"] = api_key
        if sweep.meta.get("base_url"):
            env["WANDB_BASE_URL"] = str(sweep.meta["base_url"])


def _redact(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text


def _server_messages(stderr: str, api_key: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    keep = [ln for ln in lines if "Traceback" not in ln and not ln.startswith("File ")]
    return _redact(" | ".join(keep[-6:]), api_key)


def _child() -> int:
    """``python -m sweepops.backends.wandb``: create the sweeps of the JSON request on stdin."""
    request = json.load(sys.stdin)
    out = sys.stdout
    sys.stdout = sys.stderr  # whatever wandb prints goes to stderr
    import wandb

    entity = request.get("entity")
    project = request["project"]
    try:
        if not entity:
            entity = wandb.Api().default_entity
        for config in request["configs"]:
            sweep_id = wandb.sweep(dict(config), entity=entity, project=project)
            if not sweep_id:
                raise RuntimeError("the server returned no sweep id")
            item = {
                "name": config.get("name"),
                "id": sweep_id,
                "entity": entity,
                "project": project,
            }
            out.write(_RESULT + json.dumps(item) + "\n")
            out.flush()
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises
        out.write(_RESULT + json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n")
        out.flush()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_child())
