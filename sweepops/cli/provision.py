"""Sub-command ``provision`` (registered in :mod:`sweepops.cli`): run ``provision.yml`` for one
cluster: key access, the env at the same path, the container, the cluster's facts."""

from __future__ import annotations

import argparse
import getpass
import os
import tempfile
from pathlib import Path
from typing import Any

from sweepops.ansible.runner import Outcome
from sweepops.cli.common import add_view_flags, parse_extra_vars, run_viewed
from sweepops.core import paths
from sweepops.core.errors import SweepopsError


def provision_extravars(args: argparse.Namespace) -> dict[str, Any]:
    """The playbook's extra vars from the command line (-e first, the named options win)."""
    extra = parse_extra_vars(args.extra_vars)
    if args.env:
        extra["conda_env_prefix"] = str(Path(args.env).expanduser().absolute())
    if args.image:
        extra["container_image"] = args.image
    return extra


def cmd_provision(args: argparse.Namespace) -> int:
    extravars = provision_extravars(args)
    password_file = None
    if args.ask_pass:
        # Handed to Ansible through a private file it reads (never through extra vars, which
        # ansible-runner stores on disk), removed right after the run.
        password = getpass.getpass(f"ssh password for {args.cluster}: ")
        fd, password_file = tempfile.mkstemp(prefix="sweepops-pass-")
        with os.fdopen(fd, "w") as fh:
            fh.write(password + "\n")
        os.environ["ANSIBLE_CONNECTION_PASSWORD_FILE"] = password_file
    log = paths.check_log("provision") if args.check else paths.run_log(args.root, "provision")
    outcome = Outcome()
    try:
        rc = run_viewed(
            args, "provision.yml", extravars, log, outcome, diff=args.diff, limit=args.cluster
        )
    finally:
        if password_file:
            os.environ.pop("ANSIBLE_CONNECTION_PASSWORD_FILE", None)
            os.unlink(password_file)
    if rc != 0:
        causes = "".join(f"\n  {e}" for e in outcome.errors)
        raise SweepopsError(
            f"provisioning {args.cluster} failed (ansible-playbook exit {rc}):{causes}\n"
            f"the whole Ansible log: {log}",
            hint="a first run on a cluster you reach only with a password needs --ask-pass",
        )
    return 0


def register(sub: Any) -> None:
    sp = sub.add_parser(
        "provision",
        help="make a cluster ready for deploys (ssh key, env at the same path, container, facts)",
        description="Run provision.yml for CLUSTER: install the workstation's ssh key, sync the "
        "env to the same absolute path, build and copy the container, store the cluster's "
        "facts. A second run changes nothing.",
    )
    sp.add_argument("cluster", help="the cluster's inventory group or host (Ansible pattern)")
    sp.add_argument("--env", default=None, help="the env's prefix (default: env_prefix)")
    sp.add_argument("--image", default=None, help="the container image's path on the cluster")
    sp.add_argument(
        "-k", "--ask-pass", action="store_true", help="ask for the ssh password (first run)"
    )
    sp.add_argument("-e", "--extra-vars", action="append", default=[], metavar="KEY=VALUE")
    sp.add_argument("--check", action="store_true", help="show what would change; change nothing")
    sp.add_argument("--diff", action="store_true")
    sp.add_argument("-i", "--inventory", action="append", default=[], help="extra inventory")
    add_view_flags(sp)
    sp.set_defaults(func=cmd_provision)
