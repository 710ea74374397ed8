"""The sandbox's writable layers (``/workspace``, ``/tmp``, the ``%pip`` user site) inside a
snapshot: a format of our own, written and read by this module only.

A snapshot file is untrusted input (it can be shared or replaced), and ``tarfile`` has had
escapes that bypass even ``filter="data"`` (CVE-2025-4517 class), so layers are not a tar. The
stream is::

    LAYERS_MAGIC, then entries, each: kind (u8) | mode (u16) | name length (u16) |
    size (u64) | mtime (i64 ns) | name | size bytes of content (files only)

Kinds: ``L`` starts a layer (name: its guest mount point), ``d`` a folder, ``f`` a regular
file, ``E`` ends the stream. Nothing else exists: no links, no devices, no special files. Names
are relative, checked component by component (no ``''``, ``.``, ``..``, NUL or over-long
names), a folder comes before what it holds, modes are 0700 (folders) or 0600/0700 (files).

Unpacking checks every size against the limits *before* writing it, and writes only into a
fresh staging folder: each file is created with ``O_CREAT | O_EXCL | O_NOFOLLOW`` relative to a
folder fd opened with ``O_NOFOLLOW``, so nothing on disk can redirect a write. The staged
layers replace the live ones (renames) only when the caller says so; packing never follows a
symlink found on disk (it skips anything that is not a regular file or a folder).
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import stat
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import zstandard

from .errors import SnapshotError

log = logging.getLogger("jupyter_sandbox.snapshots")

LAYERS_MAGIC = b"JSBLAYR\x01"
_ENTRY = struct.Struct("<BHHQq")
KIND_LAYER, KIND_DIR, KIND_FILE, KIND_END = b"L"[0], b"d"[0], b"f"[0], b"E"[0]
DIR_MODE = 0o700
FILE_MODES = (0o600, 0o700)
MAX_NAME = 255
MAX_PATH = 4096
#: Bytes of stream per entry on top of its content, at most (header and name).
ENTRY_OVERHEAD = _ENTRY.size + MAX_PATH
_COPY_PIECE = 1 << 20
_ZSTD_LEVEL = 3
_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class LayerLimits:
    """What one restore may write: the sandbox's workspace quota."""

    max_bytes: int
    max_entries: int

    def max_stream_bytes(self) -> int:
        """The largest uncompressed stream these limits allow (content plus entry headers)."""
        return (len(LAYERS_MAGIC) + self.max_bytes + (self.max_entries + 64) * ENTRY_OVERHEAD)


@dataclass(frozen=True)
class PackedLayers:
    """The compressed stream and what it declares (checked again when it is read)."""

    frame: bytes
    raw_bytes: int
    file_bytes: int
    entries: int
    points: tuple[str, ...]

    def describe(self) -> dict[str, object]:
        return {"raw_bytes": self.raw_bytes, "file_bytes": self.file_bytes,
                "entries": self.entries, "points": list(self.points)}


@dataclass
class LayerStats:
    file_bytes: int = 0
    entries: int = 0
    layers: list[str] = field(default_factory=list)


# -- packing -----------------------------------------------------------------------------------
def _entry(kind: int, name: bytes, mode: int = 0, size: int = 0, mtime_ns: int = 0) -> bytes:
    return _ENTRY.pack(kind, mode, len(name), size, mtime_ns) + name


def _show(name: bytes) -> str:
    """A name for an error message (shortened: it comes from the file)."""
    return repr(name[:80] + (b"..." if len(name) > 80 else b""))


def _valid_component(name: bytes) -> bool:
    return (0 < len(name) <= MAX_NAME and name not in (b".", b"..")
            and b"/" not in name and b"\x00" not in name)


def pack(folders: dict[str, Path]) -> PackedLayers:
    """Compress the layers ``{mount point: host folder}``: folders and regular files only.

    Walks with folder fds and never follows a symlink (links, devices, sockets and names that
    could not be unpacked are skipped with a log line), so a link planted on disk is neither
    followed nor carried into the snapshot.
    """
    compressor = zstandard.ZstdCompressor(level=_ZSTD_LEVEL).compressobj()
    parts: list[bytes] = []
    raw = 0
    stats = LayerStats()

    def emit(piece: bytes) -> None:
        nonlocal raw
        raw += len(piece)
        out = compressor.compress(piece)
        if out:
            parts.append(out)

    emit(LAYERS_MAGIC)
    for point, folder in folders.items():
        emit(_entry(KIND_LAYER, point.encode()))
        if folder.is_dir():
            _pack_folder(os.fsencode(folder), emit, stats)
    emit(_entry(KIND_END, b""))
    parts.append(compressor.flush())
    return PackedLayers(b"".join(parts), raw, stats.file_bytes, stats.entries, tuple(folders))


