"""Whole-sandbox snapshots: the file format, memory capture and the baseline it is diffed against.

Between turns the wasm stack is empty, so linear memory plus a little host state is the whole
sandbox (DESIGN.md, "Snapshots"). A snapshot file is::

    MAGIC (8 bytes) | header length (u32 LE) | header (JSON) | payload | SHA-256 of all before

The header names the format version and the guest artifact; the payload is one zstd frame
holding the 64 KiB memory pages that differ from a freshly instantiated guest, followed by a tar
of the sandbox's writable filesystem layers. A file from another artifact or format, a
truncated file or a flipped byte is refused with ``SnapshotError`` before anything is touched.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import hashlib
import io
import json
import os
import struct
import tarfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import wasmtime
import zstandard

from . import module_cache
from .artifacts import guest_artifacts
from .errors import SandboxError

MAGIC = b"JSBSNAP\x00"
FORMAT_VERSION = 2
PAGE = 64 * 1024
_DIGEST = 32
_ZSTD_LEVEL = 3
#: Smallest piece compressed on its own (4 MiB): smaller ones cost more than they save.
_MIN_CHUNK_PAGES = 64


class SnapshotError(SandboxError, ValueError):
    """A snapshot cannot be used; the message says why. Nothing was changed."""


@dataclass
class SnapshotImage:
    """A decoded snapshot: what a restore needs."""

    header: dict[str, Any]
    #: page index -> 64 KiB page, for pages that differ from a fresh guest.
    pages: dict[int, bytes | memoryview]
    memory_bytes: int
    #: tar of the writable layers (may be empty when the snapshot carries no files).
    layers: bytes = b""
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
            assert isinstance(memory, wasmtime.Memory)  # noqa: S101
            size = memory.data_len(store)
            address = ctypes.addressof(memory.data_ptr(store).contents)
            view = memoryview((ctypes.c_ubyte * size).from_address(address)).cast("B")
            _baseline = (store, view.toreadonly())
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


# -- files -------------------------------------------------------------------------------------
def tar_folders(folders: dict[str, Path]) -> bytes:
    """A tar of each folder under its name (regular files and folders only)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, folder in folders.items():
            archive.add(folder, arcname=name, recursive=True)
    return buffer.getvalue()


def untar_folders(data: bytes, folders: dict[str, Path]) -> None:
    """Replace each folder's contents with its part of the tar made by ``tar_folders``."""
    import shutil

    for folder in folders.values():
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
    if not data:
        return
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as archive:
        for name, folder in folders.items():
            members = [m for m in archive.getmembers()
                       if m.name == name or m.name.startswith(name + "/")]
            for member in members:
                member.name = member.name[len(name):].lstrip("/") or "."
            archive.extractall(folder, members=[m for m in members if m.name != "."],
                               filter="data")


# -- encoding ----------------------------------------------------------------------------------
def _parallel(func: Any, items: list[Any]) -> list[Any]:
    """zstandard releases the GIL: compress or decompress the pieces on all cores."""
    if len(items) <= 2:
        return [func(item) for item in items]
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(len(items), 8)) as pool:
        return list(pool.map(func, items))


@dataclass
class Packed:
    """Changed pages (and the layers tar, last) as compressed pieces: what a snapshot file
    carries, and what a recovery point keeps in memory."""

    order: list[int]
    memory_bytes: int
    #: (compressed bytes, uncompressed size) per piece; the last piece is the layers tar.
    chunks: list[tuple[bytes, int]]

    def image(self, header: dict[str, Any]) -> SnapshotImage:
        """Decompress into an image a restore can write (raises ``SnapshotError``)."""
        try:
            pieces = _parallel(lambda chunk: zstandard.ZstdDecompressor().decompress(
                chunk[0], max_output_size=chunk[1]), self.chunks)
        except zstandard.ZstdError as exc:
            raise SnapshotError(f"the snapshot payload cannot be decompressed: {exc}") from exc
        if [len(p) for p in pieces] != [raw for _, raw in self.chunks] or \
                sum(len(p) for p in pieces[:-1]) != len(self.order) * PAGE:
            raise SnapshotError("the snapshot payload does not match its header")
        pages: dict[int, bytes | memoryview] = {}
        position = 0
        for piece in pieces[:-1]:
            view = memoryview(piece)
            for offset in range(0, len(view), PAGE):
                pages[self.order[position]] = view[offset : offset + PAGE]
                position += 1
        return SnapshotImage(header, pages, self.memory_bytes, bytes(pieces[-1]))


