"""Read wandb's binary run log (``run-<id>.wandb``) without a wandb server.

wandb >= 0.2x in offline mode writes no ``config.yaml`` / ``wandb-summary.json``;
everything lives in ``<dir>/wandb/offline-run-<YYYYMMDD_HHMMSS>-<id>/run-<id>.wandb``
and the SDK no longer ships a Python reader for it. This module is that reader.

File format (verified against files written by wandb 0.31.0):

* 7-byte header: ``b":W&B"``, magic ``0xBEE1`` (uint16 little-endian), version byte (0).
* LevelDB-log framing, with blocks of 32 KiB counted from file offset 0 (so the
  first block holds ``32768 - 7`` bytes after the header). Every chunk has a 7-byte
  header ``crc (uint32 LE), length (uint16 LE), type (uint8)`` with type
  FULL=1 / FIRST=2 / MIDDLE=3 / LAST=4; a block tail shorter than 7 bytes is zero
  padding.
* **Checksum:** unlike LevelDB proper, wandb stores the plain (unmasked) IEEE
  CRC-32 -- ``zlib.crc32`` -- of the type byte followed by the payload, not a
  masked CRC-32C. It is cheap (C implementation), so every chunk is verified.
* Each reassembled payload is a serialized ``wandb_internal.Record`` protobuf.

Protobuf decoding uses wandb's generated descriptors, but loads them into a private
descriptor pool straight from the ``wandb/proto/v<N>/*_pb2.py`` sources, because
``import wandb.proto.wandb_internal_pb2`` imports all of ``wandb`` (~0.6 s); the
private pool costs ~30 ms. If that ever fails, it falls back to the normal import.

Values are stored by wandb as JSON strings; nested dicts are stored as key paths
(``nested_key``). Both ``config``, ``summary`` and ``history`` rows are rebuilt into
nested plain Python dicts (``{"a": {"b": 1}}``, not ``{"a.b": 1}``).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import os
import re
import struct
import sys
import zlib
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["RunLog", "find_run_file", "read_run", "read_run_file"]

_HEADER = b":W&B" + struct.pack("<H", 0xBEE1)
_HEADER_LEN = len(_HEADER) + 1  # plus the version byte
_SUPPORTED_VERSIONS = (0,)
_BLOCK = 32 * 1024
_CHUNK_HEADER = struct.Struct("<IHB")
_CHUNK_HEADER_LEN = _CHUNK_HEADER.size  # 7
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4
# CRC of each type byte, used as the seed when checksumming a payload.
_TYPE_CRC = {t: zlib.crc32(bytes([t])) for t in (_FULL, _FIRST, _MIDDLE, _LAST)}

# Summary keys starting with "_" are wandb-internal; these two are kept.
_KEEP_PRIVATE_SUMMARY = frozenset({"_runtime", "_step"})


@dataclass
class RunLog:
    """Everything sweepops needs from one wandb run log."""

    run_id: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    exit_code: int | None = None
    tags: list[str] = field(default_factory=list)
    group: str | None = None
    sweep_id: str | None = None
    git_commit: str | None = None
    git_remote: str | None = None
    host: str | None = None
    start_time: float | None = None
    complete: bool = True


# --------------------------------------------------------------------------- protobuf


_record_cls: Any = None


def _record_class() -> Any:
    """Return the ``wandb_internal.Record`` message class, loading it once, cheaply."""
    global _record_cls
    if _record_cls is None:
        loaded: Any = sys.modules.get("wandb.proto.wandb_internal_pb2")
        if loaded is not None:
            _record_cls = loaded.Record
        else:
            try:
                _record_cls = _load_record_class_private()
            except Exception:  # any layout change in wandb: use the (slow) official import
                official: Any = importlib.import_module("wandb.proto.wandb_internal_pb2")
                _record_cls = official.Record
    return _record_cls


_SERIALIZED_RE = re.compile(r"AddSerializedFile\((b'(?:[^'\\\n]|\\.)*')\)")
_WANDB_IMPORT_RE = re.compile(r"^from wandb\.proto import (\w+_pb2) as ", re.M)
_GOOGLE_IMPORT_RE = re.compile(r"^from google\.protobuf import (\w+_pb2) as ", re.M)


def _load_record_class_private() -> Any:
    """Build ``Record`` in a private descriptor pool from wandb's generated sources.

    This avoids executing ``wandb/__init__.py`` and leaves both ``sys.modules`` and
    protobuf's default pool untouched.
    """
    import google.protobuf
    from google.protobuf import descriptor_pool, message_factory

    spec = importlib.util.find_spec("wandb")  # locates the package without importing it
    if spec is None or spec.origin is None:
        raise ImportError("wandb is not installed")
    major = google.protobuf.__version__.split(".")[0]
    proto_dir = Path(spec.origin).parent / "proto" / f"v{major}"
    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()

    def add(name: str) -> None:
        if name in added:
            return
        added.add(name)
        source = (proto_dir / f"{name}.py").read_text(encoding="utf-8")
        for dep in _GOOGLE_IMPORT_RE.findall(source):
            if dep not in added:
                added.add(dep)
                module = importlib.import_module(f"google.protobuf.{dep}")
                pool.AddSerializedFile(module.DESCRIPTOR.serialized_pb)
        for dep in _WANDB_IMPORT_RE.findall(source):
            add(dep)
        match = _SERIALIZED_RE.search(source)
        if match is None:
            raise ImportError(f"no serialized descriptor in {name}")
        pool.AddSerializedFile(ast.literal_eval(match.group(1)))

    add("wandb_internal_pb2")
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("wandb_internal.Record"))


# --------------------------------------------------------------------------- framing


def _iter_payloads(data: bytes, path: Path) -> Iterator[bytes | None]:
    """Yield each complete record payload; yield ``None`` last if the log is incomplete.

    Stops (after yielding ``None``) at the first chunk that is cut off, fails its
    CRC, or is otherwise malformed -- for a file still being appended to, that is
    exactly the not-yet-written tail.
    """
    n = len(data)
    if n < _HEADER_LEN:
        if not (_HEADER + b"\x00").startswith(data):
            raise ValueError(f"{path}: not a wandb run log (bad header)")
        yield None  # header not fully written yet
        return
    if data[: len(_HEADER)] != _HEADER:
        raise ValueError(f"{path}: not a wandb run log (bad header)")
    version = data[len(_HEADER)]
    if version not in _SUPPORTED_VERSIONS:
        raise ValueError(f"{path}: unsupported wandb run log version {version}")

    unpack = _CHUNK_HEADER.unpack_from
    crc32 = zlib.crc32
    pos = _HEADER_LEN
    parts: list[bytes] | None = None  # pieces of a fragmented record
    while pos < n:
        block_end = pos - pos % _BLOCK + _BLOCK
        if block_end - pos < _CHUNK_HEADER_LEN:
            pos = block_end  # zero padding at the end of a block
            continue
        end = pos + _CHUNK_HEADER_LEN
        if end > n:
            break
        crc, length, rtype = unpack(data, pos)
        start, end = end, end + length
        seed = _TYPE_CRC.get(rtype)
        if end > n or end > block_end or seed is None:
            break
        payload = data[start:end]
        if crc32(payload, seed) != crc:
            break
        pos = end
        if rtype == _FULL:
            if parts is not None:
                break
            yield payload
        elif rtype == _FIRST:
            if parts is not None:
                break
            parts = [payload]
        elif parts is None:
            break
        else:
            parts.append(payload)
            if rtype == _LAST:
                yield b"".join(parts)
                parts = None
    if pos < n or parts is not None:
        yield None


# --------------------------------------------------------------------------- values


def _item_path(item: Any) -> tuple[str, ...]:
    """The key path of a config/summary/history item (``nested_key``, else ``key``)."""
    nested = item.nested_key
    return tuple(nested) if nested else (item.key,)


_REMOVED = object()  # marks a removal in an _Ops log


class _Ops:
    """A compacted log of set/remove operations on a nested dict (config, summary).

    Only the last operation per key path is kept, in the order of those last
    operations; replaying that gives the same result as replaying everything, and
    it makes the thousands of per-step summary updates cost one dict store each.
    Values stay undecoded JSON strings until :meth:`build`.
    """

    def __init__(self) -> None:
        self.ops: dict[tuple[str, ...], Any] = {}

    def apply(self, updates: Iterable[Any], removes: Iterable[Any]) -> None:
        """Record a ConfigRecord / SummaryRecord's updates and removals."""
        ops = self.ops
        for item in updates:
            path = _item_path(item)
            ops.pop(path, None)
            ops[path] = item.value_json
        for item in removes:
            path = _item_path(item)
            ops.pop(path, None)
            ops[path] = _REMOVED

    def build(self) -> dict[str, Any]:
        """Replay the operations into a nested dict of decoded values.

        Setting ``a.b`` when ``a`` holds a non-dict replaces it with a dict (merging
        into it if it is a JSON object), as wandb does.
        """
        tree: dict[str, Any] = {}
        for path, raw in self.ops.items():
            node = tree
            for key in path[:-1]:
                child = node.get(key)
                if not isinstance(child, dict):
                    if raw is _REMOVED:
                        break
                    child = node[key] = {}
                node = child
            else:
                if raw is _REMOVED:
                    node.pop(path[-1], None)
                else:
                    node[path[-1]] = _loads(raw)
        return tree