def _pack_folder(top: bytes, emit: Callable[[bytes], None], stats: LayerStats) -> None:
    for dirpath, dirnames, filenames, dirfd in os.fwalk(top, follow_symlinks=False):
        rel = os.path.relpath(dirpath, top)
        prefix = b"" if rel == b"." else rel + b"/"
        dirnames.sort()
        if prefix:
            if len(prefix) > MAX_PATH or not all(map(_valid_component, rel.split(b"/"))):
                log.warning("snapshot: skipped folder %r (name cannot be stored)", rel)
                dirnames.clear()
                continue
            info = os.stat(dirfd)
            emit(_entry(KIND_DIR, rel, DIR_MODE, 0, info.st_mtime_ns))
            stats.entries += 1
        folders = set(dirnames)
        for name in sorted(folders.union(filenames)):
            if name in folders:
                # fwalk lists a symlink to a folder among dirnames without entering it
                if stat.S_ISLNK(os.stat(name, dir_fd=dirfd, follow_symlinks=False).st_mode):
                    log.warning("snapshot: skipped symlink %r", prefix + name)
                continue
            _pack_file(dirfd, prefix, name, emit, stats)


def _pack_file(dirfd: int, prefix: bytes, name: bytes, emit: Callable[[bytes], None],
               stats: LayerStats) -> None:
    path = prefix + name
    if not _valid_component(name) or len(path) > MAX_PATH:
        log.warning("snapshot: skipped %r (name cannot be stored)", path)
        return
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
                     dir_fd=dirfd)
    except OSError as exc:  # a symlink (ELOOP), or gone meanwhile
        log.warning("snapshot: skipped %r (%s)", path, exc.strerror)
        return
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            log.warning("snapshot: skipped %r (not a regular file)", path)
            return
        mode = 0o700 if info.st_mode & 0o100 else 0o600
        with os.fdopen(os.dup(fd), "rb") as source:
            data = source.read()
    finally:
        os.close(fd)
    emit(_entry(KIND_FILE, path, mode, len(data), info.st_mtime_ns))
    emit(data)
    stats.entries += 1
    stats.file_bytes += len(data)


# -- reading -----------------------------------------------------------------------------------
class _Reader:
    """Exact reads from a bounded zstd stream; running out early is a damaged snapshot."""

    def __init__(self, frame: bytes | memoryview, max_bytes: int) -> None:
        try:
            params = zstandard.get_frame_parameters(bytes(frame[:18]))
        except zstandard.ZstdError as exc:
            raise SnapshotError(f"the snapshot's files cannot be decompressed: {exc}") from exc
        if params.content_size not in (zstandard.CONTENTSIZE_UNKNOWN,) and \
                params.content_size > max_bytes:
            raise SnapshotError("the snapshot's files are larger than this sandbox's quota")
        self._stream: BinaryIO = zstandard.ZstdDecompressor().stream_reader(frame)
        self.remaining = max_bytes

    def read(self, size: int) -> bytes:
        if size > self.remaining:
            raise SnapshotError("the snapshot's files are cut short or larger than they declare")
        chunks = []
        wanted = size
        try:
            while wanted:
                piece = self._stream.read(wanted)
                if not piece:
                    raise SnapshotError("the snapshot's files are truncated")
                chunks.append(piece)
                wanted -= len(piece)
        except zstandard.ZstdError as exc:
            raise SnapshotError(f"the snapshot's files cannot be decompressed: {exc}") from exc
        self.remaining -= size
        return b"".join(chunks)

    def finish(self) -> None:
        """The stream must end exactly where its header said."""
        try:
            trailing = self._stream.read(1)
        except zstandard.ZstdError as exc:
            raise SnapshotError(f"the snapshot's files cannot be decompressed: {exc}") from exc
        if trailing or self.remaining:
            raise SnapshotError("the snapshot's files do not match the size they declare")


@dataclass(frozen=True)
class Entry:
    kind: int
    layer: str
    parts: tuple[bytes, ...]
    mode: int
    size: int
    mtime_ns: int


