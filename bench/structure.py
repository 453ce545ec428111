"""The shape of the code, measured from the tree: what the redesign is judged by.

    python bench/structure.py [--top N]

Prints, for the ``sweepops`` package: modules per package, import circles between modules
(module-level and function-level imports alike), the longest functions, the number of
function-level imports of the package's own modules, and the lines of Jinja logic in
playbooks and roles (a ``{% %}`` statement, or a ``{{ }}`` expression that spans lines or
chains more than two filters). No figure here is a verdict; each is a place to look.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "sweepops"


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if p.is_file()}


def resolve(mod: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
    return ".".join(base + ([node.module] if node.module else []))


def imports(known: dict[str, Path]) -> tuple[dict[str, set[str]], int]:
    """Edges module -> package modules it imports, and the count of function-level ones."""
    edges: dict[str, set[str]] = defaultdict(set)
    local_imports = 0
    for mod, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        is_pkg = path.name == "__init__.py"
        parents: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                parents[child] = node
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = resolve(mod, is_pkg, node)
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
                ]
            else:
                continue
            hits = {t for t in targets if t in known and t != mod}
            if not hits:
                continue
            edges[mod] |= hits
            up = parents.get(node)
            while up is not None and not isinstance(up, (ast.FunctionDef, ast.AsyncFunctionDef)):
                up = parents.get(up)
            if up is not None:
                local_imports += 1
    return edges, local_imports


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in list(edges):
        if v not in index:
            visit(v)
    return out


def longest_functions(known: dict[str, Path], top: int) -> list[tuple[int, str]]:
    found = []
    for mod, path in known.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                found.append((length, f"{mod}.{node.name}"))
    return sorted(found, reverse=True)[:top]


JINJA_STATEMENT = re.compile(r"{%")


def jinja_logic_lines() -> dict[str, int]:
    """Lines of Jinja logic per playbook/role task file (templates/ are not counted)."""
    counts: dict[str, int] = {}
    files = sorted((ROOT / "playbooks").glob("*.yml")) + sorted(ROOT.glob("roles/*/tasks/*.yml"))
    files += sorted(ROOT.glob("roles/*/handlers/*.yml"))
    for path in files:
        text = path.read_text(encoding="utf-8")
        n = 0
        for expr in re.finditer(r"{{(.*?)}}", text, re.S):
            body = expr.group(1)
            if "\n" in body:
                n += body.count("\n") + 1
            elif body.count("|") > 2:
                n += 1
        n += sum(1 for line in text.splitlines() if JINJA_STATEMENT.search(line))
        if n:
            counts[str(path.relative_to(ROOT))] = n
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=8)
    args = parser.parse_args()
    known = modules()
    per_package: dict[str, int] = defaultdict(int)
    for mod, path in known.items():
        if path.name != "__init__.py":
            per_package[mod.rsplit(".", 1)[0]] += 1
    edges, local = imports(known)
    print("modules per package:")
    for pkg, n in sorted(per_package.items()):
        print(f"  {pkg:28} {n}")
    print(f"  total {sum(per_package.values())} modules, {len(per_package)} packages")
    found = circles(edges)
    print(f"import circles: {len(found)}")
    for comp in found:
        print("  " + " <-> ".join(comp))
    print(f"function-level imports of the package's own modules: {local}")
    print("longest functions (lines):")
    for length, name in longest_functions(known, args.top):
        print(f"  {length:4}  {name}")
    jinja = jinja_logic_lines()
    print(f"lines of Jinja logic in playbooks and roles: {sum(jinja.values())}")
    for name, n in sorted(jinja.items(), key=lambda kv: -kv[1]):
        print(f"  {n:4}  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
