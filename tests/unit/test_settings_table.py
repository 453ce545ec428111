"""The README's table of settings is made from the roles' defaults and the playbooks'
settings, and is up to date."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from sweepops.core.settings import known_settings
from sweepops.core.settings_table import is_ansible_variable, main, settings, with_table

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_table_is_up_to_date():
    assert main(["--root", str(ROOT)]) == 0, "run: python -m sweepops.core.settings_table --write"


def test_every_known_setting_is_in_the_table():
    rows = settings(ROOT)
    listed = {s.name for s in rows} | {k for s in rows for k in re.findall(r"`(\w+)`", s.where)}
    missing = {n for n in known_settings(ROOT) if not is_ansible_variable(n)} - listed
    assert not missing


def test_a_new_knob_makes_the_table_out_of_date(tmp_path: Path):
    shutil.copytree(ROOT / "roles", tmp_path / "roles")
    shutil.copytree(ROOT / "inventory", tmp_path / "inventory")
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    assert main(["--root", str(tmp_path)]) == 0
    defaults = tmp_path / "roles" / "sbatch" / "defaults" / "main.yml"
    defaults.write_text(
        defaults.read_text() + "# Nodes to prefer.\nsbatch_prefer: \"{{ prefer | default('') }}\"\n"
    )
    assert main(["--root", str(tmp_path)]) == 1
    row = next(s for s in settings(tmp_path) if s.name == "prefer")
    assert (row.default, row.where, row.description) == (
        "''",
        "sbatch (`sbatch_prefer`)",
        "Nodes to prefer.",
    )
    assert main(["--root", str(tmp_path), "--write"]) == 0
    assert "| `prefer` | `''` |" in (tmp_path / "README.md").read_text()


def test_a_readme_without_the_markers_is_an_error():
    import pytest

    with pytest.raises(ValueError, match="settings:begin"):
        with_table("# no table here\n", ROOT)