def pack(memory: bytes | memoryview, layers: bytes = b"") -> Packed:
    """Compress the changed pages straight out of ``memory`` (no copy of the pages: run it
    while the guest is stopped), in about one piece per core so restores decompress in
    parallel; zstd's own threads do the compressing."""
    view = memoryview(memory)
    order = changed_indices(view)
    per_piece = max(_MIN_CHUNK_PAGES, -(-len(order) // max(1, min(os.cpu_count() or 1, 8))))
    chunks: list[tuple[bytes, int]] = []
    for first in range(0, len(order), per_piece):
        compressor = zstandard.ZstdCompressor(level=_ZSTD_LEVEL, threads=-1).compressobj()
        parts = [compressor.compress(view[i * PAGE : (i + 1) * PAGE])
                 for i in order[first : first + per_piece]]
        parts.append(compressor.flush())
        chunks.append((b"".join(parts), len(order[first : first + per_piece]) * PAGE))
    chunks.append((zstandard.ZstdCompressor(level=_ZSTD_LEVEL).compress(layers), len(layers)))
    return Packed(order, len(view), chunks)


def encode(header: dict[str, Any], memory: bytes | memoryview, layers: bytes) -> bytes:
    """Serialize a snapshot. ``header`` is completed with format, artifact and layout."""
    packed = pack(memory, layers)
    full = {
        **header,
        "format": FORMAT_VERSION,
        "artifact": guest_artifacts().identity,
        "created": time.time(),
        "memory_bytes": packed.memory_bytes,
        "pages": packed.order,
        "layers_bytes": len(layers),
        "chunks": [[len(c), raw] for c, raw in packed.chunks],
    }
    head = json.dumps(full, separators=(",", ":")).encode()
    body = b"".join([MAGIC, struct.pack("<I", len(head)), head, *(c for c, _ in packed.chunks)])
    return body + hashlib.sha256(body).digest()


def read_header(data: bytes) -> dict[str, Any]:
    """Check integrity and compatibility; return the header. Raises ``SnapshotError``."""
    if len(data) < len(MAGIC) + 4 + _DIGEST or not data.startswith(MAGIC):
        raise SnapshotError("not a jupyter-sandbox snapshot (bad magic or truncated file)")
    body, digest = data[:-_DIGEST], data[-_DIGEST:]
    if hashlib.sha256(body).digest() != digest:
        raise SnapshotError("the snapshot is damaged (checksum mismatch): the file was truncated "
                            "or changed after it was written")
    (head_len,) = struct.unpack_from("<I", data, len(MAGIC))
    try:
        header = json.loads(data[len(MAGIC) + 4 : len(MAGIC) + 4 + head_len])
    except ValueError as exc:
        raise SnapshotError(f"the snapshot header is unreadable: {exc}") from exc
    if header.get("format") != FORMAT_VERSION:
        raise SnapshotError(f"snapshot format {header.get('format')!r} is not supported by this "
                            f"jupyter-sandbox (format {FORMAT_VERSION})")
    if header.get("artifact") != guest_artifacts().identity:
        raise SnapshotError("the snapshot was made with a different guest interpreter build; it "
                            "can only be restored by the jupyter-sandbox install that made it")
    return header


def peek_header(head: bytes) -> dict[str, Any]:
    """The header from the first bytes of a file, without checking the whole file (listings)."""
    if not head.startswith(MAGIC) or len(head) < len(MAGIC) + 4:
        raise SnapshotError("not a jupyter-sandbox snapshot")
    (head_len,) = struct.unpack_from("<I", head, len(MAGIC))
    try:
        return dict(json.loads(head[len(MAGIC) + 4 : len(MAGIC) + 4 + head_len]))
    except ValueError as exc:
        raise SnapshotError(f"the snapshot header is unreadable: {exc}") from exc


def decode(data: bytes) -> SnapshotImage:
    """Verify and unpack a snapshot; raises ``SnapshotError`` for anything unusable."""
    header = read_header(data)
    try:
        return _unpack(data, header)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        if isinstance(exc, SnapshotError):
            raise
        raise SnapshotError(f"the snapshot header is malformed ({exc!r})") from exc


def _unpack(data: bytes, header: dict[str, Any]) -> SnapshotImage:
    (head_len,) = struct.unpack_from("<I", data, len(MAGIC))
    payload = memoryview(data)[len(MAGIC) + 4 + head_len : -_DIGEST]
    chunks = header["chunks"]
    if sum(c for c, _ in chunks) != len(payload):
        raise SnapshotError("the snapshot payload has the wrong size")
    offsets = [sum(c for c, _ in chunks[:i]) for i in range(len(chunks))]
    frames = [(payload[o : o + c], int(raw)) for o, (c, raw) in zip(offsets, chunks)]
    packed = Packed(list(header["pages"]), int(header["memory_bytes"]), frames)  # type: ignore[arg-type]
    return packed.image(header)


def write_memory(memory: wasmtime.Memory, store: wasmtime.Store, image: SnapshotImage) -> None:
    """Grow a fresh instance's memory to the image's size and write the changed pages."""
    current = memory.data_len(store)
    if image.memory_bytes > current:
        if not memory.grow(store, (image.memory_bytes - current) // PAGE) >= 0:
            raise SnapshotError("the snapshot needs more memory than this sandbox's limit")
    size = memory.data_len(store)
    address = ctypes.addressof(memory.data_ptr(store).contents)
    target = memoryview((ctypes.c_ubyte * size).from_address(address)).cast("B")
    for index, page in image.pages.items():
        target[index * PAGE : (index + 1) * PAGE] = page


def atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
