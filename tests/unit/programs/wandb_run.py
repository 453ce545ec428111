"""Helper for tests/unit/test_wandbfile.py: make one real offline wandb run.

Usage: ``python wandb_run.py SPEC_JSON``. SPEC keys: ``dir``, ``config``, ``tags``,
``group``, ``config_update`` (dict for ``run.config.update``), ``steps`` (list of
dicts passed to ``wandb.log``), ``summary`` (dict set on ``run.summary`` after
logging), ``end``: ``"finish"`` (default), ``"raise"`` (uncaught exception),
``"exit:N"`` (``sys.exit(N)``) or ``"sleep"`` (print ``LOGGED`` and sleep, to be
killed by the test).
"""

from __future__ import annotations

import json
import sys
import time

import wandb


def main() -> None:
    """Run the spec given as the first argument."""
    spec = json.loads(sys.argv[1])
    run = wandb.init(
        mode="offline",
        project="sweepops-test",
        dir=spec["dir"],
        config=spec.get("config"),
        tags=spec.get("tags"),
        group=spec.get("group"),
    )
    if spec.get("config_update"):
        run.config.update(spec["config_update"])
    for row in spec.get("steps", []):
        run.log(row)
    for key, value in spec.get("summary", {}).items():
        run.summary[key] = value
    end = spec.get("end", "finish")
    if end == "raise":
        raise RuntimeError("boom")
    if end.startswith("exit:"):
        sys.exit(int(end.split(":", 1)[1]))
    if end == "sleep":
        print("LOGGED", flush=True)
        time.sleep(120)
    run.finish()


if __name__ == "__main__":
    main()