def _entries(reader: _Reader, layer_names: set[str], limits: LayerLimits,
             stats: LayerStats) -> Iterator[Entry]:
    """Every entry, checked (names, kinds, modes, order, sizes against ``limits``) before it
    is yielded; a file's content is read by the caller right after."""
    if reader.read(len(LAYERS_MAGIC)) != LAYERS_MAGIC:
        raise SnapshotError("the snapshot's files are not in this version's layer format")
    layer: str | None = None
    folders: set[tuple[bytes, ...]] = set()
    names: set[tuple[bytes, ...]] = set()
    while True:
        kind, mode, name_len, size, mtime_ns = _ENTRY.unpack(reader.read(_ENTRY.size))
        if name_len > MAX_PATH:
            raise SnapshotError("the snapshot's files hold an over-long name")
        name = reader.read(name_len)
        if kind == KIND_END:
            if name or size or mode:
                raise SnapshotError("the snapshot's file list has a malformed end")
            return
        if kind == KIND_LAYER:
            point = name.decode("utf-8", "replace")
            if point not in layer_names or point in stats.layers or size or mode:
                raise SnapshotError(f"the snapshot's files name an unknown or repeated layer "
                                    f"{point!r}")
            layer, folders, names = point, {()}, set()
            stats.layers.append(point)
            continue
        if layer is None:
            raise SnapshotError("the snapshot's files start without a layer")
        if kind not in (KIND_DIR, KIND_FILE):
            raise SnapshotError(f"the snapshot's files hold an entry of kind {bytes([kind])!r}: "
                                "only files and folders are allowed (no links, no devices)")
        parts = tuple(name.split(b"/"))
        if not all(map(_valid_component, parts)):
            raise SnapshotError(f"the snapshot's files hold an unsafe name {_show(name)}")
        if parts[:-1] not in folders:
            raise SnapshotError(f"the snapshot's files hold {_show(name)} before its folder")
        if parts in names:
            raise SnapshotError(f"the snapshot's files hold {_show(name)} twice")
        if kind == KIND_DIR and (mode != DIR_MODE or size):
            raise SnapshotError(f"the snapshot's folder {_show(name)} has a bad mode or size")
        if kind == KIND_FILE and mode not in FILE_MODES:
            raise SnapshotError(f"the snapshot's file {_show(name)} has mode {mode:o}: only 600 "
                                "and 700 are allowed")
        stats.entries += 1
        stats.file_bytes += size
        if stats.entries > limits.max_entries:
            raise SnapshotError(f"the snapshot holds more than this sandbox's limit of "
                                f"{limits.max_entries} files and folders")
        if stats.file_bytes > limits.max_bytes:
            raise SnapshotError(f"the snapshot's files are larger than this sandbox's quota of "
                                f"{limits.max_bytes >> 20} MiB")
        names.add(parts)
        if kind == KIND_DIR:
            folders.add(parts)
        yield Entry(kind, layer, parts, mode, size, mtime_ns)


def check(frame: bytes | memoryview, layer_names: set[str], limits: LayerLimits,
          raw_bytes: int) -> LayerStats:
    """Read the whole stream (``raw_bytes`` long, as declared) without writing anything."""
    reader = _Reader(frame, min(raw_bytes, limits.max_stream_bytes()))
    stats = LayerStats()
    for entry in _entries(reader, layer_names, limits, stats):
        remaining = entry.size
        while remaining:
            remaining -= len(reader.read(min(remaining, _COPY_PIECE)))
    reader.finish()
    return stats


