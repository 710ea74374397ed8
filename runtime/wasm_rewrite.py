"""Binary rewriting of the guest module: export a function the build left unexported.

The interrupt that keeps state calls CPython's ``PyErr_SetInterruptEx`` from the host. The
function is in ``python.wasm`` but not exported, so before compiling we add one entry to the
export section, finding the function's index by name in the ``name`` custom section (never a
hard-coded index: a rebuilt artifact moves it). This is the only module that edits wasm bytes;
``tests/runtime/test_wasm_rewrite.py`` fails loudly when a new artifact breaks the assumptions.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import WasmRewriteError

__all__ = ["WasmRewriteError", "add_function_export", "exported_names", "function_index"]

WASM_MAGIC = b"\x00asm\x01\x00\x00\x00"
_CUSTOM_SECTION = 0
_EXPORT_SECTION = 7
_FUNC_EXTERN_KIND = 0
_NAME_SUBSECTION_FUNCTIONS = 1


def _read_uleb(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    """Decode an unsigned LEB128 at ``pos``; return (value, position after it)."""
    result = shift = 0
    while True:
        if pos >= len(data):
            raise WasmRewriteError("truncated module: a number runs past the end of the file")
        if shift > 63:
            raise WasmRewriteError(f"malformed module: over-long number at offset {pos}")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _uleb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_name(data: bytes | memoryview, pos: int) -> tuple[str, int]:
    length, pos = _read_uleb(data, pos)
    if pos + length > len(data):
        raise WasmRewriteError("truncated module: a name runs past the end of the file")
    return bytes(data[pos : pos + length]).decode("utf-8", "replace"), pos + length


@dataclass(frozen=True)
class _Section:
    kind: int
    start: int  # offset of the section id byte
    body_start: int
    body_end: int


def _sections(data: memoryview) -> list[_Section]:
    if bytes(data[:8]) != WASM_MAGIC:
        raise WasmRewriteError("not a WebAssembly 1.0 module (bad magic header)")
    sections = []
    pos = 8
    while pos < len(data):
        start = pos
        kind = data[pos]
        size, body_start = _read_uleb(data, pos + 1)
        body_end = body_start + size
        if body_end > len(data):
            raise WasmRewriteError("truncated module: a section runs past the end of the file")
        sections.append(_Section(kind, start, body_start, body_end))
        pos = body_end
    return sections


def function_index(data: bytes, name: str) -> int:
    """The index of the function called ``name`` in the module's ``name`` custom section."""
    view = memoryview(data)
    for section in _sections(view):
        if section.kind != _CUSTOM_SECTION:
            continue
        section_name, pos = _read_name(view, section.body_start)
        if section_name != "name":
            continue
        while pos < section.body_end:
            sub_id = view[pos]
            sub_size, sub_start = _read_uleb(view, pos + 1)
            pos = sub_start + sub_size
            if sub_id != _NAME_SUBSECTION_FUNCTIONS:
                continue
            count, p = _read_uleb(view, sub_start)
            for _ in range(count):
                index, p = _read_uleb(view, p)
                func_name, p = _read_name(view, p)
                if func_name == name:
                    return index
        raise WasmRewriteError(f"the module's name section has no function named {name!r}")
    raise WasmRewriteError(
        "the module has no 'name' custom section, so functions cannot be found by name"
    )


def exported_names(data: bytes) -> list[str]:
    """Every export's name, in order."""
    view = memoryview(data)
    for section in _sections(view):
        if section.kind == _EXPORT_SECTION:
            count, pos = _read_uleb(view, section.body_start)
            names = []
            for _ in range(count):
                export_name, pos = _read_name(view, pos)
                pos += 1  # kind
                _, pos = _read_uleb(view, pos)
                names.append(export_name)
            return names
    return []


def add_function_export(data: bytes, function_name: str, export_name: str) -> bytes:
    """Return a copy of ``data`` whose export section also exports ``function_name``.

    Idempotent: a module that already exports ``export_name`` is returned unchanged.
    """
    if export_name in exported_names(data):
        return data
    index = function_index(data, function_name)
    view = memoryview(data)
    export = next((s for s in _sections(view) if s.kind == _EXPORT_SECTION), None)
    if export is None:
        raise WasmRewriteError("the module has no export section to extend")
    count, entries_start = _read_uleb(view, export.body_start)
    encoded = export_name.encode()
    body = (
        _uleb(count + 1)
        + bytes(view[entries_start : export.body_end])
        + _uleb(len(encoded))
        + encoded
        + bytes([_FUNC_EXTERN_KIND])
        + _uleb(index)
    )
    return b"".join(
        (
            bytes(view[: export.start]),
            bytes([_EXPORT_SECTION]),
            _uleb(len(body)),
            body,
            bytes(view[export.body_end :]),
        )
    )
