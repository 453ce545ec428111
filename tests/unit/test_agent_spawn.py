"""How the agent starts a run so that it dies with the agent (sweepops.runtime.agent.spawn_argv).

That it does die with a kill -9 of its agent is tested for real in
tests/integration/test_agent.py; here, which way is chosen.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from sweepops.runtime.agent import _die_with_parent, _setpriv, spawn_argv


@pytest.mark.skipif(_setpriv() is None, reason="no setpriv with --pdeathsig here")
def test_a_program_on_path_is_started_through_setpriv_and_runs() -> None:
    argv, preexec = spawn_argv([sys.executable, "-c", "print('ran')"], os.environ["PATH"])
    assert preexec is None and argv[1:4] == ["--pdeathsig", "KILL", "--"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True)
    assert out.stdout == "ran\n"


def test_a_program_not_found_keeps_the_plain_argv_and_its_oserror() -> None:
    argv, preexec = spawn_argv(["no-such-program-xyz", "--a"], os.environ["PATH"])
    assert argv == ["no-such-program-xyz", "--a"] and preexec is _die_with_parent
    with pytest.raises(OSError):
        subprocess.Popen(argv, preexec_fn=preexec)


def test_without_setpriv_the_child_sets_its_death_signal(monkeypatch) -> None:
    _setpriv.cache_clear()
    monkeypatch.setattr(shutil, "which", lambda name, path=None: None)
    try:
        assert spawn_argv(["python3"], None) == (["python3"], _die_with_parent)
    finally:
        monkeypatch.undo()
        _setpriv.cache_clear()