# -- staging and swapping ----------------------------------------------------------------------
class StagedLayers:
    """Layers unpacked into a fresh folder beside the live ones, not yet in use.

    ``swap_in`` moves each live layer's entries aside and the staged ones in (renames inside
    one filesystem; the live layer folders themselves stay, so anything holding them keeps
    working); ``roll_back`` undoes it; ``discard`` removes whatever is left.
    """

    def __init__(self, root: Path, points: list[str]) -> None:
        self.root = root
        self.points = points
        self.stats = LayerStats()
        self._moves: list[tuple[int, bytes, int, bytes]] = []
        self._fds: list[int] = []

    def staged(self, index: int) -> Path:
        return self.root / f"new-{index}"

    def aside(self, index: int) -> Path:
        return self.root / f"old-{index}"

    def swap_in(self, live: dict[str, Path]) -> None:
        """Replace each live layer's contents with the staged ones; all or nothing."""
        try:
            for index, point in enumerate(self.points):
                target = os.open(live[point], _O_DIR)
                self._fds.append(target)
                new = os.open(self.staged(index), _O_DIR)
                self._fds.append(new)
                os.mkdir(self.aside(index), 0o700)
                old = os.open(self.aside(index), _O_DIR)
                self._fds.append(old)
                for name in sorted(os.listdir(target)):
                    self._move(target, name, old)
                for name in sorted(os.listdir(new)):
                    self._move(new, name, target)
        except OSError as exc:
            self.roll_back()
            raise SnapshotError(f"the snapshot's files could not be put in place ({exc}); "
                                "the sandbox's files are unchanged") from exc

    def _move(self, src_fd: int, name: bytes | str, dst_fd: int) -> None:
        raw = os.fsencode(name)
        os.rename(raw, raw, src_dir_fd=src_fd, dst_dir_fd=dst_fd)
        self._moves.append((src_fd, raw, dst_fd, raw))

    def roll_back(self) -> None:
        """Put every moved entry back where it was (in reverse order)."""
        while self._moves:
            src_fd, src, dst_fd, dst = self._moves.pop()
            try:
                os.rename(dst, src, src_dir_fd=dst_fd, dst_dir_fd=src_fd)
            except OSError:
                log.exception("snapshot restore: could not move %r back", src)

    def commit(self) -> None:
        """Keep the swap: the old entries go with ``discard``."""
        self._moves.clear()

    def discard(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds.clear()
        shutil.rmtree(self.root, ignore_errors=True)


def stage(frame: bytes | memoryview, raw_bytes: int, live: dict[str, Path], state_dir: Path,
          limits: LayerLimits) -> StagedLayers:
    """Unpack ``frame`` into a new staging folder in ``state_dir`` (raises ``SnapshotError``
    and leaves nothing behind when the stream is bad or over ``limits``)."""
    root = state_dir / f".restore-{secrets.token_hex(6)}"
    try:
        os.mkdir(root, 0o700)
    except OSError as exc:
        raise SnapshotError(f"the snapshot's files cannot be staged in {state_dir}: "
                            f"{exc.strerror}") from exc
    staged = StagedLayers(root, list(live))
    try:
        roots: list[int] = []
        try:
            for index in range(len(staged.points)):
                os.mkdir(staged.staged(index), 0o700)
                roots.append(os.open(staged.staged(index), _O_DIR))
            targets = dict(zip(staged.points, roots, strict=True))
            _unpack(frame, raw_bytes, targets, limits, staged.stats)
        finally:
            for fd in roots:
                os.close(fd)
    except OSError as exc:
        staged.discard()
        raise SnapshotError(f"the snapshot's files cannot be unpacked: {exc}") from exc
    except BaseException:
        staged.discard()
        raise
    return staged


def _unpack(frame: bytes | memoryview, raw_bytes: int, roots: dict[str, int],
            limits: LayerLimits, stats: LayerStats) -> None:
    reader = _Reader(frame, min(raw_bytes, limits.max_stream_bytes()))
    for entry in _entries(reader, set(roots), limits, stats):
        parent = _open_parent(roots[entry.layer], entry.parts[:-1])
        try:
            if entry.kind == KIND_DIR:
                os.mkdir(entry.parts[-1], DIR_MODE, dir_fd=parent)
            else:
                _write_file(reader, parent, entry)
        except FileExistsError as exc:
            raise SnapshotError(f"the snapshot's files hold {_show(b'/'.join(entry.parts))} "
                                "twice") from exc
        except OSError as exc:
            raise SnapshotError(f"the snapshot's file {_show(b'/'.join(entry.parts))} could "
                                f"not be written: {exc.strerror}") from exc
        finally:
            if parent != roots[entry.layer]:
                os.close(parent)
    reader.finish()


def _open_parent(root: int, parts: tuple[bytes, ...]) -> int:
    """The folder ``parts`` below ``root``, opened one component at a time without following
    links (the staging folder is ours, but nothing is taken on trust)."""
    fd = root
    for part in parts:
        try:
            child = os.open(part, _O_DIR, dir_fd=fd)
        finally:
            if fd != root:
                os.close(fd)
        fd = child
    return fd


def _write_file(reader: _Reader, parent: int, entry: Entry) -> None:
    fd = os.open(entry.parts[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                 | os.O_CLOEXEC, entry.mode, dir_fd=parent)
    try:
        remaining = entry.size
        while remaining:
            piece = reader.read(min(remaining, _COPY_PIECE))
            view = memoryview(piece)
            while view:
                view = view[os.write(fd, view):]
            remaining -= len(piece)
        os.fchmod(fd, entry.mode)
        if entry.mtime_ns > 0:
            os.utime(fd, ns=(entry.mtime_ns, entry.mtime_ns))
    finally:
        os.close(fd)
