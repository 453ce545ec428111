"""main() of the library/ modules whose step runs on the workstation.

The step and its argument spec are in the package (sweepops.ansible.steps), which the
action plugins of the same names also call in Ansible's own process; these modules are the
same steps in a new Python, for when Ansible runs them as modules.
"""

from __future__ import annotations

import json
import sys

from ansible.module_utils import basic


def run_step(name: str) -> None:
    try:
        from sweepops.ansible.steps import module_main
    except ImportError as exc:
        print(
            json.dumps(
                {
                    "failed": True,
                    "msg": f"sweepops is not importable by {sys.executable}: {exc}; install it "
                    "(pip install -e .) into the Python running ansible-playbook",
                }
            )
        )
        sys.exit(1)
    module_main(name, basic.AnsibleModule)
