"""Crafting snapshot files for the attack tests: take a real snapshot apart, change one part
(the layer stream, a frame, the header), and seal it again with a chosen key, so each test
reaches exactly the check it is about."""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from typing import Any

import zstandard

from jupyter_sandbox.runtime import snapshot_signing
from jupyter_sandbox.runtime.snapshot_layers import LAYERS_MAGIC

ENTRY = struct.Struct("<BHHQq")
_PREFIX = 12
_TRAILER = 64


@dataclass
class Parts:
    header: dict[str, Any]
    page_frames: list[bytes]
    layers_frame: bytes | None


def split(data: bytes) -> Parts:
    (head_len,) = struct.unpack_from("<I", data, 8)
    header = json.loads(data[_PREFIX : _PREFIX + head_len])
    payload = data[_PREFIX + head_len : -_TRAILER]
    frames, offset = [], 0
    for size, _raw in header["chunks"]:
        frames.append(payload[offset : offset + size])
        offset += size
    layers = payload[offset:] if header["layers"] else None
    return Parts(header, frames, layers)


def seal(parts: Parts, key: bytes | None) -> bytes:
    """The file for ``parts``: a valid SHA-256, and an HMAC under ``key`` (None: no valid
    signature, as a file from elsewhere)."""
    frames = parts.page_frames + ([parts.layers_frame] if parts.layers_frame is not None else [])
    head = json.dumps(parts.header).encode()
    body = b"JSBSNAP\x00" + struct.pack("<I", len(head)) + head + b"".join(frames)
    signature = snapshot_signing.sign(key, body) if key is not None else bytes(32)
    return body + hashlib.sha256(body).digest() + signature


def entry(kind: bytes, name: bytes, mode: int = 0, content: bytes = b"", size: int | None = None,
          ) -> bytes:
    """One layer entry; ``size`` may lie about ``content``."""
    declared = len(content) if size is None else size
    return ENTRY.pack(kind[0], mode, len(name), declared, 0) + name + content


def stream(*entries: bytes, end: bool = True) -> bytes:
    return LAYERS_MAGIC + b"".join(entries) + (entry(b"E", b"") if end else b"")


def compress(raw: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=3).compress(raw)


def with_layers(data: bytes, key: bytes, raw: bytes | None = None, *, frame: bytes | None = None,
                declared: dict[str, int] | None = None) -> bytes:
    """``data`` with its layer stream replaced by ``raw`` (or an already compressed ``frame``),
    the header's layer sizes set to match it (or to ``declared``), signed with ``key``."""
    parts = split(data)
    parts.layers_frame = frame if frame is not None else compress(raw or b"")
    info = dict(parts.header["layers"])
    info.update(compressed=len(parts.layers_frame), raw_bytes=len(raw or b""),
                file_bytes=0, entries=0)
    info.update(declared or {})
    parts.header["layers"] = info
    return seal(parts, key)