def _loads(raw: str) -> Any:
    """Decode one wandb JSON value; undecodable text is returned as-is."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _history_value(item: Any) -> Any:
    """Decode a HistoryItem stored in the typed ``value`` oneof (not ``value_json``)."""
    kind = item.WhichOneof("value")
    if kind is None or kind == "none":
        return None
    if kind == "json":
        return _loads(item.json)
    return getattr(item, kind)


def _history_row(record: Any) -> dict[str, Any]:
    """Decode one HistoryRecord into a (nested) dict of plain values."""
    items = record.item
    raws = [item.value_json for item in items]
    values: list[Any]
    try:  # one json.loads per row instead of one per value
        if not all(raws):
            raise ValueError
        values = json.loads("[" + ",".join(raws) + "]")
        if len(values) != len(raws):
            raise ValueError
    except ValueError:
        values = [
            _loads(raw) if raw else _history_value(item)
            for raw, item in zip(raws, items, strict=True)
        ]
    row: dict[str, Any] = {}
    for item, value in zip(items, values, strict=True):
        path = _item_path(item)
        node = row
        for key in path[:-1]:
            child = node.get(key)
            if not isinstance(child, dict):
                child = node[key] = {}
            node = child
        node[path[-1]] = value
    return row


# --------------------------------------------------------------------------- API


def read_run_file(path: Path, *, max_history: int | None = None) -> RunLog:
    """Read one ``run-<id>.wandb`` file.

    ``max_history`` keeps only the *last* ``max_history`` history rows (``0``: none);
    the summary is always computed from the whole file. A file that is still being
    written or whose writer was killed is read up to its last complete record and
    gives ``complete=False``; in such a file the summary may already include the
    step whose history record was cut off (wandb writes the summary first). A file
    that is not a wandb run log raises ``ValueError`` naming the path.
    """
    path = Path(path)
    with open(path, "rb") as f:
        data = f.read()
    record_cls = _record_class()
    log = RunLog()
    config = _Ops()
    summary = _Ops()
    history: deque[Any] = deque(maxlen=max_history)
    env_commit = env_remote = env_host = None
    have_run = False

    for payload in _iter_payloads(data, path):
        if payload is None:
            log.complete = False
            break
        record = record_cls()
        try:
            record.ParseFromString(payload)
        except Exception:  # CRC matched but the protobuf did not parse: stop here
            log.complete = False
            break
        kind = record.WhichOneof("record_type")
        if kind == "history":
            if max_history != 0:
                history.append(record.history)
        elif kind == "summary":
            summary.apply(record.summary.update, record.summary.remove)
        elif kind == "config":
            config.apply(record.config.update, record.config.remove)
        elif kind == "run":
            _apply_run(log, record.run, config, summary, first=not have_run)
            have_run = True
        elif kind == "exit":
            log.exit_code = record.exit.exit_code
        elif kind == "environment":
            env = record.environment
            env_commit = env_commit or env.git.commit or None
            env_remote = env_remote or env.git.remote_url or None
            env_host = env_host or env.host or None

    log.git_commit = log.git_commit or env_commit
    log.git_remote = log.git_remote or env_remote
    log.host = log.host or env_host
    log.config = config.build()
    log.config.pop("_wandb", None)
    log.summary = {
        k: v
        for k, v in summary.build().items()
        if not k.startswith("_") or k in _KEEP_PRIVATE_SUMMARY
    }
    log.history = [_history_row(h) for h in history]
    return log


def _apply_run(log: RunLog, run: Any, config: _Ops, summary: _Ops, *, first: bool) -> None:
    """Merge a RunRecord into ``log``: the first sets everything, later ones what they set."""
    if run.run_id:
        log.run_id = run.run_id
    if first or run.tags:
        log.tags = list(run.tags)
    for attr, value in (
        ("group", run.run_group),
        ("sweep_id", run.sweep_id),
        ("host", run.host),
        ("git_commit", run.git.commit),
        ("git_remote", run.git.remote_url),
    ):
        if value:
            setattr(log, attr, value)
    if run.HasField("start_time"):
        log.start_time = run.start_time.seconds + run.start_time.nanos / 1e9
    if run.HasField("config"):
        config.apply(run.config.update, run.config.remove)
    if run.HasField("summary"):
        summary.apply(run.summary.update, run.summary.remove)


_RUN_DIR_RE = re.compile(r"(?:offline-)?run-(\d{8}_\d{6})-(.+)")


def find_run_file(wandb_dir: Path, run_id: str) -> Path | None:
    """Newest ``<wandb_dir>/wandb/offline-run-<ts>-<run_id>/run-<run_id>.wandb``.

    ``wandb_dir`` may be the directory given to ``wandb.init(dir=...)`` /
    ``WANDB_DIR`` or the inner ``wandb`` directory itself. Online-mode directories
    (``run-<ts>-<id>``) are accepted too. "Newest" is by the timestamp in the
    directory name (file mtime breaks ties). Returns ``None`` if there is none.
    """
    wandb_dir = Path(wandb_dir)
    inner = wandb_dir / "wandb"
    base = inner if inner.is_dir() else wandb_dir
    best: tuple[str, float, Path] | None = None
    try:
        entries = list(os.scandir(base))
    except OSError:
        return None
    for entry in entries:
        match = _RUN_DIR_RE.fullmatch(entry.name)
        if match is None or match.group(2) != run_id:
            continue
        candidate = Path(entry.path) / f"run-{run_id}.wandb"
        try:
            mtime = candidate.stat().st_mtime
        except OSError:
            continue
        key = (match.group(1), mtime, candidate)
        if best is None or key[:2] > best[:2]:
            best = key
    return best[2] if best else None


def read_run(wandb_dir: Path, run_id: str, **kw: Any) -> RunLog | None:
    """``read_run_file(find_run_file(wandb_dir, run_id), **kw)``, or ``None`` if not found."""
    path = find_run_file(wandb_dir, run_id)
    return read_run_file(path, **kw) if path is not None else None
