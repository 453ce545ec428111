"""sweepops.core.paths spells every path once; the stdlib-only remote/ modules keep their
own copies of the lab-root names, which must agree with it."""

from __future__ import annotations

from pathlib import Path

from sweepops.core import paths
from sweepops.remote import log_lookup, snapshot_store, sweep_layout


def test_the_remote_modules_name_the_lab_root_as_core_paths_does() -> None:
    assert snapshot_store.KINDS == (paths.CODE, paths.AGENT)
    lab = "/lab"
    assert log_lookup.find_log is not None
    text = Path(log_lookup.__file__).read_text()
    assert f'"{paths.DEPLOYS}", deploy_id, "logs"' in text
    assert paths.lab_deploy(lab, "D") == "/lab/deploys/D"
    assert sweep_layout.SWEEPS == paths.SWEEPS
    assert sweep_layout.sweep_dirs(lab, ["S"]) == {"S": str(paths.lab_sweep(lab, "S"))}
    assert paths.lab_code(lab, "K") == "/lab/code/K" and paths.lab_agent(lab, "K") == "/lab/agent/K"


def test_not_code_is_the_journal_and_the_state_dir() -> None:
    assert not paths.is_code(".sweepops/ledger.jsonl") and not paths.is_code("journal/x.md")
    assert paths.is_code("journalism.py") and paths.is_code("src/.sweepops.py")
    assert paths.ledger_file(Path("/r")) == Path("/r/.sweepops/ledger.jsonl")
