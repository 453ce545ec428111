"""YAML loading that remembers the line of every key, and refuses duplicate keys.

``parse_yaml`` returns a :class:`YamlDoc`: the plain data (dicts, lists, scalars, exactly
what ``yaml.safe_load`` would give) plus a map from *key paths* to 1-based line numbers.
A key path is a tuple of mapping keys and list indices, e.g. ``("parameters", "lr")`` or
``("command", 2)``.  Duplicate keys do not stop parsing; they are collected in
``YamlDoc.problems`` so a caller can report them together with its own findings.

Problems are strings of one shape, used across sweepops::

    FILE:LINE: key 'KEY': WHAT IS WRONG; allowed: WHAT IS ALLOWED
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

KeyPath = tuple[Any, ...]

DOCUMENT_KEY = "<document>"
_MERGE_TAG = "tag:yaml.org,2002:merge"


def dotted(path: Iterable[Any]) -> str:
    """Render a key path as ``parameters.lr`` / ``command[2]`` (``<document>`` when empty)."""
    text = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or DOCUMENT_KEY


def format_problem(file: str, line: int, key: str, what: str, allowed: str) -> str:
    """Format one problem as ``FILE:LINE: key 'KEY': WHAT; allowed: ALLOWED``."""
    return f"{file}:{line}: key '{key}': {what}; allowed: {allowed}"


class YamlSyntaxError(Exception):
    """The text is not well-formed YAML. ``problem`` is the formatted problem string."""

    def __init__(self, file: str, line: int, detail: str):
        self.file = file
        self.line = line
        self.detail = detail
        self.problem = format_problem(
            file, line, DOCUMENT_KEY, f"invalid YAML: {detail}", "well-formed YAML"
        )
        super().__init__(self.problem)


@dataclass(frozen=True)
class YamlDoc:
    """A parsed YAML document with the line number of every key and list item."""

    file: str
    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    def line_of(self, path: KeyPath) -> int:
        """Line of ``path``, or of its nearest ancestor that has one (1 at worst)."""
        for end in range(len(path), 0, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return 1

    def problem(self, path: KeyPath, what: str, allowed: str) -> str:
        """Format a problem located at ``path`` in this document."""
        return format_problem(self.file, self.line_of(path), dotted(path), what, allowed)


def parse_yaml(text: str | bytes, file: str) -> YamlDoc:
    """Parse one YAML document, recording key lines and duplicate keys.

    ``file`` is only used in messages. Raises :class:`YamlSyntaxError` for malformed YAML
    (with the parser's line). An empty document gives ``data=None``.
    """
    if isinstance(text, bytes):
        text = _decode(text, file)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        walker = _Walker(loader, file)
        if node is not None:
            walker.walk(node, ())
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, file) from exc
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(file, 1, str(exc)) from exc
    finally:
        loader.dispose()
    return YamlDoc(file=file, data=data, lines=walker.lines, problems=tuple(walker.problems))


def _decode(raw: bytes, file: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise YamlSyntaxError(file, line, "file is not valid UTF-8") from exc


def _syntax_error(exc: yaml.MarkedYAMLError, file: str) -> YamlSyntaxError:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else 1
    context = exc.context
    if (
        context
        and exc.context_mark is not None
        and exc.context_mark.line != getattr(mark, "line", None)
    ):
        context += f" started on line {exc.context_mark.line + 1}"
    detail = ": ".join(part for part in (context, exc.problem) if part) or str(exc)
    return YamlSyntaxError(file, line, detail)


class _Walker:
    """Walks a composed node tree: records key lines, collects duplicate keys."""

    def __init__(self, loader: yaml.SafeLoader, file: str):
        self.loader = loader
        self.file = file
        self.lines: dict[KeyPath, int] = {}
        self.problems: list[str] = []

    def walk(self, node: Node, path: KeyPath) -> None:
        if isinstance(node, MappingNode):
            self._walk_mapping(node, path, seen={}, merged=False)
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                self.lines.setdefault(path + (index,), item.start_mark.line + 1)
                self.walk(item, path + (index,))

    def _walk_mapping(
        self, node: MappingNode, path: KeyPath, seen: dict[Any, int], merged: bool
    ) -> None:
        merges: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merges.append(value_node)
                continue
            key = self._key(key_node)
            line = key_node.start_mark.line + 1
            if merged:
                if key in seen:
                    continue  # explicit keys win over merged ones
            elif key in seen:
                self.problems.append(
                    format_problem(
                        self.file,
                        line,
                        dotted(path + (key,)),
                        f"duplicate key (first defined on line {seen[key]})",
                        "each key once per mapping",
                    )
                )
                continue
            seen[key] = line
            self.lines[path + (key,)] = line
            self.walk(value_node, path + (key,))
        for merge in merges:
            sources = merge.value if isinstance(merge, SequenceNode) else [merge]
            for source in sources:
                if isinstance(source, MappingNode):
                    self._walk_mapping(source, path, seen, merged=True)

    def _key(self, key_node: Node) -> Any:
        if not isinstance(key_node, ScalarNode):
            kind = type(key_node).__name__.replace("Node", "").lower()
            return f"<{kind} at line {key_node.start_mark.line + 1}>"
        return self.loader.construct_object(key_node, deep=True)
