"""The README's table of every cluster setting, made from where the settings are defined:
the roles' ``defaults/main.yml`` (a knob's comment is its description; ``sbatch_partition:
"{{ partition | default('') }}"`` is the setting ``partition``) and the playbooks' own
settings (:data:`sweepops.core.settings.PLAYBOOK_SETTINGS`).

``python -m sweepops.core.settings_table --write`` puts the table between the README's
``<!-- settings:begin -->`` and ``<!-- settings:end -->`` lines; ``--check`` (and a unit
test) fails when it is out of date, so a new knob cannot go undocumented.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from sweepops.core.settings import PLAYBOOK_SETTINGS

BEGIN = "<!-- settings:begin (made by python -m sweepops.core.settings_table --write) -->"
END = "<!-- settings:end -->"
_KNOB = re.compile(r"^([a-z_][a-z0-9_]*):\s*(.*)$")
_READS = re.compile(r"""^["']?\{\{\s*([a-z_][a-z0-9_]*)\s*\|\s*default\((.*)\)\s*\}\}["']?$""")


#: Ansible's own variables, which a role knob may default to.
_ANSIBLE_MAGIC = frozenset({"group_names", "inventory_hostname", "playbook_dir", "role_path"})


def is_ansible_variable(name: str) -> bool:
    return name.startswith("ansible_") or name in _ANSIBLE_MAGIC


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    where: str  # the role (and its knob) or "playbooks"
    description: str


def _role_settings(defaults: Path) -> list[Setting]:
    role = defaults.parent.parent.name
    out: list[Setting] = []
    comment: list[str] = []
    for line in defaults.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            comment.append(stripped.lstrip("#").strip())
            continue
        match = _KNOB.match(line)
        if not match:
            comment = []
            continue
        knob, value = match.groups()
        reads = _READS.match(value.strip())
        description = " ".join(comment)
        comment = []
        value = value.strip()
        if value in (">-", ">", "|", "|-", ""):
            value = "(computed: see the role's defaults)"
        if reads and not is_ansible_variable(reads.group(1)):
            name, default = reads.group(1), reads.group(2).strip()
            out.append(Setting(name, default, f"{role} (`{knob}`)", description))
        else:  # a knob of its own (also one that defaults to an Ansible variable)
            out.append(Setting(knob, value, role, description))
    return out


def _inventory_defaults(root: Path) -> dict[str, str]:
    import yaml

    data = yaml.safe_load((root / "inventory" / "group_vars" / "all.yml").read_text()) or {}
    return {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in data.items()}


def settings(root: Path) -> list[Setting]:
    """Every setting, by name; a setting two roles read is listed once, with both roles."""
    found: dict[str, Setting] = {}
    defaults = _inventory_defaults(root)
    for name, description in PLAYBOOK_SETTINGS.items():
        found[name] = Setting(name, defaults.get(name, ""), "playbooks", description)
    # the jobs' role first: a setting several roles read is described as the jobs use it
    files = sorted((root / "roles").glob("*/defaults/main.yml"))
    files.sort(key=lambda f: f.parent.parent.name != "sbatch")
    for defaults_file in files:
        for item in _role_settings(defaults_file):
            have = found.get(item.name)
            if have is None:
                found[item.name] = item
            elif item.where not in have.where:
                found[item.name] = Setting(
                    item.name,
                    have.default or item.default,
                    ", ".join(sorted([*have.where.split(", "), item.where])),
                    have.description or item.description,
                )
    return sorted(found.values(), key=lambda s: s.name)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _rows(items: list[Setting]) -> list[str]:
    lines = ["| setting | default | read by | what it does |", "| --- | --- | --- | --- |"]
    for item in items:
        default = f"`{_cell(item.default)}`" if item.default else ""
        lines.append(
            f"| `{item.name}` | {default} | {_cell(item.where)} | {_cell(item.description)} |"
        )
    return lines


def table(root: Path) -> str:
    """Two tables: the cluster settings (what an inventory usually sets), then every role's
    own knobs (``ROLE_*``, set in the inventory or with ``-e`` to change a role's behaviour)."""
    items = settings(root)
    roles = {d.parent.parent.name for d in (root / "roles").glob("*/defaults/main.yml")}
    own = [
        i for i in items if any(i.name.startswith(f"{r}_") for r in roles) and "`" not in i.where
    ]
    cluster = [i for i in items if i not in own]
    return "\n".join(
        [
            f"Cluster settings ({len(cluster)}):",
            "",
            *_rows(cluster),
            "",
            f"<details><summary>The roles' own knobs ({len(own)})</summary>",
            "",
            *_rows(own),
            "",
            "</details>",
        ]
    )


def with_table(readme: str, root: Path) -> str:
    """The README's text with the table between the markers made anew."""
    if BEGIN not in readme or END not in readme:
        raise ValueError(f"the README has no {BEGIN!r} ... {END!r} section")
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table(root)}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="rewrite the README's table")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2])
    args = parser.parse_args(argv)
    readme = args.root / "README.md"
    text = readme.read_text()
    new = with_table(text, args.root)
    if new == text:
        return 0
    if args.write:
        readme.write_text(new)
        return 0
    print(
        "README.md's table of settings is out of date: run "
        "python -m sweepops.core.settings_table --write",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
