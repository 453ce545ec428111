"""Standard library only: the code that runs on login hosts.

``module_utils/sweepops_remote`` links to this package, so a module in ``library/`` imports
``ansible.module_utils.sweepops_remote.NAME`` and Ansible ships NAME and the siblings it
imports (relatively: ``from .slurm import ...``) to the login host. The cluster-side modules'
specs and functions are here too (:mod:`.module_spec`); tests/unit/test_remote_stdlib.py
imports every module with nothing but the standard library.
"""
