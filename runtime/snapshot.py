"""Whole-sandbox snapshots: the file format, memory capture and the baseline it is diffed against.

Between turns the wasm stack is empty, so linear memory plus a little host state is the whole
sandbox (DESIGN.md, "Snapshots"). A snapshot file is::

    MAGIC (8 bytes) | header length (u32 LE) | header (JSON) | payload
    | SHA-256 of all before | HMAC-SHA256 of all before the SHA-256 (the installation's key)

The header names the format version and the guest artifact; the payload is zstd frames holding
the 64 KiB memory pages that differ from a freshly instantiated guest, then one frame holding
the sandbox's writable layers in our own format (``snapshot_layers``, never a tar).

A snapshot file is untrusted input. ``decode`` refuses, with ``SnapshotError`` and before
anything is touched: a truncated or changed file (SHA-256), a file not signed by this
installation (HMAC, see ``snapshot_signing``; ``jupyter-sandbox snapshot import`` re-signs a
file the user trusts), another format or guest build, and a header whose sizes do not fit the
sandbox's limits. Decompression is bounded by the sizes checked in the header, so a small file
that claims or expands to gigabytes is refused before it allocates them.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import wasmtime
import zstandard

from . import module_cache, snapshot_signing
from .artifacts import guest_artifacts
from .atomic_file import atomic_write
from .errors import SnapshotError, SnapshotNotTrustedError, SnapshotTooLargeError
from .snapshot_layers import LayerLimits, PackedLayers
from .wasmtime_private import memory_view

__all__ = ["FORMAT_VERSION", "Bounds", "LayersPart", "Packed", "SnapshotError",
           "SnapshotImage", "SnapshotNotTrustedError", "SnapshotTooLargeError", "atomic_write",
           "decode", "encode", "peek_header", "read_file", "read_header", "resign",
           "write_memory"]

MAGIC = b"JSBSNAP\x00"
#: 3: layers in our own format (was a tar), an HMAC after the SHA-256.
FORMAT_VERSION = 3
PAGE = 64 * 1024
_DIGEST = 32
_TRAILER = _DIGEST + snapshot_signing.SIGNATURE_BYTES
_PREFIX = len(MAGIC) + 4
#: A header lists the changed pages: 4 GiB of memory is 65536 pages, well under this.
MAX_HEADER_BYTES = 8 << 20
#: wasm32's whole address space.
MAX_MEMORY_BYTES = 4 << 30
_ZSTD_LEVEL = 3
#: Smallest piece compressed on its own (4 MiB): smaller ones cost more than they save.
_MIN_CHUNK_PAGES = 64
_MAX_FD = 1 << 20


@dataclass(frozen=True)
class Bounds:
    """What a snapshot may hold to be restored into one sandbox (its memory limit and quota)."""

    memory_bytes: int
    layers: LayerLimits

    @classmethod
    def of(cls, memory_bytes: int, workspace_bytes: int, workspace_files: int) -> Bounds:
        return cls(memory_bytes, LayerLimits(workspace_bytes, workspace_files))

    def max_file_bytes(self) -> int:
        """The largest snapshot file worth reading (zstd never expands by more than a little)."""
        raw = self.memory_bytes + self.layers.max_stream_bytes()
        return raw + raw // 64 + MAX_HEADER_BYTES + (1 << 20)


@dataclass(frozen=True)
class LayersPart:
    """The compressed layer stream of a snapshot, checked when it is unpacked."""

    frame: bytes | memoryview
    raw_bytes: int
    points: tuple[str, ...]


@dataclass
class SnapshotImage:
    """A decoded snapshot: what a restore needs."""

    header: dict[str, Any]
    #: page index -> 64 KiB page, for pages that differ from a fresh guest.
    pages: dict[int, bytes | memoryview]
    memory_bytes: int
    #: The writable layers; None when the snapshot carries no files (recovery points).
    layers: LayersPart | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# -- the baseline: memory of a freshly instantiated guest ------------------------------------
_baseline_lock = threading.Lock()
_baseline: tuple[wasmtime.Store, memoryview] | None = None


def baseline_memory() -> memoryview:
    """Linear memory of a guest right after instantiation, kept alive per process.

    Instantiated with every import a trap: nothing runs, we only read the data segments. The
    memory is a copy-on-write mapping of the compiled module's image, so keeping it costs no
    private memory (a copy in Python would cost 40 MiB per process).
    """
    global _baseline
    with _baseline_lock:
        if _baseline is None:
            module = module_cache.guest_module()
            store = wasmtime.Store(module_cache.engine())
            store.set_epoch_deadline(1 << 40)
            linker = wasmtime.Linker(module_cache.engine())
            linker.define_unknown_imports_as_traps(module)
            instance = linker.instantiate(store, module)
            memory = instance.exports(store)["memory"]
            if not isinstance(memory, wasmtime.Memory):
                raise SnapshotError("the guest module exports no memory")
            _baseline = (store, memory_view(memory, store).toreadonly())
        return _baseline[1]


def changed_indices(memory: bytes | memoryview) -> list[int]:
    """Indices of the pages of ``memory`` that differ from the baseline (past it: from zero).

    Compared as bytes: memoryview equality goes element by element and is ten times slower
    than copying each page and comparing with memcmp.
    """
    base = baseline_memory()
    view = memoryview(memory)
    zero = bytes(PAGE)
    changed = []
    for index in range(len(view) // PAGE):
        start = index * PAGE
        reference = base[start : start + PAGE].tobytes() if start < len(base) else zero
        if view[start : start + PAGE].tobytes() != reference:
            changed.append(index)
    return changed


# -- memory pages ------------------------------------------------------------------------------
def _parallel(func: Any, items: list[Any]) -> list[Any]:
    """zstandard releases the GIL: compress or decompress the pieces on all cores."""
    if len(items) <= 2:
        return [func(item) for item in items]
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(len(items), 8)) as pool:
        return list(pool.map(func, items))


def _decompress_exact(frame: bytes | memoryview, size: int) -> bytes:
    """One zstd frame that must expand to exactly ``size`` bytes (already bounded by the
    caller). The frame's own content size is checked first: zstandard would otherwise allocate
    whatever it claims, whatever ``max_output_size`` says."""
    try:
        claimed = zstandard.get_frame_parameters(bytes(frame[:18])).content_size
        if claimed != zstandard.CONTENTSIZE_UNKNOWN and claimed != size:
            raise SnapshotError("the snapshot payload does not match its header")
        out = zstandard.ZstdDecompressor().decompress(frame, max_output_size=max(size, 1))
    except zstandard.ZstdError as exc:
        raise SnapshotError(f"the snapshot payload cannot be decompressed: {exc}") from exc
    if len(out) != size:
        raise SnapshotError("the snapshot payload does not match its header")
    return out


def _check_frame(frame: bytes | memoryview, size: int) -> None:
    """Like ``_decompress_exact`` but streaming, keeping nothing (``snapshot import``)."""
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(frame)
        seen = 0
        while True:
            piece = reader.read(min(4 << 20, size - seen + 1))
            if not piece:
                break
            seen += len(piece)
            if seen > size:
                break
    except zstandard.ZstdError as exc:
        raise SnapshotError(f"the snapshot payload cannot be decompressed: {exc}") from exc
    if seen != size:
        raise SnapshotError("the snapshot payload does not match its header")


@dataclass
class Packed:
    """Changed pages as compressed pieces: what a snapshot file carries, and what a recovery
    point keeps in memory."""

    order: list[int]
    memory_bytes: int
    #: (compressed bytes, uncompressed size) per piece of pages.
    chunks: list[tuple[bytes | memoryview, int]]

    def image(self, header: dict[str, Any], layers: LayersPart | None = None) -> SnapshotImage:
        """Decompress into an image a restore can write (raises ``SnapshotError``)."""
        pieces = _parallel(lambda chunk: _decompress_exact(chunk[0], chunk[1]), self.chunks)
        if sum(len(p) for p in pieces) != len(self.order) * PAGE:
            raise SnapshotError("the snapshot payload does not match its header")
        pages: dict[int, bytes | memoryview] = {}
        position = 0
        for piece in pieces:
            view = memoryview(piece)
            for offset in range(0, len(view), PAGE):
                pages[self.order[position]] = view[offset : offset + PAGE]
                position += 1
        return SnapshotImage(header, pages, self.memory_bytes, layers)


def pack(memory: bytes | memoryview) -> Packed:
    """Compress the changed pages straight out of ``memory`` (no copy of the pages: run it
    while the guest is stopped), in about one piece per core so restores decompress in
    parallel; zstd's own threads do the compressing."""
    view = memoryview(memory)
    order = changed_indices(view)
    per_piece = max(_MIN_CHUNK_PAGES, -(-len(order) // max(1, min(os.cpu_count() or 1, 8))))
    chunks: list[tuple[bytes | memoryview, int]] = []
    for first in range(0, len(order), per_piece):
        compressor = zstandard.ZstdCompressor(level=_ZSTD_LEVEL, threads=-1).compressobj()
        parts = [compressor.compress(view[i * PAGE : (i + 1) * PAGE])
                 for i in order[first : first + per_piece]]
        parts.append(compressor.flush())
        chunks.append((b"".join(parts), len(order[first : first + per_piece]) * PAGE))
    return Packed(order, len(view), chunks)


# -- the file ----------------------------------------------------------------------------------
def encode(header: dict[str, Any], memory: bytes | memoryview, layers: PackedLayers | None,
           key: bytes) -> bytes:
    """Serialize and sign a snapshot. ``header`` is completed with format, artifact, layout."""
    packed = pack(memory)
    full = {
        **header,
        "format": FORMAT_VERSION,
        "artifact": guest_artifacts().identity,
        "created": time.time(),
        "memory_bytes": packed.memory_bytes,
        "pages": packed.order,
        "chunks": [[len(c), raw] for c, raw in packed.chunks],
        "layers": None if layers is None else {"compressed": len(layers.frame),
                                              **layers.describe()},
    }
    head = json.dumps(full, separators=(",", ":")).encode()
    frames = [bytes(c) for c, _ in packed.chunks] + ([layers.frame] if layers else [])
    body = b"".join([MAGIC, struct.pack("<I", len(head)), head, *frames])
    return _seal(body, key)


def _seal(body: bytes, key: bytes) -> bytes:
    return body + hashlib.sha256(body).digest() + snapshot_signing.sign(key, body)


def peek_header(head: bytes) -> dict[str, Any]:
    """The header from the first bytes of a file, without checking the whole file (listings)."""
    if not head.startswith(MAGIC) or len(head) < _PREFIX:
        raise SnapshotError("not a jupyter-sandbox snapshot")
    (head_len,) = struct.unpack_from("<I", head, len(MAGIC))
    if head_len > MAX_HEADER_BYTES:
        raise SnapshotError("the snapshot header is unreadable (too long)")
    try:
        header = json.loads(head[_PREFIX : _PREFIX + head_len])
    except ValueError as exc:
        raise SnapshotError(f"the snapshot header is unreadable: {exc}") from exc
    if not isinstance(header, dict):
        raise SnapshotError("the snapshot header is unreadable (not an object)")
    return header


def read_header(data: bytes | memoryview, key: bytes | None) -> dict[str, Any]:
    """Check magic, format, integrity, signature (skipped when ``key`` is None: ``import``) and
    guest build; return the header. Raises ``SnapshotError``."""
    data = memoryview(data)
    if len(data) < _PREFIX + _TRAILER or data[: len(MAGIC)] != MAGIC:
        raise SnapshotError("not a jupyter-sandbox snapshot (bad magic or truncated file)")
    (head_len,) = struct.unpack_from("<I", data, len(MAGIC))
    header: dict[str, Any] | None = None
    if head_len <= min(MAX_HEADER_BYTES, len(data) - _PREFIX):
        try:
            header = peek_header(bytes(data[: _PREFIX + head_len]))
        except SnapshotError:
            header = None
    if header is not None and header.get("format") != FORMAT_VERSION:
        older = isinstance(header.get("format"), int) and header["format"] < FORMAT_VERSION
        raise SnapshotError(
            f"snapshot format {header.get('format')!r} is not supported by this jupyter-sandbox "
            f"(format {FORMAT_VERSION})" + (": it was written by an older version, whose "
                                            "snapshots are not safe to restore; make the "
                                            "snapshot again" if older else ""))
    body, digest = data[:-_TRAILER], data[-_TRAILER:-snapshot_signing.SIGNATURE_BYTES]
    if hashlib.sha256(body).digest() != digest:
        raise SnapshotError("the snapshot is damaged (checksum mismatch): the file was truncated "
                            "or changed after it was written")
    if header is None or _PREFIX + head_len > len(body):
        raise SnapshotError("the snapshot header is unreadable")
    if key is not None and not snapshot_signing.verify(
            key, body, data[-snapshot_signing.SIGNATURE_BYTES:]):
        raise SnapshotNotTrustedError()
    if header.get("artifact") != guest_artifacts().identity:
        raise SnapshotError("the snapshot was made with a different guest interpreter build; it "
                            "can only be restored by the jupyter-sandbox install that made it")
    return header


def decode(data: bytes | memoryview, key: bytes, bounds: Bounds) -> SnapshotImage:
    """Verify, check against ``bounds`` and decompress the memory of a snapshot (the layers
    stay compressed until ``snapshot_layers.stage``); raises ``SnapshotError``."""
    header = read_header(data, key)
    packed, layers = _layout(data, header, bounds)
    return packed.image(header, layers)


def resign(data: bytes, key: bytes, bounds: Bounds) -> bytes:
    """``snapshot import``: check every part of a snapshot signed elsewhere (header, sizes,
    every frame decompressed with a bound, the layers parsed) and sign it with ``key``."""
    from . import snapshot_layers

    header = read_header(data, None)
    packed, layers = _layout(data, header, bounds)
    for frame, size in packed.chunks:
        _check_frame(frame, size)
    if layers is not None:
        snapshot_layers.check(layers.frame, set(layers.points), bounds.layers, layers.raw_bytes)
    body = bytes(memoryview(data)[:-_TRAILER])
    return _seal(body, key)


def _layout(data: bytes | memoryview, header: dict[str, Any],
            bounds: Bounds) -> tuple[Packed, LayersPart | None]:
    """Every field of ``header`` checked (types, sizes against ``bounds``) and the payload
    cut into its frames."""
    try:
        _check_fields(header, bounds)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        if isinstance(exc, SnapshotError):
            raise
        raise SnapshotError(f"the snapshot header is malformed ({exc!r})") from exc
    (head_len,) = struct.unpack_from("<I", data, len(MAGIC))
    payload = memoryview(data)[_PREFIX + head_len : -_TRAILER]
    chunks = header["chunks"]
    layer_info = header["layers"]
    sizes = [c for c, _ in chunks] + ([layer_info["compressed"]] if layer_info else [])
    if sum(sizes) != len(payload):
        raise SnapshotError("the snapshot payload has the wrong size")
    frames, offset = [], 0
    for size in sizes:
        frames.append(payload[offset : offset + size])
        offset += size
    packed = Packed(list(header["pages"]), header["memory_bytes"],
                    [(frame, raw) for frame, (_, raw) in zip(frames, chunks, strict=False)])
    layers = None
    if layer_info:
        layers = LayersPart(frames[-1], layer_info["raw_bytes"], tuple(layer_info["points"]))
    return packed, layers


def _int(value: Any, what: str, low: int = 0, high: int = 1 << 62) -> int:
    if type(value) is not int or not low <= value <= high:
        raise SnapshotError(f"the snapshot header is malformed ({what} = {value!r})")
    return value


def _check_fields(header: dict[str, Any], bounds: Bounds) -> None:
    memory = _int(header["memory_bytes"], "memory_bytes", PAGE, MAX_MEMORY_BYTES)
    if memory % PAGE:
        raise SnapshotError("the snapshot header is malformed (memory size)")
    if memory > bounds.memory_bytes:
        raise SnapshotTooLargeError(f"the snapshot holds {memory >> 20} MiB of memory, more "
                                    f"than this sandbox's limit of {bounds.memory_bytes >> 20} MiB")
    pages = header["pages"]
    if not isinstance(pages, list):
        raise SnapshotError("the snapshot header is malformed (pages)")
    previous = -1
    for index in pages:
        _int(index, "page", previous + 1, memory // PAGE - 1)
        previous = index
    chunks = header["chunks"]
    if not isinstance(chunks, list):
        raise SnapshotError("the snapshot header is malformed (chunks)")
    for chunk in chunks:
        if not isinstance(chunk, list) or len(chunk) != 2:
            raise SnapshotError("the snapshot header is malformed (chunk)")
        _int(chunk[0], "chunk size", 1)
        if _int(chunk[1], "chunk pages", PAGE, memory) % PAGE:
            raise SnapshotError("the snapshot header is malformed (chunk pages)")
    if sum(raw for _, raw in chunks) != len(pages) * PAGE:
        raise SnapshotError("the snapshot payload does not match its header")
    layers = header["layers"]
    if layers is not None:
        limits = bounds.layers
        if _int(layers["file_bytes"], "file bytes") > limits.max_bytes:
            raise SnapshotTooLargeError(
                f"the snapshot holds {layers['file_bytes'] >> 20} MiB of files, more than this "
                f"sandbox's quota of {limits.max_bytes >> 20} MiB")
        if _int(layers["entries"], "entries") > limits.max_entries:
            raise SnapshotTooLargeError(
                f"the snapshot holds {layers['entries']} files and folders, more than this "
                f"sandbox's limit of {limits.max_entries}")
        if _int(layers["raw_bytes"], "layer bytes") > limits.max_stream_bytes():
            raise SnapshotTooLargeError("the snapshot's files are larger than this sandbox's "
                                        "quota")
        _int(layers["compressed"], "layer size", 1)
        points = layers["points"]
        if not isinstance(points, list) or not all(isinstance(p, str) for p in points):
            raise SnapshotError("the snapshot header is malformed (layer points)")
    _int(header.get("execution_count", 0), "execution_count")
    _int(header.get("monotonic_ns", 0), "monotonic_ns")
    for entry in header.get("fds", []):
        if not isinstance(entry, dict) or entry.get("kind") not in ("file", "dir"):
            raise SnapshotError("the snapshot header is malformed (fd table)")
        _int(entry["fd"], "fd", 3, _MAX_FD)
        if not isinstance(entry["path"], str) or not entry["path"].startswith("/") or \
                len(entry["path"]) > 4096:
            raise SnapshotError("the snapshot header is malformed (fd path)")
        if entry["kind"] == "file":
            _int(entry["position"], "fd position")
            if type(entry["writable"]) is not bool or type(entry["append"]) is not bool:
                raise SnapshotError("the snapshot header is malformed (fd flags)")
    whiteouts = header.get("whiteouts", {})
    if not isinstance(whiteouts, dict) or not all(
            isinstance(v, list) and all(isinstance(p, str) and len(p) <= 4096 for p in v)
            for v in whiteouts.values()):
        raise SnapshotError("the snapshot header is malformed (whiteouts)")


def write_memory(memory: wasmtime.Memory, store: wasmtime.Store, image: SnapshotImage) -> None:
    """Grow a fresh instance's memory to the image's size and write the changed pages."""
    current = memory.data_len(store)
    if image.memory_bytes > current:
        if not memory.grow(store, (image.memory_bytes - current) // PAGE) >= 0:
            raise SnapshotError("the snapshot needs more memory than this sandbox's limit")
    target = memory_view(memory, store)
    size = len(target)
    for index, page in image.pages.items():
        if (index + 1) * PAGE > size:
            raise SnapshotError("the snapshot writes past its memory size")
        target[index * PAGE : (index + 1) * PAGE] = page


def read_file(path: Path, bounds: Bounds) -> bytes:
    """A snapshot file's bytes, refusing one larger than any snapshot ``bounds`` allow before
    reading it (raises ``SnapshotError``; ``FileNotFoundError`` when there is none)."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size > bounds.max_file_bytes():
            raise SnapshotTooLargeError(f"the snapshot file {path} ({size >> 20} MiB) is larger "
                                        "than any snapshot this sandbox's limits allow")
        return f.read()
