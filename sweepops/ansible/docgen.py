"""The ``DOCUMENTATION``, ``EXAMPLES`` and ``RETURN`` of every module, generated from its spec.

Each module in ``library/`` and ``roles/*/library/`` has one :class:`ModuleSpec` (the
workstation steps' in sweepops.ansible.steps, the login hosts' next to their logic in
sweepops/remote/). This writes each module's documentation block from it, as YAML that
``ansible-doc`` parses::

    python -m sweepops.ansible.docgen --write   # rewrite the blocks
    python -m sweepops.ansible.docgen --check   # exit 1 naming each module whose block differs

tests/unit/test_module_docs.py runs the check, so a block edited by hand fails the tests.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import pkgutil
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

import sweepops.remote
from sweepops.ansible import steps
from sweepops.remote.module_spec import ModuleSpec

REPO = Path(__file__).resolve().parents[2]
BEGIN = (
    "# BEGIN DOCUMENTATION, generated from its spec {source}:\n"
    "# edit the spec, then run `python -m sweepops.ansible.docgen --write`."
)
END = "# END DOCUMENTATION"
BLOCK_NAMES = ("DOCUMENTATION", "EXAMPLES", "RETURN")


class _Dumper(yaml.SafeDumper):
    """Block lists indented under their key, as Ansible's own modules write them."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> Any:
        return super().increase_indent(flow, False)


def all_specs() -> dict[str, tuple[ModuleSpec, str]]:
    """Every module's spec and where it is defined, by module name."""
    found = {name: (spec, "sweepops.ansible.steps.SPECS") for name, spec in steps.SPECS.items()}
    for info in pkgutil.iter_modules(sweepops.remote.__path__):
        module = importlib.import_module(f"sweepops.remote.{info.name}")
        for attr, value in vars(module).items():
            if isinstance(value, ModuleSpec):
                if value.name in found:
                    raise ValueError(f"two specs for {value.name}: {found[value.name][1]}, {attr}")
                found[value.name] = (value, f"{module.__name__}.{attr}")
    return found


def module_files(repo: Path = REPO) -> list[Path]:
    """The module files: ``library/*.py`` and ``roles/*/library/*.py``."""
    return sorted([*repo.glob("library/*.py"), *repo.glob("roles/*/library/*.py")])


def _yaml(data: Mapping[str, Any]) -> str:
    text = yaml.dump(
        dict(data), Dumper=_Dumper, sort_keys=False, width=64, default_flow_style=False
    )
    if '"""' in text:
        raise ValueError('a spec text contains """, which would end the module\'s string')
    return text


def render(spec: ModuleSpec, source: str) -> str:
    """The generated block of ``spec``'s module."""
    parts = [BEGIN.format(source=source), f'DOCUMENTATION = r"""\n{_yaml(spec.documentation())}"""']
    if spec.examples:
        parts.append(f'EXAMPLES = r"""\n{spec.examples.strip()}\n"""')
    if spec.returns:
        parts.append(f'RETURN = r"""\n{_yaml(spec.returns)}"""')
    return "\n\n".join(parts) + f"\n{END}"


def _block_span(lines: list[str], text: str) -> tuple[int, int] | None:
    """The 0-based [start, end) lines of the present block: the markers', else the span of
    the hand-written DOCUMENTATION / EXAMPLES / RETURN assignments."""
    begin = [i for i, line in enumerate(lines) if line.startswith("# BEGIN DOCUMENTATION")]
    end = [i for i, line in enumerate(lines) if line.startswith(END)]
    if begin and end:
        return begin[0], end[0] + 1
    body = ast.parse(text).body
    nodes = [
        node
        for node in body
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id in BLOCK_NAMES for t in node.targets)
    ]
    if not nodes:
        return None
    start, stop = nodes[0].lineno - 1, max(n.end_lineno or n.lineno for n in nodes)
    between = [n for n in body if start < n.lineno - 1 < stop and n not in nodes]
    if between:
        raise ValueError(f"line {between[0].lineno} lies between the documentation strings")
    return start, stop


def regenerate(text: str, block: str) -> str:
    """``text`` (a module's source) with its documentation block replaced by ``block``."""
    lines = text.splitlines()
    span = _block_span(lines, text)
    if span is None:
        raise ValueError("no DOCUMENTATION block (nor its markers) to replace")
    start, stop = span
    return "\n".join([*lines[:start], block, *lines[stop:]]) + "\n"


def generated(path: Path, specs: Mapping[str, tuple[ModuleSpec, str]]) -> str:
    """What the module file at ``path`` holds once its block is generated."""
    if path.stem not in specs:
        raise KeyError(f"{path}: no ModuleSpec named {path.stem}")
    spec, source = specs[path.stem]
    return regenerate(path.read_text(), render(spec, source))


def stale(paths: Iterable[Path], specs: Mapping[str, tuple[ModuleSpec, str]]) -> list[Path]:
    """The module files whose documentation is not what their spec generates."""
    return [p for p in paths if p.read_text() != generated(p, specs)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sweepops.ansible.docgen")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite the blocks from the specs")
    mode.add_argument("--check", action="store_true", help="fail when a block differs")
    args = parser.parse_args(argv)
    specs = all_specs()
    paths = module_files()
    names = {p.stem for p in paths}
    unused, missing = sorted(set(specs) - names), sorted(names - set(specs))
    if unused or missing:
        for what, which in (
            ("specs without a module file", unused),
            ("modules without a spec", missing),
        ):
            if which:
                print(f"{what}: {', '.join(which)}", file=sys.stderr)
        return 1
    differ = stale(paths, specs)
    if args.check:
        for path in differ:
            print(f"{path.relative_to(REPO)}: DOCUMENTATION differs from its spec", file=sys.stderr)
        return 1 if differ else 0
    for path in differ:
        path.write_text(generated(path, specs))
        print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
